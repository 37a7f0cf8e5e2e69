// The scaler's decisions, of a cluster (the autoscaling page) or the whole
// fleet (the overview): the newest pages from ListDecisions and, above them,
// what WatchDecisions streams as it is recorded. WatchDecisions has no
// cursor, so after a reconnection the first page is listed again to fill
// the gap; every decision shows once (by id).
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { useInfiniteQuery } from "@connectrpc/connect-query";
import { useMemo, useState } from "react";
import { ScaleAction, ScalerService, type Decision, type WatchDecisionsResponse } from "../gen/clustergenie/scaler/v1/scaler_pb";
import { useClient } from "./context";
import { POLL_MS } from "./format";
import { useResumableStream } from "./stream";

export const DECISIONS_PAGE_SIZE = 20;
/** Live decisions kept above the listed pages. */
const MAX_LIVE = 500;
/** How long a scaling decision may wait for its job before the list stops asking. */
const JOB_WAIT_MS = 5 * 60_000;

const timeOf = (d: Decision) => (d.createTime ? timestampMs(d.createTime) : 0);

/**
 * Newest first, each id once. Of two copies of a decision the one that names
 * its job wins (the job is attached just after the decision is recorded, so
 * the streamed copy may lack it), else the earlier list's.
 */
export function mergeDecisions(...lists: readonly (readonly Decision[])[]): Decision[] {
  const byId = new Map<string, Decision>();
  for (const list of lists) {
    for (const d of list) {
      const seen = byId.get(d.id);
      if (!seen || (!seen.jobId && d.jobId)) byId.set(d.id, d);
    }
  }
  // A stable sort: equal times keep their order (live first, then the pages).
  return [...byId.values()].sort((a, b) => timeOf(b) - timeOf(a));
}

/** A scale-up or -down recorded lately whose job the list does not name yet. */
export function awaitingJob(d: Decision, now: number): boolean {
  return d.action !== ScaleAction.NONE && d.action !== ScaleAction.UNSPECIFIED && !d.jobId && now - timeOf(d) < JOB_WAIT_MS;
}

/** A cluster's decisions; the whole fleet's when `clusterId` is empty. */
export function useDecisions(clusterId: string, pageSize = DECISIONS_PAGE_SIZE) {
  const client = useClient(ScalerService);
  const list = useInfiniteQuery(
    ScalerService.method.listDecisions,
    { clusterId, pageSize, pageToken: "" },
    {
      pageParamKey: "pageToken",
      getNextPageParam: (last) => last.nextPageToken || undefined,
      // Poll while a fresh scaling decision waits for its job id.
      refetchInterval: (q) =>
        q.state.data?.pages[0]?.decisions.some((d) => awaitingJob(d, Date.now())) ? POLL_MS : false,
    },
  );
  const [live, setLive] = useState<readonly Decision[]>([]);

  const stream = useResumableStream<WatchDecisionsResponse>({
    key: clusterId,
    open: (_cursor, signal, attempt) => {
      // Reopened: what was recorded while the stream was down is listed again.
      if (attempt > 0) void list.refetch();
      return client.watchDecisions({ clusterId }, { signal });
    },
    onItem: ({ decision }) => {
      if (!decision || (clusterId && decision.clusterId !== clusterId)) return;
      setLive((prev) => mergeDecisions([decision], prev).slice(0, MAX_LIVE));
      // Its job is attached just after it is recorded: the next listing names it.
      if (awaitingJob(decision, Date.now())) void list.refetch();
    },
  });

  const decisions = useMemo(() => mergeDecisions(live, list.data?.pages.flatMap((p) => p.decisions) ?? []), [live, list.data]);
  return { decisions, list, stream };
}
