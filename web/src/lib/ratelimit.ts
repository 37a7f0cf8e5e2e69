// The caller's rate-limit budget as the gateway last reported it, from the
// `ratelimit-*` response headers (and `retry-after` on RESOURCE_EXHAUSTED).
// A tiny external store: React reads it with useSyncExternalStore.

export interface Quota {
  /** Requests per window (`ratelimit-limit`). */
  limit: number;
  /** Requests left (`ratelimit-remaining`). */
  remaining: number;
  /** Epoch ms when the budget is whole again (`ratelimit-reset` seconds from receipt). */
  resetAt: number;
}

export interface QuotaState {
  quota: Quota | null;
  /** Epoch ms until which the gateway asked us to back off, if it did. */
  blockedUntil: number | null;
}

export interface QuotaStore {
  get(): QuotaState;
  subscribe(listener: () => void): () => void;
  /** Reads the ratelimit headers; ignores headers that lack them. */
  observe(headers: Headers): void;
  /** Records a RESOURCE_EXHAUSTED answer asking to wait `seconds`. */
  block(seconds: number): void;
}

function intHeader(h: Headers, name: string): number | null {
  const v = h.get(name);
  if (v === null || v.trim() === "") return null;
  const n = Number(v.trim());
  return Number.isFinite(n) && n >= 0 ? Math.floor(n) : null;
}

/** Seconds from a `retry-after` header: delta-seconds or an HTTP date. */
export function retryAfterSeconds(h: Headers, now = Date.now()): number | null {
  const v = h.get("retry-after");
  if (v === null || v.trim() === "") return null;
  const n = Number(v.trim());
  if (Number.isFinite(n)) return Math.max(0, Math.ceil(n));
  const date = Date.parse(v);
  return Number.isNaN(date) ? null : Math.max(0, Math.ceil((date - now) / 1000));
}

export function createQuotaStore(now: () => number = Date.now): QuotaStore {
  let state: QuotaState = { quota: null, blockedUntil: null };
  const listeners = new Set<() => void>();
  const set = (next: QuotaState) => {
    state = next;
    listeners.forEach((l) => l());
  };
  return {
    get: () => state,
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    observe(headers) {
      const limit = intHeader(headers, "ratelimit-limit");
      const remaining = intHeader(headers, "ratelimit-remaining");
      const reset = intHeader(headers, "ratelimit-reset");
      const retry = retryAfterSeconds(headers, now());
      if (limit === null && remaining === null && reset === null && retry === null) return;
      const t = now();
      const prev = state.quota;
      const quota: Quota | null =
        limit !== null || remaining !== null || reset !== null
          ? {
              limit: limit ?? prev?.limit ?? 0,
              remaining: remaining ?? prev?.remaining ?? 0,
              resetAt: reset !== null ? t + reset * 1000 : (prev?.resetAt ?? t),
            }
          : prev;
      let blockedUntil = state.blockedUntil;
      if (retry !== null) blockedUntil = t + retry * 1000;
      else if (remaining !== null && remaining > 0) blockedUntil = null;
      set({ quota, blockedUntil });
    },
    block(seconds) {
      const t = now();
      const until = t + Math.max(0, seconds) * 1000;
      set({
        quota: state.quota ? { ...state.quota, remaining: 0 } : state.quota,
        blockedUntil: Math.max(until, state.blockedUntil ?? 0),
      });
    },
  };
}
