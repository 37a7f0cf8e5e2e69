// The System page's numbers, read for display: a service's serving state as
// a slug, the summary over every service, counters grouped by name, spans
// of time. A lag or dead-letter count of -1 is unknown (the broker has not
// said yet) and shows as "?".
import { timestampMs, type Duration, type Timestamp } from "@bufbuild/protobuf/wkt";
import { DependencyState, Serving, type Counter, type ProcessStatus } from "../../gen/clustergenie/system/v1/system_pb";

/** How often the page asks again (live; TanStack pauses it while the tab is hidden). */
export const SYSTEM_POLL_MS = 2000;

export type ServingSlug = "serving" | "not_serving" | "unreachable" | "unknown";

export function servingSlug(s: Serving): ServingSlug {
  switch (s) {
    case Serving.SERVING:
      return "serving";
    case Serving.NOT_SERVING:
      return "not_serving";
    case Serving.UNREACHABLE:
      return "unreachable";
    default:
      return "unknown";
  }
}

export type DependencySlug = "up" | "down" | "unknown";

export function dependencySlug(s: DependencyState): DependencySlug {
  return s === DependencyState.UP ? "up" : s === DependencyState.DOWN ? "down" : "unknown";
}

/** A count, or "?" for a negative one (unknown). */
export function count(n: bigint | number): string {
  return n < 0 ? "?" : n.toLocaleString("en-US");
}

/** A sum or maximum over counts some of which may be unknown. */
export interface Bound {
  /** Over the known counts. */
  known: bigint;
  /** Some count was unknown: the true value may be more. */
  unknown: boolean;
}

/** `known`; "≥ known" when some count was unknown; "?" when nothing was known. */
export function bound(b: Bound): string {
  if (!b.unknown) return count(b.known);
  return b.known > 0n ? `≥ ${count(b.known)}` : "?";
}

export interface Summary {
  serving: number;
  services: number;
  /** Outbox rows not yet published, over every service with a database. */
  backlog: bigint;
  parked: bigint;
  /** Records in every dead-letter topic. */
  deadLetters: Bound;
  /** The largest consumer lag of any group and partition; null when no process reads a topic. */
  maxLag: Bound | null;
}

export function summarize(services: readonly ProcessStatus[]): Summary {
  const s: Summary = {
    serving: 0,
    services: services.length,
    backlog: 0n,
    parked: 0n,
    deadLetters: { known: 0n, unknown: false },
    maxLag: null,
  };
  for (const p of services) {
    if (p.serving === Serving.SERVING) s.serving++;
    if (p.outbox) {
      s.backlog += p.outbox.backlog;
      s.parked += p.outbox.parked;
    }
    for (const d of p.deadLetters) {
      if (d.records < 0n) s.deadLetters.unknown = true;
      else s.deadLetters.known += d.records;
    }
    for (const l of p.consumerLag) {
      s.maxLag ??= { known: 0n, unknown: false };
      if (l.lag < 0n) s.maxLag.unknown = true;
      else if (l.lag > s.maxLag.known) s.maxLag.known = l.lag;
    }
  }
  return s;
}

export interface CounterGroup {
  name: string;
  total: number;
  /** One per label set, labels as `key: value` sorted by key (`""` for none); none for a lone counter without labels. */
  rows: { labels: string; value: number }[];
}

/** Counters by name, in the order the service lists them. */
export function groupCounters(counters: readonly Counter[]): CounterGroup[] {
  const groups = new Map<string, CounterGroup>();
  for (const c of counters) {
    let g = groups.get(c.name);
    if (!g) groups.set(c.name, (g = { name: c.name, total: 0, rows: [] }));
    g.total += c.value;
    const labels = Object.entries(c.labels)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k}: ${v}`)
      .join(", ");
    g.rows.push({ labels, value: c.value });
  }
  // A lone counter without labels is just its total.
  for (const g of groups.values()) if (g.rows.length === 1 && !g.rows[0]!.labels) g.rows = [];
  return [...groups.values()];
}

/** A counter's value: whole numbers as counts, others to two places. */
export function counterValue(v: number): string {
  return Number.isInteger(v) ? v.toLocaleString("en-US") : v.toFixed(2);
}

/** Milliseconds from `from` to `to`; undefined when either is missing, 0 when `to` is earlier. */
export function between(from: Timestamp | undefined, to: Timestamp | number | undefined): number | undefined {
  if (!from || to === undefined) return undefined;
  const end = typeof to === "number" ? to : timestampMs(to);
  return Math.max(0, end - timestampMs(from));
}

/** A span of time, two units at most: `45 s`, `12 min 5 s`, `3 h 20 min`, `2 d 4 h`. */
export function span(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m} min ${s % 60} s` : `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d} d ${h % 24} h` : `${d} d`;
}

/** A check's latency in milliseconds: one decimal under 10 ms. */
export function latencyMs(d: Duration | undefined): string {
  if (!d) return "—";
  const ms = Number(d.seconds) * 1000 + d.nanos / 1e6;
  return `${ms < 10 ? ms.toFixed(1) : Math.round(ms).toLocaleString("en-US")} ms`;
}

/** `part` of `whole` as a percentage in [0, 100]; 0 for an empty whole. */
export function percent(part: bigint | number, whole: bigint | number): number {
  const w = Number(whole);
  return w > 0 ? Math.max(0, Math.min(100, (Number(part) / w) * 100)) : 0;
}
