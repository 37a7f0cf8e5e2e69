// The fleet's activity log (the Activity page, the overview): filters,
// merging, and the log itself as a hook, the newest page from ListActivity,
// then StreamActivity from the log's newest cursor, so new entries appear as
// they are stored; after a dropped stream it resumes from the last cursor
// received. ListActivity applies every filter on the server; StreamActivity
// only cluster and severity, so live entries are matched here.
import { Code } from "@connectrpc/connect";
import { skipToken, useInfiniteQuery, useQuery } from "@connectrpc/connect-query";
import { useEffect, useEffectEvent, useMemo, useRef, useState } from "react";
import {
  ActivityService,
  ActivitySeverity,
  type ActivityEntry,
  type StreamActivityResponse,
} from "../gen/clustergenie/monitoring/v1/monitoring_pb";
import { useClient } from "./context";
import { label } from "./format";
import { backoffDelay, DEFAULT_BACKOFF, sleep, useResumableStream } from "./stream";

export const severityLabel = label(ActivitySeverity);

export interface ActivityFilters {
  clusterId: string;
  source: string;
  /** Exact kind, or a prefix ending in `.`. */
  kind: string;
  minSeverity: ActivitySeverity;
  text: string;
}

/** No filter: every entry of the fleet. */
export const ALL_ACTIVITY: ActivityFilters = {
  clusterId: "",
  source: "",
  kind: "",
  minSeverity: ActivitySeverity.UNSPECIFIED,
  text: "",
};

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

/** Live entries kept above the listed pages. */
const MAX_LIVE = 1000;

export interface ActivityLogOptions {
  /** Entries per listed page. */
  pageSize?: number;
  /** Every streamed entry, matching the filters or not (to refresh what it changed). */
  onEntry?: (entry: ActivityEntry) => void;
}

/**
 * The log under `filters`: streamed entries above the listed pages, newest
 * first, each once. New filters need a new list and a new stream: key the
 * component on them.
 */
export function useActivityLog(filters: ActivityFilters, { pageSize = 50, onEntry }: ActivityLogOptions = {}) {
  const client = useClient(ActivityService);
  const list = useInfiniteQuery(
    ActivityService.method.listActivity,
    { ...filters, pageSize, pageToken: "" },
    { pageParamKey: "pageToken", getNextPageParam: (last) => last.nextPageToken || undefined },
  );
  // The stream filters by cluster and severity only, so it starts from the newest
  // entry those allow: with a source, kind or text filter too, the filtered list's
  // newest entry can be days old, and streaming from it would replay everything since.
  const narrowed = !!(filters.source || filters.kind || filters.text);
  const head = useQuery(
    ActivityService.method.listActivity,
    narrowed ? { clusterId: filters.clusterId, minSeverity: filters.minSeverity, pageSize: 1 } : skipToken,
  );
  const newest = narrowed ? head.data?.entries[0]?.cursor : list.data?.pages[0]?.entries[0]?.cursor;
  const [live, setLive] = useState<readonly ActivityEntry[]>([]);
  /** Consecutive expired cursors, for the backoff before the next try. */
  const expiries = useRef(0);

  const stream = useResumableStream<StreamActivityResponse>({
    // Start once the newest cursor is known (read again on a restart).
    key: list.data && (!narrowed || head.data) ? "live" : null,
    cursor: newest,
    open: (since, signal) =>
      client.streamActivity({ clusterId: filters.clusterId, minSeverity: filters.minSeverity, since: since ?? "" }, { signal }),
    cursorOf: (r) => r.entry?.cursor,
    onItem: ({ entry }) => {
      expiries.current = 0;
      if (!entry) return;
      onEntry?.(entry);
      if (!matchesFilters(filters, entry)) return;
      setLive((prev) => (prev.some((e) => e.id === entry.id) ? prev : [entry, ...prev].slice(0, MAX_LIVE)));
    },
  });

  // A cursor older than retention: after a backoff (so a cursor that keeps
  // expiring is not retried in a loop), list again, then stream from the newest entry.
  const expired = stream.status === "stopped" && stream.error?.code === Code.FailedPrecondition;
  const recover = useEffectEvent(async (signal: AbortSignal) => {
    await sleep(backoffDelay(expiries.current, DEFAULT_BACKOFF, Math.random), signal);
    if (signal.aborted) return;
    await Promise.all([list.refetch(), narrowed ? head.refetch() : undefined]);
    if (signal.aborted) return;
    expiries.current++;
    stream.restart();
  });
  useEffect(() => {
    if (!expired) return;
    const ctrl = new AbortController();
    void recover(ctrl.signal);
    return () => ctrl.abort();
  }, [expired]);

  const entries = useMemo(() => mergeEntries(live, list.data?.pages.flatMap((p) => p.entries) ?? []), [live, list.data]);
  return {
    entries,
    list,
    stream,
    /** Listing failed (the stream's own fatal error is `stream.error`, unless it merely `expired` and recovers). */
    listError: list.error ?? head.error,
    expired,
  };
}
