// Small data hooks: enough for this dashboard without a query library.
import { Code, ConnectError } from "@connectrpc/connect";
import { useCallback, useEffect, useRef, useState } from "react";
import { isTransient, toUiError, type UiError } from "./errors";

export interface RpcState<T> {
  data: T | undefined;
  error: UiError | null;
  loading: boolean;
  /** Fetches again; the data stays visible meanwhile. */
  reload: () => void;
}

function isAbort(e: unknown): boolean {
  return (
    (e instanceof ConnectError && e.code === Code.Canceled) ||
    (e instanceof DOMException && e.name === "AbortError")
  );
}

/** Calls `fn` when `deps` change (and on reload); aborts stale calls. */
export function useRpc<T>(fn: (signal: AbortSignal) => Promise<T>, deps: readonly unknown[]): RpcState<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<UiError | null>(null);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const fnRef = useRef(fn);
  fnRef.current = fn;

  useEffect(() => {
    const ctrl = new AbortController();
    setLoading(true);
    fnRef.current(ctrl.signal).then(
      (d) => {
        if (ctrl.signal.aborted) return;
        setData(d);
        setError(null);
        setLoading(false);
      },
      (e: unknown) => {
        if (ctrl.signal.aborted || isAbort(e)) return;
        setError(toUiError(e));
        setLoading(false);
      },
    );
    return () => ctrl.abort();
  }, [...deps, tick]);

  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, loading, reload };
}

export interface Mutation<A, T> {
  run: (...args: A extends void ? [arg?: A] : [arg: A]) => Promise<T | undefined>;
  pending: boolean;
  error: UiError | null;
  reset: () => void;
}

/** A mutation: `run` resolves to the result, or undefined after showing the error. */
export function useMutation<A = void, T = unknown>(fn: (arg: A, requestId: string) => Promise<T>): Mutation<A, T> {
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<UiError | null>(null);
  const requestId = useRef(newRequestId());
  const fnRef = useRef(fn);
  fnRef.current = fn;
  const mounted = useRef(true);
  useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
    };
  }, []);

  const run = useCallback(async (...args: unknown[]) => {
    const arg = args[0] as A;
    setPending(true);
    setError(null);
    try {
      const res = await fnRef.current(arg, requestId.current);
      requestId.current = newRequestId();
      return res;
    } catch (e) {
      const ui = toUiError(e);
      // Keep the idempotency key only when the call may have gone through
      // unanswered, so a retry replays it instead of doing it twice.
      if (!isTransient(ui)) requestId.current = newRequestId();
      if (mounted.current) setError(ui);
      return undefined;
    } finally {
      if (mounted.current) setPending(false);
    }
  }, []) as Mutation<A, T>["run"];
  const reset = useCallback(() => setError(null), []);
  return { run, pending, error, reset };
}

/** A random idempotency key; getRandomValues works on plain-HTTP origins too. */
export function newRequestId(): string {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Re-renders every `ms` while `on`; returns the time of this render. */
export function useNow(ms = 1000, on = true): number {
  const [, setTick] = useState(0);
  useEffect(() => {
    if (!on) return;
    const id = setInterval(() => setTick((t) => t + 1), ms);
    return () => clearInterval(id);
  }, [ms, on]);
  // Read at render time, so a store update rendered between ticks is not
  // compared against an older clock.
  return Date.now();
}

/** Calls `reload` after `ms` while `pending` is true (e.g. a droplet still booting). */
export function useRefreshWhile(pending: boolean, reload: () => void, ms = 3000, key?: unknown): void {
  useEffect(() => {
    if (!pending) return;
    const t = setTimeout(reload, ms);
    return () => clearTimeout(t);
  }, [pending, reload, ms, key]);
}
