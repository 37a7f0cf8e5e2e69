// Names, units and tones for the monitoring enums.
import {
  ActivitySeverity,
  AlertComparison,
  AlertState,
  HealthCheckKind,
  HealthState,
  MetricKind,
} from "../../gen/clustergenie/monitoring/v1/monitoring_pb";
import { FaultKind } from "../../gen/clustergenie/provisioning/v1/provisioning_pb";
import type { Tone } from "../../components/ui";
import { label } from "../../lib/format";

export interface MetricInfo {
  /** For data attributes and URLs: `cpu`, `memory`, … */
  slug: string;
  label: string;
  unit: string;
  digits: number;
  /** Percent metrics are drawn on a fixed 0–100 axis. */
  range?: [number, number];
}

export const METRICS: readonly MetricKind[] = [
  MetricKind.CPU_PERCENT,
  MetricKind.MEMORY_PERCENT,
  MetricKind.DISK_PERCENT,
  MetricKind.NETWORK_IN_MBPS,
  MetricKind.NETWORK_OUT_MBPS,
  MetricKind.LOAD_1M,
];

const INFO: Record<MetricKind, MetricInfo> = {
  [MetricKind.UNSPECIFIED]: { slug: "unspecified", label: "Unspecified", unit: "", digits: 2 },
  [MetricKind.CPU_PERCENT]: { slug: "cpu", label: "CPU", unit: "%", digits: 1, range: [0, 100] },
  [MetricKind.MEMORY_PERCENT]: { slug: "memory", label: "Memory", unit: "%", digits: 1, range: [0, 100] },
  [MetricKind.DISK_PERCENT]: { slug: "disk", label: "Disk", unit: "%", digits: 1, range: [0, 100] },
  [MetricKind.NETWORK_IN_MBPS]: { slug: "network_in", label: "Network in", unit: "Mbps", digits: 1 },
  [MetricKind.NETWORK_OUT_MBPS]: { slug: "network_out", label: "Network out", unit: "Mbps", digits: 1 },
  [MetricKind.LOAD_1M]: { slug: "load_1m", label: "Load (1 min)", unit: "", digits: 2 },
};

export function metricInfo(m: MetricKind): MetricInfo {
  return INFO[m] ?? { slug: String(m), label: `Metric ${m}`, unit: "", digits: 2 };
}

export function formatMetric(m: MetricKind, v: number): string {
  const i = metricInfo(m);
  const n = v.toFixed(i.digits);
  return i.unit ? `${n} ${i.unit}` : n;
}

export const healthStateLabel = label(HealthState);
export const checkKindLabel = label(HealthCheckKind);
export const severityLabel = label(ActivitySeverity);
export const alertStateLabel = label(AlertState);
export const comparisonLabel = label(AlertComparison);
export const faultKindLabel = label(FaultKind);

export const CHECK_KINDS = [HealthCheckKind.HTTP, HealthCheckKind.TCP, HealthCheckKind.PING] as const;
export const SEVERITIES = [ActivitySeverity.INFO, ActivitySeverity.WARNING, ActivitySeverity.ERROR] as const;
export const ALERT_STATES = [AlertState.PENDING, AlertState.FIRING, AlertState.RESOLVED] as const;
export const FAULT_KINDS = [
  FaultKind.CPU_SPIKE,
  FaultKind.MEMORY_LEAK,
  FaultKind.DISK_FILLING,
  FaultKind.CRASH,
  FaultKind.NETWORK_LOSS,
] as const;
/** ActivityEntry.source values the contract names. */
export const SOURCES = ["provisioning", "jobs", "diagnosis", "scaler", "monitoring", "gateway"] as const;

export function healthTone(s: HealthState): Tone {
  return s === HealthState.HEALTHY ? "ok" : s === HealthState.UNHEALTHY ? "bad" : "neutral";
}

export function severityTone(s: ActivitySeverity): Tone {
  return s === ActivitySeverity.ERROR ? "bad" : s === ActivitySeverity.WARNING ? "warn" : "info";
}

export function alertTone(s: AlertState): Tone {
  return s === AlertState.FIRING ? "bad" : s === AlertState.PENDING ? "warn" : "ok";
}
