// Names, units and tones for the monitoring enums.
import {
  ActivitySeverity,
  AlertComparison,
  AlertState,
  HealthCheckKind,
  HealthState,
} from "../../gen/clustergenie/monitoring/v1/monitoring_pb";
import { FaultKind } from "../../gen/clustergenie/provisioning/v1/provisioning_pb";
import type { Tone } from "../../components/ui";
import { label } from "../../lib/format";

export { formatMetric, metricInfo, METRICS, type MetricInfo } from "../../lib/metrics";

export const healthStateLabel = label(HealthState);
export const checkKindLabel = label(HealthCheckKind);
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

export function alertTone(s: AlertState): Tone {
  return s === AlertState.FIRING ? "bad" : s === AlertState.PENDING ? "warn" : "ok";
}
