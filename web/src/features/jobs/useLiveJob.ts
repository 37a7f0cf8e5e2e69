import { useEffect, useState } from "react";
import { JobService, type Job } from "../../gen/clustergenie/jobs/v1/jobs_pb";
import { useClient } from "../../lib/context";
import { toUiError, type UiError } from "../../lib/errors";
import { isTerminalJob } from "../../lib/format";
import { follow } from "../../lib/live";

/**
 * The job as WatchJob streams it (current state, then each change, until
 * terminal); GetJob polling if the stream is unavailable. Bump `generation`
 * to follow again (after a retry re-queued it).
 */
export function useLiveJob(id: string, generation = 0) {
  const client = useClient(JobService);
  const [job, setJob] = useState<Job | null>(null);
  const [error, setError] = useState<UiError | null>(null);
  const [live, setLive] = useState(false);

  useEffect(() => {
    const ctrl = new AbortController();
    setError(null);
    setLive(true);
    void follow({
      signal: ctrl.signal,
      watch: (signal) => jobs(client.watchJob({ id }, { signal })),
      poll: async (signal) => (await client.getJob({ id }, { signal })).job,
      isDone: (j) => isTerminalJob(j.status),
      onUpdate: (j) => {
        setJob(j);
        setError(null);
      },
      onError: (e) => setError(toUiError(e)),
    }).finally(() => {
      if (!ctrl.signal.aborted) setLive(false);
    });
    return () => ctrl.abort();
  }, [client, id, generation]);

  return { job, setJob, error, live };
}

async function* jobs(s: AsyncIterable<{ job?: Job | undefined }>) {
  for await (const r of s) yield r.job;
}
