// Activity filters: ListActivity applies them all on the server;
// StreamActivity only cluster and severity, so live entries are matched here.
import { ActivitySeverity, type ActivityEntry } from "../../gen/clustergenie/monitoring/v1/monitoring_pb";

export interface ActivityFilters {
  clusterId: string;
  source: string;
  /** Exact kind, or a prefix ending in `.`. */
  kind: string;
  minSeverity: ActivitySeverity;
  text: string;
}

export function matchesFilters(f: ActivityFilters, e: ActivityEntry): boolean {
  if (f.clusterId && e.clusterId !== f.clusterId) return false;
  if (f.source && e.source !== f.source) return false;
  if (f.kind && !(f.kind.endsWith(".") ? e.kind.startsWith(f.kind) : e.kind === f.kind)) return false;
  if (f.minSeverity !== ActivitySeverity.UNSPECIFIED && e.severity < f.minSeverity) return false;
  if (f.text && !e.message.toLowerCase().includes(f.text.toLowerCase())) return false;
  return true;
}

/** Newest first, each id once (a stream may repeat what the list or a replay already gave). */
export function mergeEntries(...lists: readonly (readonly ActivityEntry[])[]): ActivityEntry[] {
  const seen = new Set<string>();
  const out: ActivityEntry[] = [];
  for (const list of lists) {
    for (const e of list) {
      if (seen.has(e.id)) continue;
      seen.add(e.id);
      out.push(e);
    }
  }
  return out;
}
