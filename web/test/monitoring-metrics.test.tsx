// The monitoring feature's pure helpers: ranges, folding live samples into
// buckets, batch averages, activity filters.
import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { ActivitySeverity, MetricKind, WatchMetricsResponseSchema } from "../src/gen/clustergenie/monitoring/v1/monitoring_pb";
import { matchesFilters, mergeEntries } from "../src/lib/activity";
import {
  batchSamples,
  DEFAULT_SAMPLE_SECONDS,
  foldLive,
  foldSamples,
  mergeBuckets,
  noteBatch,
  RANGES,
  rangeById,
  rangeStart,
  summarize,
  type Bucket,
  type LiveSeries,
  type SeriesClock,
} from "../src/features/monitoring/metrics";
import { entry, ts } from "./monitoring-fixtures";

describe("metric ranges", () => {
  it("keep every chart to a few hundred points, with steps QueryMetrics accepts, inside the 7-day retention", () => {
    expect(RANGES.map((r) => r.id)).toEqual(["1h", "6h", "24h", "7d"]);
    for (const r of RANGES) {
      expect(r.seconds / r.step).toBeLessThanOrEqual(300);
      expect(r.step).toBeGreaterThanOrEqual(10);
      expect(r.step).toBeLessThanOrEqual(86_400);
      expect(rangeStart(1_000_000, r)).toBeGreaterThan(1_000_000 - 7 * 86_400);
    }
  });
});

describe("foldSamples", () => {
  const b = (t: number, v: number, count = 1): Bucket => ({ t, v, min: v, max: v, count });

  it("folds a sample into the bucket it falls in, as a running average, or starts the next bucket", () => {
    const base = [b(0, 10), b(60, 20, 3)];
    const out = foldSamples(base, [{ t: 90, v: 40 }, { t: 125, v: 5 }, { t: 130, v: 7 }], 60);
    expect(out).toEqual([
      b(0, 10),
      { t: 60, v: 25, min: 20, max: 40, count: 4 },
      { t: 120, v: 6, min: 5, max: 7, count: 2 },
    ]);
    // The base is left as it was.
    expect(base[1]).toEqual(b(60, 20, 3));
  });

  it("ignores samples older than the newest bucket", () => {
    expect(foldSamples([b(120, 1)], [{ t: 30, v: 99 }], 60)).toEqual([b(120, 1)]);
  });

  it("summarizes: the newest live sample is the latest value; min and max span the buckets", () => {
    const buckets = [{ t: 0, v: 10, min: 2, max: 12, count: 3 }, b(60, 20)];
    expect(summarize(buckets)).toEqual({ latest: 20, min: 2, max: 20 });
    expect(summarize(buckets, { t: 70, v: 21 })).toEqual({ latest: 21, min: 2, max: 20 });
    expect(summarize([])).toBeNull();
  });
});

describe("live buckets", () => {
  const b = (t: number, v: number, count = 1): Bucket => ({ t, v, min: v, max: v, count });
  const hour = rangeById("1h"); // 15 s buckets

  it("fold each batch as it arrives, keeping only the buckets inside the range ending at the newest sample", () => {
    const anchor = 1_000_005;
    let live: LiveSeries | undefined;
    // Three hours of samples every 5 s, one batch each, after a one-hour range was queried.
    for (let t = anchor + 5; t <= anchor + 3 * 3600; t += 5) live = foldLive(live, [{ t, v: t % 100 }], anchor, hour);
    const newest = anchor + 3 * 3600;
    expect(live!.latest).toEqual({ t: newest, v: newest % 100 });
    // Bounded by the range, not by how long the page was open.
    expect(live!.buckets.length).toBeLessThanOrEqual(hour.seconds / hour.step + 1);
    expect(live!.buckets[0]!.t).toBeGreaterThanOrEqual(rangeStart(newest, hour) - hour.step);
    expect(live!.buckets.at(-1)!.t).toBe(Math.floor(newest / hour.step) * hour.step);
  });

  it("skip samples the queried range already holds, and leave the previous state as it was", () => {
    const prev = foldLive(undefined, [{ t: 110, v: 4 }], 100, hour);
    expect(prev.buckets).toEqual([b(105, 4)]);
    const next = foldLive(prev, [{ t: 90, v: 99 }, { t: 115, v: 8 }], 100, hour);
    expect(next.buckets).toEqual([{ t: 105, v: 6, min: 4, max: 8, count: 2 }]);
    expect(prev.buckets).toEqual([b(105, 4)]);
    expect(foldLive(next, [{ t: 95, v: 1 }], 100, hour)).toBe(next);
  });

  it("merge into the queried buckets: the bucket the range ended in is combined, weighted by count", () => {
    const queried = [b(0, 10), b(15, 20, 3)];
    expect(mergeBuckets(queried, [b(15, 40), b(30, 5)])).toEqual([b(0, 10), { t: 15, v: 25, min: 20, max: 40, count: 4 }, b(30, 5)]);
    expect(mergeBuckets(queried, [])).toEqual(queried);
    expect(queried[1]).toEqual(b(15, 20, 3));
  });
});

describe("noteBatch", () => {
  const batch = (...series: [droplet: string, times: number[]][]) =>
    create(WatchMetricsResponseSchema, {
      series: series.map(([dropletId, times]) => ({
        dropletId,
        metric: MetricKind.CPU_PERCENT,
        points: times.map((t) => ({ time: ts(t * 1000), value: 1 })),
      })),
    });

  it("says when a series jumps more than two of its sample intervals past the newest time seen", () => {
    const clock: SeriesClock = new Map();
    expect(noteBatch(clock, batch(["d1", [100, 102]], ["d2", [100]]))).toBe(false);
    expect(noteBatch(clock, batch(["d1", [104]]))).toBe(false);
    // d1 samples every 2 s: 5 s on is a gap.
    expect(noteBatch(clock, batch(["d1", [109]]))).toBe(true);
    // The spacing across a gap is not learnt as the interval.
    expect(clock.get(`d1/${MetricKind.CPU_PERCENT}`)).toEqual({ newest: 109, interval: 2 });
    expect(noteBatch(clock, batch(["d1", [114]]))).toBe(true);
  });

  it("assumes the default interval until a series shows its own, and ignores a series' first batch", () => {
    const clock: SeriesClock = new Map();
    expect(noteBatch(clock, batch(["d1", [100]]))).toBe(false);
    expect(noteBatch(clock, batch(["d1", [100 + 2 * DEFAULT_SAMPLE_SECONDS]]))).toBe(false);
    expect(noteBatch(clock, batch(["d2", [5000]]))).toBe(false);
    expect(noteBatch(clock, batch(["d2", [5000 + 2 * DEFAULT_SAMPLE_SECONDS + 1]]))).toBe(true);
  });
});

describe("batchSamples", () => {
  const batch = create(WatchMetricsResponseSchema, {
    series: [
      { dropletId: "d1", metric: MetricKind.CPU_PERCENT, points: [{ time: ts(20_000), value: 80 }, { time: ts(10_000), value: 60 }] },
      { dropletId: "d2", metric: MetricKind.CPU_PERCENT, points: [{ time: ts(20_000), value: 40 }] },
      { dropletId: "d1", metric: MetricKind.LOAD_1M, points: [{ time: ts(20_000), value: 1.5 }] },
    ],
  });

  it("averages a batch per metric for the cluster view", () => {
    const m = batchSamples(batch, true);
    expect(m.get(MetricKind.CPU_PERCENT)).toEqual([{ t: 20, v: 60 }]);
    expect(m.get(MetricKind.LOAD_1M)).toEqual([{ t: 20, v: 1.5 }]);
  });

  it("keeps every point, oldest first, for a droplet", () => {
    expect(batchSamples(batch, false).get(MetricKind.CPU_PERCENT)).toEqual([
      { t: 10, v: 60 },
      { t: 20, v: 80 },
      { t: 20, v: 40 },
    ]);
  });
});

describe("activity filters", () => {
  const none = { clusterId: "", source: "", kind: "", minSeverity: ActivitySeverity.UNSPECIFIED, text: "" };

  it("match as ListActivity does: exact kind or a prefix ending in '.', severity at least, text ignoring case", () => {
    const e = entry(1, { kind: "job.failed", source: "jobs", severity: ActivitySeverity.WARNING, message: "Scale FAILED" });
    expect(matchesFilters(none, e)).toBe(true);
    expect(matchesFilters({ ...none, kind: "job." }, e)).toBe(true);
    expect(matchesFilters({ ...none, kind: "job" }, e)).toBe(false);
    expect(matchesFilters({ ...none, kind: "job.failed" }, e)).toBe(true);
    expect(matchesFilters({ ...none, source: "provisioning" }, e)).toBe(false);
    expect(matchesFilters({ ...none, minSeverity: ActivitySeverity.WARNING }, e)).toBe(true);
    expect(matchesFilters({ ...none, minSeverity: ActivitySeverity.ERROR }, e)).toBe(false);
    expect(matchesFilters({ ...none, text: "scale failed" }, e)).toBe(true);
    expect(matchesFilters({ ...none, clusterId: "c2" }, e)).toBe(false);
  });

  it("merge newest first, each id once", () => {
    const ids = mergeEntries([entry(5), entry(4)], [entry(4), entry(3)]).map((e) => e.id);
    expect(ids).toEqual(["e5", "e4", "e3"]);
  });
});
