// Small hooks and helpers with no data fetching (that lives in query.ts and connect-query).
import { useEffect, useState } from "react";

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
  // Read at render time on purpose, so a store update rendered between ticks
  // is not compared against an older clock.
  // eslint-disable-next-line react-hooks/purity
  return Date.now();
}

/** `value`, once it has stopped changing for `ms` (typing in a filter box). */
export function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return v;
}
