// Follows a long-running thing (a job, a droplet action) to its end: the
// server stream first; if the stream fails or closes early, polling.
import { Code, ConnectError } from "@connectrpc/connect";
import { retryDelaySeconds } from "./errors";
import { sleep } from "./stream";

export interface FollowOptions<T> {
  /** Opens the server stream (WatchJob, WatchDropletAction). */
  watch: (signal: AbortSignal) => AsyncIterable<T | undefined>;
  /** One poll (GetJob, GetDropletAction). */
  poll: (signal: AbortSignal) => Promise<T | undefined>;
  isDone: (t: T) => boolean;
  onUpdate: (t: T) => void;
  onError?: (e: unknown) => void;
  signal: AbortSignal;
  pollMs?: number;
}

const FATAL = new Set([Code.NotFound, Code.PermissionDenied, Code.Unauthenticated, Code.InvalidArgument]);

/** Resolves once the thing is done, the caller aborts, or a fatal error. */
export async function follow<T>(o: FollowOptions<T>): Promise<void> {
  const { signal } = o;
  const pollMs = o.pollMs ?? 1000;
  try {
    for await (const t of o.watch(signal)) {
      if (signal.aborted) return;
      if (!t) continue;
      o.onUpdate(t);
      if (o.isDone(t)) return;
    }
  } catch (e) {
    if (signal.aborted) return;
    const err = ConnectError.from(e);
    if (FATAL.has(err.code)) {
      o.onError?.(err);
      return;
    }
    // Otherwise (no streaming through a proxy, a dropped connection): poll.
  }
  while (!signal.aborted) {
    let wait = pollMs;
    try {
      const t = await o.poll(signal);
      if (signal.aborted) return;
      if (t) {
        o.onUpdate(t);
        if (o.isDone(t)) return;
      }
    } catch (e) {
      if (signal.aborted) return;
      const err = ConnectError.from(e);
      o.onError?.(err);
      if (FATAL.has(err.code)) return;
      if (err.code === Code.ResourceExhausted) wait = Math.max(wait, (retryDelaySeconds(err) ?? 1) * 1000);
      else wait = Math.max(wait, 2000);
    }
    await sleep(wait, signal);
  }
}
