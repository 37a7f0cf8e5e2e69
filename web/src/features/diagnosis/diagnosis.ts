// The diagnosis page's pure pieces: severity order and grouping, the LLM's
// ranking, risk labels and tones, cost deltas, evidence values and the links
// from evidence to what backs it. Severity and status names are in
// lib/diagnosis, the severity tone in components/diagnosisTone.
import type { Duration } from "@bufbuild/protobuf/wkt";
import {
  ExplanationSource,
  Risk,
  Severity,
  type Evidence,
  type Finding,
  type LlmEnrichment,
  type Recommendation,
} from "../../gen/clustergenie/diagnosis/v1/diagnosis_pb";
import { MetricKind } from "../../gen/clustergenie/monitoring/v1/monitoring_pb";
import type { Tone } from "../../components/ui";
import { label, money, shortId } from "../../lib/format";
import { activityHref, healthCheckHref, metricsHref, type TimeWindow } from "../../lib/links";
import { metricInfo } from "../../lib/metrics";

export const riskLabel = label(Risk);

/** Most severe first; unspecified last. */
export const SEVERITY_ORDER = [Severity.CRITICAL, Severity.WARNING, Severity.INFO, Severity.UNSPECIFIED] as const;

export function riskTone(r: Risk): Tone {
  return r === Risk.HIGH ? "bad" : r === Risk.MEDIUM ? "warn" : r === Risk.LOW ? "ok" : "neutral";
}

const rank = (s: Severity) => {
  const i = SEVERITY_ORDER.indexOf(s as (typeof SEVERITY_ORDER)[number]);
  return i < 0 ? SEVERITY_ORDER.length : i;
};

/** Most severe first; findings of one severity keep the diagnosis's order. */
export function bySeverity(findings: readonly Finding[]): Finding[] {
  return findings.map((f, i) => ({ f, i })).sort((a, b) => rank(a.f.severity) - rank(b.f.severity) || a.i - b.i).map((x) => x.f);
}

/** The findings in groups of one severity, most severe first; empty groups left out. */
export function groupBySeverity(findings: readonly Finding[]): { severity: Severity; findings: Finding[] }[] {
  const sorted = bySeverity(findings);
  const groups: { severity: Severity; findings: Finding[] }[] = [];
  for (const f of sorted) {
    const last = groups[groups.length - 1];
    if (last && last.severity === f.severity) last.findings.push(f);
    else groups.push({ severity: f.severity, findings: [f] });
  }
  return groups;
}

/**
 * The order to show findings in: the LLM's (`ranked_finding_ids`, ids it
 * names that the diagnosis does not hold skipped, each once), with any it
 * left out after them by severity; by severity when it ranked none of them.
 */
export function orderFindings(findings: readonly Finding[], rankedIds: readonly string[]): { findings: Finding[]; ranked: boolean } {
  const byId = new Map(findings.map((f) => [f.id, f]));
  const seen = new Set<string>();
  const ranked: Finding[] = [];
  for (const id of rankedIds) {
    const f = byId.get(id);
    if (!f || seen.has(id)) continue;
    seen.add(id);
    ranked.push(f);
  }
  if (ranked.length === 0) return { findings: bySeverity(findings), ranked: false };
  return { findings: [...ranked, ...bySeverity(findings.filter((f) => !seen.has(f.id)))], ranked: true };
}

/** A monthly cost change: `+$6.00/mo`, `−$12.00/mo` (a minus sign), `$0.00/mo`. */
export function formatCostDelta(cents: bigint | number): string {
  const n = BigInt(cents);
  const abs = money(n < 0n ? -n : n);
  return `${n > 0n ? "+" : n < 0n ? "\u2212" : ""}${abs}/mo`;
}

/** Where the explanation came from, for a data attribute and a label. */
export function explanationSource(llm: LlmEnrichment | undefined): { slug: "rules" | "llm" | "cache"; label: string } {
  const model = llm?.model ?? "";
  const cache = { slug: "cache", label: model ? `Cached (${model})` : "Cached" } as const;
  const fresh = { slug: "llm", label: model ? `LLM ${model}` : "LLM" } as const;
  const rules = { slug: "rules", label: "Rules only" } as const;
  switch (llm?.source) {
    case ExplanationSource.CACHE:
      return cache;
    case ExplanationSource.LLM:
      return fresh;
    case ExplanationSource.RULES:
      return rules;
    default:
      // A server that does not fill `source` yet: `used` and `cached` say the same.
      return llm?.used ? (llm.cached ? cache : fresh) : rules;
  }
}

function digits(v: number): string {
  if (Number.isInteger(v)) return String(v);
  return v.toFixed(Math.abs(v) < 10 ? 2 : 1);
}

/** An evidence value in its unit: `87.5 %`, `240 %/h`, `3`, `$6.00`. */
export function formatValue(v: number, unit: string): string {
  switch (unit) {
    case "":
      return digits(v);
    case "count":
      return String(Math.round(v));
    case "cents":
      return money(Math.round(v));
    default:
      return `${digits(v)} ${unit}`;
  }
}

/** A window's length: `45 s`, `5 min`, `2 h`, `1 h 30 min`. */
export function formatWindow(d: Duration | undefined): string {
  const s = d ? Number(d.seconds) : 0;
  if (s <= 0) return "";
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  const h = Math.floor(s / 3600);
  const m = Math.round((s % 3600) / 60);
  return m ? `${h} h ${m} min` : `${h} h`;
}

const DERIVED: [prefix: string, metric: MetricKind][] = [
  ["cpu", MetricKind.CPU_PERCENT],
  ["memory", MetricKind.MEMORY_PERCENT],
  ["disk", MetricKind.DISK_PERCENT],
  ["network_in", MetricKind.NETWORK_IN_MBPS],
  ["network_out", MetricKind.NETWORK_OUT_MBPS],
  ["load", MetricKind.LOAD_1M],
];

/**
 * The chart that shows an evidence metric: a MetricKind in lower snake case
 * (`cpu_percent`), or a signal derived from one (`memory_growth_percent_per_hour`
 * → memory); none for other signals (`health_check_failures`).
 */
export function chartMetric(metric: string): MetricKind | undefined {
  const exact = (MetricKind as unknown as Record<string, MetricKind | undefined>)[metric.toUpperCase()];
  if (exact !== undefined && exact !== MetricKind.UNSPECIFIED) return exact;
  return DERIVED.find(([prefix]) => metric === prefix || metric.startsWith(`${prefix}_`))?.[1];
}

/** The shortest window a chart link opens on, so a short window still shows its surroundings. */
export const MIN_CHART_SECONDS = 300;

/** The window to chart an evidence on: its own (`window_end - window` .. `window_end`), at least MIN_CHART_SECONDS wide. */
export function evidenceWindow(e: Evidence): TimeWindow | null {
  if (!e.windowEnd) return null;
  const to = Number(e.windowEnd.seconds);
  const span = Math.max(e.window ? Number(e.window.seconds) : 0, MIN_CHART_SECONDS);
  return { from: to - span, to };
}

export type EvidenceLinkKind = "metric" | "check" | "activity" | "job" | "action";

export interface EvidenceLink {
  kind: EvidenceLinkKind;
  href: string;
  label: string;
}

/**
 * Where to look an evidence up: its metric's chart on its window, each
 * health check's results, activity entry, job, and droplet action (on the
 * droplet's page, which lists its actions).
 */
export function evidenceLinks(e: Evidence, at: { clusterId: string; dropletId: string }): EvidenceLink[] {
  const links: EvidenceLink[] = [];
  const droplet = at.dropletId || undefined;
  const metric = chartMetric(e.metric);
  if (metric !== undefined) {
    const info = metricInfo(metric);
    links.push({
      kind: "metric",
      href: metricsHref({ cluster: at.clusterId, droplet, window: evidenceWindow(e), metric: info.slug }),
      label: `${info.label} chart`,
    });
  }
  for (const check of e.healthCheckIds) {
    links.push({ kind: "check", href: healthCheckHref({ cluster: at.clusterId, droplet, check }), label: "health check" });
  }
  for (const entry of e.activityIds) {
    links.push({ kind: "activity", href: activityHref({ cluster: at.clusterId, entry }), label: "activity entry" });
  }
  for (const job of e.jobIds) links.push({ kind: "job", href: `/jobs/${job}`, label: `job ${shortId(job)}` });
  if (droplet) {
    for (const action of e.actionIds) {
      links.push({ kind: "action", href: `/droplets/${droplet}`, label: `droplet action ${shortId(action)}` });
    }
  }
  return links;
}

/** The action's case in snake case (`resize_droplet`), for a data attribute; empty for advice without one. */
export function actionSlug(r: Recommendation): string {
  return (r.action?.action.case ?? "").replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** The size a resize recommendation moves its droplet to. */
export function resizeTarget(r: Recommendation): string | undefined {
  const a = r.action?.action;
  return a?.case === "resizeDroplet" ? a.value.size : undefined;
}

/** The droplet an action works on, if it names one. */
export function actionDroplet(r: Recommendation): string | undefined {
  const a = r.action?.action;
  switch (a?.case) {
    case "resizeDroplet":
    case "rebootDroplet":
    case "powerCycleDroplet":
    case "destroyDroplet":
      return a.value.dropletId;
    default:
      return undefined;
  }
}
