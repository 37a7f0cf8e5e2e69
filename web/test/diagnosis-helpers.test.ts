// The diagnosis page's pure helpers (cost deltas, severity order, the LLM's
// ranking, evidence values and links) and the monitoring link parameters
// they build on.
import { create } from "@bufbuild/protobuf";
import { DurationSchema } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { ExplanationSource, LlmEnrichmentSchema, Risk, Severity } from "../src/gen/clustergenie/diagnosis/v1/diagnosis_pb";
import { MetricKind } from "../src/gen/clustergenie/monitoring/v1/monitoring_pb";
import {
  actionDroplet,
  actionSlug,
  bySeverity,
  chartMetric,
  evidenceLinks,
  evidenceWindow,
  explanationSource,
  formatCostDelta,
  formatValue,
  formatWindow,
  groupBySeverity,
  MIN_CHART_SECONDS,
  orderFindings,
  resizeTarget,
  riskTone,
} from "../src/features/diagnosis/diagnosis";
import { RANGES, rangeStart, windowRange } from "../src/features/monitoring/metrics";
import { formatTimeParam, metricsHref, parseTimeParam, windowParam } from "../src/lib/links";
import { evidence, finding, resizeRec, WINDOW_END } from "./diagnosis-fixtures";

const ids = (fs: { id: string }[]) => fs.map((f) => f.id);
const llm = (init: Parameters<typeof create<typeof LlmEnrichmentSchema>>[1]) => create(LlmEnrichmentSchema, init);
const secs = (n: number) => create(DurationSchema, { seconds: BigInt(n) });

describe("cost deltas", () => {
  it("read as dollars a month, with a plus for more and a minus sign for less", () => {
    expect(formatCostDelta(600n)).toBe("+$6.00/mo");
    expect(formatCostDelta(-1200n)).toBe("\u2212$12.00/mo");
    expect(formatCostDelta(-5)).toBe("\u2212$0.05/mo");
    expect(formatCostDelta(123_456n)).toBe("+$1,234.56/mo");
    expect(formatCostDelta(0n)).toBe("$0.00/mo");
  });
});

describe("severity order", () => {
  const fs = [
    finding("i1", { severity: Severity.INFO }),
    finding("w1", { severity: Severity.WARNING }),
    finding("c1", { severity: Severity.CRITICAL }),
    finding("u1", { severity: Severity.UNSPECIFIED }),
    finding("w2", { severity: Severity.WARNING }),
    finding("c2", { severity: Severity.CRITICAL }),
  ];

  it("puts critical before warning before info, unspecified last, keeping the diagnosis's order within a severity", () => {
    expect(ids(bySeverity(fs))).toEqual(["c1", "c2", "w1", "w2", "i1", "u1"]);
  });

  it("groups findings of one severity together, most severe group first, with no empty groups", () => {
    const groups = groupBySeverity(fs.filter((f) => f.severity !== Severity.INFO));
    expect(groups.map((g) => [g.severity, ids(g.findings)])).toEqual([
      [Severity.CRITICAL, ["c1", "c2"]],
      [Severity.WARNING, ["w1", "w2"]],
      [Severity.UNSPECIFIED, ["u1"]],
    ]);
    expect(groupBySeverity([])).toEqual([]);
  });

  it("gives a high risk the bad tone and a low one the ok tone", () => {
    expect([Risk.LOW, Risk.MEDIUM, Risk.HIGH, Risk.UNSPECIFIED].map(riskTone)).toEqual(["ok", "warn", "bad", "neutral"]);
  });
});

describe("the LLM's ranking", () => {
  const fs = [
    finding("a", { severity: Severity.INFO }),
    finding("b", { severity: Severity.CRITICAL }),
    finding("c", { severity: Severity.WARNING }),
    finding("d", { severity: Severity.CRITICAL }),
  ];

  it("orders the findings as the LLM ranked them, the ones it left out after them by severity", () => {
    const out = orderFindings(fs, ["c", "a"]);
    expect(out.ranked).toBe(true);
    expect(ids(out.findings)).toEqual(["c", "a", "b", "d"]);
  });

  it("skips ids the diagnosis does not hold and repeated ids, so every finding shows once", () => {
    expect(ids(orderFindings(fs, ["zz", "d", "d", "a"]).findings)).toEqual(["d", "a", "b", "c"]);
  });

  it("falls back to severity order when the LLM ranked nothing the diagnosis holds", () => {
    expect(orderFindings(fs, [])).toEqual({ findings: bySeverity(fs), ranked: false });
    expect(orderFindings(fs, ["gone"]).ranked).toBe(false);
  });
});

describe("the explanation's source", () => {
  it("says rules only, LLM with its model, or cached", () => {
    expect(explanationSource(undefined)).toEqual({ slug: "rules", label: "Rules only" });
    expect(explanationSource(llm({ source: ExplanationSource.RULES, error: "timeout" })).label).toBe("Rules only");
    expect(explanationSource(llm({ source: ExplanationSource.LLM, model: "gpt-4o-mini", used: true }))).toEqual({
      slug: "llm",
      label: "LLM gpt-4o-mini",
    });
    expect(explanationSource(llm({ source: ExplanationSource.CACHE, model: "gpt-4o-mini", used: true, cached: true }))).toEqual({
      slug: "cache",
      label: "Cached (gpt-4o-mini)",
    });
  });

  it("reads used and cached when the server leaves the source unset", () => {
    expect(explanationSource(llm({ used: true, cached: true, model: "m" })).slug).toBe("cache");
    expect(explanationSource(llm({ used: true, model: "m" })).slug).toBe("llm");
    expect(explanationSource(llm({ used: false })).slug).toBe("rules");
  });
});

describe("evidence values", () => {
  it("shows a value in its unit, counts as whole numbers and cents as dollars", () => {
    expect(formatValue(87.54, "%")).toBe("87.5 %");
    expect(formatValue(240, "%/h")).toBe("240 %/h");
    expect(formatValue(3.456, "h")).toBe("3.46 h");
    expect(formatValue(12, "Mbps")).toBe("12 Mbps");
    expect(formatValue(2.6, "count")).toBe("3");
    expect(formatValue(600, "cents")).toBe("$6.00");
    expect(formatValue(1.25, "")).toBe("1.25");
  });

  it("shows a window's length in seconds, minutes or hours", () => {
    expect(formatWindow(undefined)).toBe("");
    expect(formatWindow(secs(45))).toBe("45 s");
    expect(formatWindow(secs(300))).toBe("5 min");
    expect(formatWindow(secs(7200))).toBe("2 h");
    expect(formatWindow(secs(5400))).toBe("1 h 30 min");
  });

  it("charts a metric kind by its name and a derived signal by the metric it comes from", () => {
    expect(chartMetric("cpu_percent")).toBe(MetricKind.CPU_PERCENT);
    expect(chartMetric("load_1m")).toBe(MetricKind.LOAD_1M);
    expect(chartMetric("memory_growth_percent_per_hour")).toBe(MetricKind.MEMORY_PERCENT);
    expect(chartMetric("disk_hours_to_full")).toBe(MetricKind.DISK_PERCENT);
    expect(chartMetric("network_in_mbps")).toBe(MetricKind.NETWORK_IN_MBPS);
    expect(chartMetric("health_check_failures")).toBeUndefined();
    expect(chartMetric("unspecified")).toBeUndefined();
  });

  it("charts an evidence on its own window, widened to a few minutes when shorter", () => {
    expect(evidenceWindow(evidence({ window: { seconds: 600n } }))).toEqual({ from: WINDOW_END - 600, to: WINDOW_END });
    expect(evidenceWindow(evidence({ window: { seconds: 30n } }))).toEqual({ from: WINDOW_END - MIN_CHART_SECONDS, to: WINDOW_END });
    expect(evidenceWindow(evidence({ windowEnd: undefined }))).toBeNull();
  });
});

describe("evidence links", () => {
  it("link the metric chart on the evidence's window, on the finding's droplet", () => {
    const [chart] = evidenceLinks(evidence(), { clusterId: "c1", dropletId: "d1" });
    expect(chart).toEqual({
      kind: "metric",
      href: "/monitoring?cluster=c1&droplet=d1&from=2024-05-01T11%3A50%3A00Z&to=2024-05-01T12%3A00%3A00Z&metric=memory",
      label: "Memory chart",
    });
  });

  it("link each health check, activity entry, job and droplet action that backs the value", () => {
    const e = evidence({
      metric: "health_check_failures",
      unit: "count",
      healthCheckIds: ["hc1"],
      activityIds: ["a1", "a2"],
      jobIds: ["job-123456789012"],
      actionIds: ["act1"],
    });
    expect(evidenceLinks(e, { clusterId: "c1", dropletId: "d2" })).toEqual([
      { kind: "check", href: "/monitoring/checks?cluster=c1&droplet=d2&check=hc1", label: "health check" },
      { kind: "activity", href: "/monitoring/activity?cluster=c1&entry=a1", label: "activity entry" },
      { kind: "activity", href: "/monitoring/activity?cluster=c1&entry=a2", label: "activity entry" },
      { kind: "job", href: "/jobs/job-123456789012", label: "job job-1234…" },
      { kind: "action", href: "/droplets/d2", label: "droplet action act1" },
    ]);
  });

  it("a cluster-wide finding links the cluster's charts and no droplet action", () => {
    const links = evidenceLinks(evidence({ metric: "cpu_percent", windowEnd: undefined, actionIds: ["act1"] }), { clusterId: "c1", dropletId: "" });
    expect(links).toEqual([{ kind: "metric", href: "/monitoring?cluster=c1&metric=cpu", label: "CPU chart" }]);
  });
});

describe("recommendation actions", () => {
  it("name the action, a resize's target size and the droplet it works on", () => {
    const r = resizeRec("r1", ["f1"]);
    expect(actionSlug(r)).toBe("resize_droplet");
    expect(resizeTarget(r)).toBe("s-2vcpu-2gb");
    expect(actionDroplet(r)).toBe("d1");
    const advice = resizeRec("r2", [], { action: undefined });
    expect([actionSlug(advice), resizeTarget(advice), actionDroplet(advice)]).toEqual(["", undefined, undefined]);
    const scale = resizeRec("r3", [], { action: { action: { case: "scaleCluster", value: { targetCount: 4 } } } });
    expect([actionSlug(scale), resizeTarget(scale), actionDroplet(scale)]).toEqual(["scale_cluster", undefined, undefined]);
  });
});

describe("monitoring link parameters", () => {
  it("write times as RFC 3339 in UTC and read them back, Unix seconds too", () => {
    expect(formatTimeParam(WINDOW_END)).toBe("2024-05-01T12:00:00Z");
    expect(parseTimeParam("2024-05-01T12:00:00Z")).toBe(WINDOW_END);
    expect(parseTimeParam("2024-05-01T14:00:00+02:00")).toBe(WINDOW_END);
    expect(parseTimeParam(String(WINDOW_END))).toBe(WINDOW_END);
    expect(parseTimeParam("yesterday")).toBeNull();
    expect(parseTimeParam(null)).toBeNull();
  });

  it("name a window only when both ends read and from is before to", () => {
    const q = (s: string) => new URLSearchParams(s);
    expect(windowParam(q(`from=${WINDOW_END - 60}&to=${WINDOW_END}`))).toEqual({ from: WINDOW_END - 60, to: WINDOW_END });
    expect(windowParam(q(`from=${WINDOW_END}&to=${WINDOW_END}`))).toBeNull();
    expect(windowParam(q(`to=${WINDOW_END}`))).toBeNull();
    expect(windowParam(new URLSearchParams(metricsHref({ cluster: "c1", window: { from: 1, to: 2 } }).split("?")[1]))).toEqual({ from: 1, to: 2 });
  });

  it("chart a fixed window from its start, with at most 240 points and a step QueryMetrics accepts", () => {
    for (const span of [60, 300, 600, 3600, 86_400, 7 * 86_400]) {
      const r = windowRange({ from: WINDOW_END - span, to: WINDOW_END });
      expect(rangeStart(WINDOW_END, r)).toBe(WINDOW_END - span);
      expect(span / r.step).toBeLessThanOrEqual(240);
      expect(r.step).toBeGreaterThanOrEqual(10);
      expect(r.step).toBeLessThanOrEqual(86_400);
      expect(RANGES.some((x) => x.id === r.id)).toBe(false);
    }
    expect(windowRange({ from: 0, to: 600 }).step).toBe(10);
  });
});
