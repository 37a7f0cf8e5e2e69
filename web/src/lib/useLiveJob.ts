// A job followed live: the job page, and a diagnosis's implemented
// recommendation.
import { useEffect, useState } from "react";
import { create } from "@bufbuild/protobuf";
import { createConnectQueryKey, useQuery, useTransport } from "@connectrpc/connect-query";
import { useQueryClient } from "@tanstack/react-query";
import { GetJobResponseSchema, JobService, type Job } from "../gen/clustergenie/jobs/v1/jobs_pb";
import { ClusterService, DropletService } from "../gen/clustergenie/provisioning/v1/provisioning_pb";
import { useClient } from "./context";
import { toUiError, type UiError } from "./errors";
import { isTerminalJob } from "./format";
import { follow } from "./live";
import { useInvalidate } from "./query";

/** The GetJob query key a job's live state is written under. */
export function jobKey(transport: ReturnType<typeof useTransport>, id: string) {
  return createConnectQueryKey({ schema: JobService.method.getJob, input: { id }, transport, cardinality: "finite" });
}

/**
 * The job as WatchJob streams it (current state, then each change, until
 * terminal); GetJob polling if the stream is unavailable. Each state goes into
 * the GetJob query cache, which the page reads; a terminal job invalidates the
 * lists it may have changed. Bump `generation` to follow again (after a retry
 * re-queued it).
 */
export function useLiveJob(id: string, generation = 0) {
  const client = useClient(JobService);
  const transport = useTransport();
  const queryClient = useQueryClient();
  const invalidate = useInvalidate();
  // Filled only by the follower below, never fetched on its own.
  const job = useQuery(JobService.method.getJob, { id }, { enabled: false }).data?.job;
  const run = `${id}#${generation}`;
  const [ended, setEnded] = useState<string | null>(null);
  const [failure, setFailure] = useState<{ run: string; error: UiError } | null>(null);

  useEffect(() => {
    const run = `${id}#${generation}`;
    const key = jobKey(transport, id);
    const ctrl = new AbortController();
    void follow({
      signal: ctrl.signal,
      watch: (signal) => jobs(client.watchJob({ id }, { signal })),
      poll: async (signal) => (await client.getJob({ id }, { signal })).job,
      isDone: (j) => isTerminalJob(j.status),
      onUpdate: (j: Job) => {
        queryClient.setQueryData(key, create(GetJobResponseSchema, { job: j }));
        setFailure(null);
        if (isTerminalJob(j.status)) void invalidate(JobService.method.listJobs, ClusterService, DropletService);
      },
      onError: (e) => setFailure({ run, error: toUiError(e) }),
    }).finally(() => {
      if (!ctrl.signal.aborted) setEnded(run);
    });
    return () => ctrl.abort();
  }, [client, transport, queryClient, invalidate, id, generation]);

  return { job, error: failure?.run === run ? failure.error : null, live: ended !== run };
}

async function* jobs(s: AsyncIterable<{ job?: Job | undefined }>) {
  for await (const r of s) yield r.job;
}
