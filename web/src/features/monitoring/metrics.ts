// Time ranges, their steps, folding live samples into bucketed series, and
// noticing gaps in the live stream.
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { MetricKind, MetricPoint, WatchMetricsResponse } from "../../gen/clustergenie/monitoring/v1/monitoring_pb";

export interface Range {
  id: string;
  label: string;
  seconds: number;
  /** Bucket width: at most a few hundred points per chart (QueryMetrics allows 10 s – 1 day). */
  step: number;
}

export const RANGES: readonly Range[] = [
  { id: "1h", label: "1 h", seconds: 3_600, step: 15 }, // 240 points
  { id: "6h", label: "6 h", seconds: 21_600, step: 90 }, // 240
  { id: "24h", label: "24 h", seconds: 86_400, step: 300 }, // 288
  { id: "7d", label: "7 d", seconds: 604_800, step: 3_600 }, // 168
];

/**
 * Where a range ending at `end` (Unix seconds) starts: one step short of
 * the full width, so the 7-day range stays inside the server's 7-day
 * retention however long the request takes to arrive.
 */
export function rangeStart(end: number, r: Range): number {
  return end - r.seconds + r.step;
}

export function rangeById(id: string | null | undefined): Range {
  return RANGES.find((r) => r.id === id) ?? RANGES[0]!;
}

/** Bucket widths a fixed window may use (QueryMetrics allows 10 s – 1 day). */
const WINDOW_STEPS = [10, 15, 30, 60, 90, 180, 300, 600, 900, 1_800, 3_600, 10_800, 21_600, 43_200, 86_400];

/**
 * A fixed window (a link's `from`..`to`) as a range ending at `to`: the
 * smallest step that keeps it to 240 points, and a width one step wider than
 * the window, so `rangeStart(to, r)` is `from` itself.
 */
export function windowRange(w: { from: number; to: number }): Range {
  const span = Math.max(1, w.to - w.from);
  const step = WINDOW_STEPS.find((s) => span / s <= 240) ?? WINDOW_STEPS[WINDOW_STEPS.length - 1]!;
  return { id: `window-${w.from}-${w.to}`, label: "window", seconds: span + step, step };
}

/** One chart point: a bucket (or a raw sample, count 1). Times in Unix seconds. */
export interface Bucket {
  t: number;
  v: number;
  min: number;
  max: number;
  count: number;
}

/** One raw sample from the live stream. */
export interface Sample {
  t: number;
  v: number;
}

export function toBuckets(points: readonly MetricPoint[]): Bucket[] {
  return points.map((p) => ({
    t: p.time ? timestampDate(p.time).getTime() / 1000 : 0,
    v: p.value,
    min: p.min,
    max: p.max,
    count: Number(p.count) || 1,
  }));
}

/**
 * The queried buckets with live samples folded in the way the server
 * buckets them: a sample joins the bucket its time falls in (aligned to
 * multiples of `step` since the epoch), updating its average, min and max,
 * or starts a new one. Samples must be newer than the queried range.
 */
export function foldSamples(base: readonly Bucket[], samples: readonly Sample[], step: number): Bucket[] {
  if (samples.length === 0) return base as Bucket[];
  const out = base.slice();
  for (const s of samples) {
    const t = Math.floor(s.t / step) * step;
    const last = out[out.length - 1];
    if (last && last.t === t) {
      const count = last.count + 1;
      out[out.length - 1] = {
        t,
        v: (last.v * last.count + s.v) / count,
        min: Math.min(last.min, s.v),
        max: Math.max(last.max, s.v),
        count,
      };
    } else if (!last || t > last.t) {
      out.push({ t, v: s.v, min: s.v, max: s.v, count: 1 });
    }
  }
  return out;
}

/** One bucket from two of the same time: weighted average, the lower min and the higher max. */
function combine(a: Bucket, b: Bucket): Bucket {
  const count = a.count + b.count;
  return { t: a.t, v: (a.v * a.count + b.v * b.count) / count, min: Math.min(a.min, b.min), max: Math.max(a.max, b.max), count };
}

/**
 * The queried buckets followed by the live ones: a live bucket with the
 * newest queried bucket's time (the range ended inside it) is merged into
 * it; older live buckets are dropped.
 */
export function mergeBuckets(base: readonly Bucket[], live: readonly Bucket[]): Bucket[] {
  const out = base.slice();
  for (const b of live) {
    const last = out[out.length - 1];
    if (last && last.t === b.t) out[out.length - 1] = combine(last, b);
    else if (!last || b.t > last.t) out.push(b);
  }
  return out;
}

/** A metric's live part: the samples after the queried range, bucketed; the newest sample. */
export interface LiveSeries {
  buckets: readonly Bucket[];
  latest: Sample | undefined;
}

/**
 * Folds one batch's samples into a metric's live buckets as they arrive
 * (samples at or before `anchor`, the queried range's end, are already in
 * it), keeping only the buckets inside the range ending at the newest sample:
 * the work per batch and the state stay bounded however long the page is open.
 */
export function foldLive(prev: LiveSeries | undefined, samples: readonly Sample[], anchor: number, range: Range): LiveSeries {
  const fresh = samples.filter((s) => s.t > anchor);
  const last = fresh[fresh.length - 1];
  if (!last) return prev ?? { buckets: [], latest: undefined };
  const latest = prev?.latest && prev.latest.t > last.t ? prev.latest : last;
  const from = rangeStart(Math.max(anchor, latest.t), range) - range.step;
  return { buckets: sinceTime(foldSamples(prev?.buckets ?? [], fresh, range.step), from), latest };
}

/** Drops buckets older than `fromSec` (the range slides with live data). */
export function sinceTime(buckets: readonly Bucket[], fromSec: number): readonly Bucket[] {
  const first = buckets[0];
  return first && first.t >= fromSec ? buckets : buckets.filter((b) => b.t >= fromSec);
}

export interface Summary {
  latest: number;
  min: number;
  max: number;
}

/** Latest value (the newest live sample if any, else the newest bucket), lowest and highest. */
export function summarize(buckets: readonly Bucket[], latestSample?: Sample): Summary | null {
  const last = buckets[buckets.length - 1];
  if (!last) return null;
  let min = Infinity;
  let max = -Infinity;
  for (const b of buckets) {
    min = Math.min(min, b.min);
    max = Math.max(max, b.max);
  }
  return { latest: latestSample?.v ?? last.v, min, max };
}

/**
 * One sample per metric from a WatchMetrics batch. With `average` (the
 * cluster view) the batch's droplets are averaged, as the cluster-average
 * query does; otherwise each point counts.
 */
export function batchSamples(resp: WatchMetricsResponse, average: boolean): Map<MetricKind, Sample[]> {
  const out = new Map<MetricKind, Sample[]>();
  const sums = new Map<MetricKind, { sum: number; n: number; t: number }>();
  for (const series of resp.series) {
    for (const p of series.points) {
      if (!p.time) continue;
      const t = timestampDate(p.time).getTime() / 1000;
      if (average) {
        const s = sums.get(series.metric) ?? { sum: 0, n: 0, t: 0 };
        sums.set(series.metric, { sum: s.sum + p.value, n: s.n + 1, t: Math.max(s.t, t) });
      } else {
        const list = out.get(series.metric) ?? [];
        list.push({ t, v: p.value });
        out.set(series.metric, list);
      }
    }
  }
  for (const [m, s] of sums) out.set(m, [{ t: s.t, v: s.sum / s.n }]);
  for (const list of out.values()) list.sort((a, b) => a.t - b.t);
  return out;
}

/** The sampling interval assumed for a series until it shows its own (the fleet's default). */
export const DEFAULT_SAMPLE_SECONDS = 10;

/** Per live series (droplet and metric): the newest sample time seen, and the shortest spacing between its samples. */
export type SeriesClock = Map<string, { newest: number; interval: number | undefined }>;

/**
 * Notes a WatchMetrics batch's sample times in `clock`, and says whether
 * some series starts more than two sample intervals after the newest time
 * seen for it: the server drops the oldest batches for a client that falls
 * behind, which shows only as such a gap, so the range must be queried again.
 * A series' interval is the shortest spacing seen between its samples.
 */
export function noteBatch(clock: SeriesClock, resp: WatchMetricsResponse): boolean {
  let gap = false;
  for (const series of resp.series) {
    const times = series.points.flatMap((p) => (p.time ? [timestampDate(p.time).getTime() / 1000] : [])).sort((a, b) => a - b);
    const first = times[0];
    if (first === undefined) continue;
    const key = `${series.dropletId}/${series.metric}`;
    const seen = clock.get(key);
    const jumped = !!seen && first - seen.newest > 2 * (seen.interval ?? DEFAULT_SAMPLE_SECONDS);
    if (jumped) gap = true;
    // The spacing across a gap is not the interval.
    let interval = seen?.interval;
    let prev = jumped ? undefined : seen?.newest;
    for (const t of times) {
      if (prev !== undefined && t > prev) interval = Math.min(interval ?? Infinity, t - prev);
      prev = t;
    }
    clock.set(key, { newest: Math.max(seen?.newest ?? -Infinity, times[times.length - 1]!), interval });
  }
  return gap;
}
