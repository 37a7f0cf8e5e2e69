// The monitoring feature's pure helpers: ranges, folding live samples into
// buckets, batch averages, activity filters.
import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { ActivitySeverity, MetricKind, WatchMetricsResponseSchema } from "../src/gen/clustergenie/monitoring/v1/monitoring_pb";
import { matchesFilters, mergeEntries } from "../src/features/monitoring/activity";
import { batchSamples, foldSamples, RANGES, rangeStart, summarize, type Bucket } from "../src/features/monitoring/metrics";
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
