// Names, units and digits of the metric kinds (monitoring charts, scaling policies).
import { MetricKind } from "../gen/clustergenie/monitoring/v1/monitoring_pb";

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
