// A cluster's rolled-up health (Cluster.health, from monitoring's checks).
import { ClusterHealth } from "../gen/clustergenie/provisioning/v1/provisioning_pb";
import { Badge, type Tone } from "./ui";

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

const TONE: Record<ClusterHealthState, Tone> = {
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
    <Badge tone={TONE[state]} testid={testid} title={TITLE[state]} data-health={state}>
      {state}
    </Badge>
  );
}
