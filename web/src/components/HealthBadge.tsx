// A cluster's rolled-up health (Cluster.health, from monitoring's checks).
import { ClusterHealth } from "../gen/clustergenie/provisioning/v1/provisioning_pb";

export type ClusterHealthState = "healthy" | "degraded" | "unhealthy" | "unknown";

export function clusterHealthState(h: ClusterHealth | undefined): ClusterHealthState {
  switch (h) {
    case ClusterHealth.HEALTHY:
      return "healthy";
    case ClusterHealth.DEGRADED:
      return "degraded";
    case ClusterHealth.UNHEALTHY:
      return "unhealthy";
    default:
      return "unknown";
  }
}

const TONE: Record<ClusterHealthState, string> = {
  healthy: "ok",
  degraded: "warn",
  unhealthy: "bad",
  unknown: "neutral",
};

const TITLE: Record<ClusterHealthState, string> = {
  healthy: "Every droplet a health check judges passes its checks",
  degraded: "Some droplets fail a health check",
  unhealthy: "Every droplet a health check judges fails at least one",
  unknown: "No health checks, or none reported lately",
};

export function HealthBadge({ health, testid = "cluster-health" }: { health: ClusterHealth | undefined; testid?: string }) {
  const state = clusterHealthState(health);
  return (
    <span className={`badge badge--${TONE[state]}`} data-testid={testid} data-health={state} title={TITLE[state]}>
      {state}
    </span>
  );
}
