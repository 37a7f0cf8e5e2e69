// Labels and number formats shared by the pages.
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import {
  ActionStatus,
  ActionType,
  ClusterStatus,
  DropletStatus,
  type Cost,
  type Droplet,
} from "../gen/clustergenie/provisioning/v1/provisioning_pb";
import { JobKind, JobStatus, type JobAction } from "../gen/clustergenie/jobs/v1/jobs_pb";

/** Enum value → its name in lowercase words (`HEALTH_STATE_UNHEALTHY` → `unhealthy`), from the generated enum objects. */
export function label<E extends object>(e: E) {
  return (v: number): string => {
    const name = (e as Record<number, string | undefined>)[v];
    if (!name) return String(v);
    return name.toLowerCase().replace(/_/g, " ");
  };
}

export const clusterStatusLabel = label(ClusterStatus);
export const dropletStatusLabel = label(DropletStatus);
export const actionTypeLabel = label(ActionType);
export const actionStatusLabel = label(ActionStatus);
export const jobStatusLabel = label(JobStatus);
export const jobKindLabel = label(JobKind);

export const JOB_STATUSES = [
  JobStatus.QUEUED,
  JobStatus.RUNNING,
  JobStatus.SUCCEEDED,
  JobStatus.FAILED,
  JobStatus.CANCELLED,
] as const;

export const JOB_KINDS = [
  JobKind.PROVISION_DROPLETS,
  JobKind.DESTROY_DROPLET,
  JobKind.RESIZE_DROPLET,
  JobKind.REBOOT_DROPLET,
  JobKind.POWER_CYCLE_DROPLET,
  JobKind.SCALE_CLUSTER,
] as const;

export const DROPLET_STATUSES = [
  DropletStatus.NEW,
  DropletStatus.ACTIVE,
  DropletStatus.OFF,
  DropletStatus.ARCHIVE,
] as const;

export function isTerminalJob(s: JobStatus): boolean {
  return s === JobStatus.SUCCEEDED || s === JobStatus.FAILED || s === JobStatus.CANCELLED;
}

/** A droplet still booting or locked by an action: it changes soon, so lists showing it poll. */
export function isDropletChanging(d: Droplet): boolean {
  return d.status === DropletStatus.NEW || d.locked;
}

/** How often a list polls while something on it is changing. */
export const POLL_MS = 3000;

/** How often a view showing a cluster's health (from monitoring's checks) asks again. */
export const HEALTH_POLL_MS = 10_000;

export function money(cents: bigint | number, currency = "USD"): string {
  const n = Number(cents) / 100;
  try {
    return new Intl.NumberFormat("en-US", { style: "currency", currency: currency || "USD" }).format(n);
  } catch {
    return `${n.toFixed(2)} ${currency}`;
  }
}

export function monthlyCost(cost: Cost | undefined): string {
  return cost ? money(cost.monthlyCents, cost.currency) : "—";
}

export function hourlyCost(cost: Cost | undefined): string {
  if (!cost) return "—";
  const n = Number(cost.hourlyMicros) / 1e6;
  return `${n.toFixed(5)} ${cost.currency || "USD"}/h`;
}

export function time(ts: Timestamp | undefined): string {
  if (!ts) return "—";
  return timestampDate(ts).toLocaleString();
}

export function ago(ts: Timestamp | undefined, now = Date.now()): string {
  if (!ts) return "—";
  const s = Math.round((now - timestampDate(ts).getTime()) / 1000);
  if (s < 5) return "just now";
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return timestampDate(ts).toLocaleDateString();
}

export function memory(mb: number): string {
  return mb >= 1024 ? `${(mb / 1024).toFixed(mb % 1024 ? 1 : 0)} GB` : `${mb} MB`;
}

/** One line describing a job's action. */
export function describeAction(a: JobAction | undefined): string {
  const c = a?.action;
  switch (c?.case) {
    case "provisionDroplets":
      return `provision ${c.value.count} × ${c.value.size} (${c.value.image})`;
    case "destroyDroplet":
      return `destroy droplet ${c.value.dropletId}`;
    case "resizeDroplet":
      return `resize droplet ${c.value.dropletId} to ${c.value.size}`;
    case "rebootDroplet":
      return `reboot droplet ${c.value.dropletId}`;
    case "powerCycleDroplet":
      return `power-cycle droplet ${c.value.dropletId}`;
    case "scaleCluster":
      return `scale cluster to ${c.value.targetCount} droplet(s)`;
    default:
      return "—";
  }
}

export function shortId(id: string): string {
  return id.length > 10 ? id.slice(0, 8) + "…" : id;
}
