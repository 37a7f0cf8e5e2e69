// A server stream kept open: when it ends or fails it is opened again after a
// backoff, from the last cursor received (StreamActivity's `since`), so a
// reader sees every item once. Streams without a cursor (WatchMetrics) use
// the same loop and learn of each reopening through `open`.
import { Code, ConnectError } from "@connectrpc/connect";
import { useCallback, useEffect, useEffectEvent, useState } from "react";
import { retryDelaySeconds, toUiError, type UiError } from "./errors";

export interface Backoff {
  /** The wait before the first reopening after a stream that delivered items. */
  initialMs: number;
  maxMs: number;
  factor: number;
}

export const DEFAULT_BACKOFF: Backoff = { initialMs: 250, maxMs: 30_000, factor: 2 };

/** `open`: a stream is open (or opening); `retrying`: waiting to reopen; `stopped`: a fatal error. */
export type StreamStatus = "open" | "retrying" | "stopped";

/** Errors that reopening cannot fix: the request or the caller is wrong. */
export const FATAL_CODES: ReadonlySet<Code> = new Set([
  Code.InvalidArgument,
  Code.NotFound,
  Code.PermissionDenied,
  Code.Unauthenticated,
  Code.FailedPrecondition,
  Code.Unimplemented,
]);

export interface ResumeOptions<T> {
  /** Opens the stream; `cursor` is the last one received (or the initial one), `attempt` counts the openings from 0. */
  open: (cursor: string | undefined, signal: AbortSignal, attempt: number) => AsyncIterable<T>;
  onItem: (item: T) => void;
  /** The item's resume position; items without one leave the cursor as it was. */
  cursorOf?: (item: T) => string | undefined;
  /** Where to start. */
  cursor?: string | undefined;
  signal: AbortSignal;
  backoff?: Partial<Backoff>;
  isFatal?: (err: ConnectError) => boolean;
  onStatus?: (status: StreamStatus, err?: ConnectError) => void;
  /** For tests: how to wait (default: setTimeout, cut short by the signal). */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** For tests: jitter source in [0, 1). */
  random?: () => number;
}

export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

/** The wait before reopening after `failures` consecutive openings that delivered nothing. */
export function backoffDelay(failures: number, b: Backoff, random: () => number): number {
  const base = Math.min(b.maxMs, b.initialMs * b.factor ** failures);
  // Jitter in [base/2, base), so many tabs do not reconnect in step.
  return Math.round(base / 2 + (base / 2) * random());
}

/**
 * Keeps a stream open until `signal` aborts (resolves undefined) or a fatal
 * error (resolves that error). Each item advances the cursor before
 * `onItem` sees it; the backoff starts over once a stream delivers.
 */
export async function resumeStream<T>(o: ResumeOptions<T>): Promise<ConnectError | undefined> {
  const { signal } = o;
  const backoff = { ...DEFAULT_BACKOFF, ...o.backoff };
  const isFatal = o.isFatal ?? ((e: ConnectError) => FATAL_CODES.has(e.code));
  const wait = o.sleep ?? sleep;
  const random = o.random ?? Math.random;
  let cursor = o.cursor || undefined;
  let failures = 0;
  for (let attempt = 0; !signal.aborted; attempt++) {
    o.onStatus?.("open");
    let delivered = false;
    let err: ConnectError | undefined;
    try {
      for await (const item of o.open(cursor, signal, attempt)) {
        if (signal.aborted) return undefined;
        delivered = true;
        const c = o.cursorOf?.(item);
        if (c) cursor = c;
        o.onItem(item);
      }
    } catch (e) {
      if (signal.aborted) return undefined;
      err = ConnectError.from(e);
      if (isFatal(err)) {
        o.onStatus?.("stopped", err);
        return err;
      }
    }
    if (signal.aborted) return undefined;
    if (delivered) failures = 0;
    let ms = backoffDelay(failures, backoff, random);
    failures++;
    if (err?.code === Code.ResourceExhausted) ms = Math.max(ms, (retryDelaySeconds(err) ?? 1) * 1000);
    o.onStatus?.("retrying", err);
    await wait(ms, signal);
  }
  return undefined;
}

export interface ResumableStream {
  /** `idle` while not running (no key). */
  status: StreamStatus | "idle";
  /** The fatal error that stopped it, or the last transient one while retrying. */
  error: UiError | null;
  /** Starts over from the initial cursor (after a fatal error, say). */
  restart: () => void;
}

export type UseResumableStreamOptions<T> = Omit<ResumeOptions<T>, "signal" | "onStatus"> & {
  /** The stream runs while this is non-null and starts over when it changes. */
  key: string | null;
};

/**
 * `resumeStream` tied to a component: it runs while mounted and `key` is
 * non-null, restarts when `key` changes, and aborts on unmount. The
 * callbacks are effect events (they always see the latest render), and the
 * initial cursor is read when it (re)starts.
 */
export function useResumableStream<T>(opts: UseResumableStreamOptions<T>): ResumableStream {
  const { key } = opts;
  const [state, setState] = useState<{ key: string | null; status: StreamStatus; error: UiError | null } | null>(null);
  const [nonce, setNonce] = useState(0);
  const start = useEffectEvent(() => ({
    cursor: opts.cursor,
    backoff: opts.backoff,
    isFatal: opts.isFatal,
    sleep: opts.sleep,
    random: opts.random,
  }));
  const open = useEffectEvent((cursor: string | undefined, signal: AbortSignal, attempt: number) =>
    opts.open(cursor, signal, attempt),
  );
  const onItem = useEffectEvent((item: T) => opts.onItem(item));
  const cursorOf = useEffectEvent((item: T) => opts.cursorOf?.(item));

  useEffect(() => {
    if (key === null) return;
    const ctrl = new AbortController();
    void resumeStream<T>({
      ...start(),
      open: (cursor, signal, attempt) => open(cursor, signal, attempt),
      onItem: (item) => {
        // Delivering again clears the last transient error.
        setState((s) => (s?.error && s.status === "open" ? { ...s, error: null } : s));
        onItem(item);
      },
      cursorOf: (item) => cursorOf(item),
      signal: ctrl.signal,
      onStatus: (status, err) => {
        if (ctrl.signal.aborted) return;
        setState((s) => ({
          key,
          status,
          // A transient error stays visible until the reopened stream delivers.
          error: err ? toUiError(err) : status === "open" && s?.key === key ? s.error : null,
        }));
      },
    });
    return () => ctrl.abort();
  }, [key, nonce]);

  const restart = useCallback(() => setNonce((n) => n + 1), []);
  const current = state && state.key === key && key !== null ? state : null;
  return {
    status: key === null ? "idle" : (current?.status ?? "open"),
    error: current?.error ?? null,
    restart,
  };
}
