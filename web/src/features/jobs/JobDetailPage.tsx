import { useState } from "react";
import { create } from "@bufbuild/protobuf";
import { useMutation, useTransport } from "@connectrpc/connect-query";
import { useQueryClient } from "@tanstack/react-query";
import { Link } from "wouter";
import { GetJobResponseSchema, JobService, JobStatus, type Job } from "../../gen/clustergenie/jobs/v1/jobs_pb";
import { Role } from "../../lib/auth";
import { describeAction, isTerminalJob, jobKindLabel, jobStatusLabel, time } from "../../lib/format";
import { uiError, useInvalidate } from "../../lib/query";
import { ErrorBanner } from "../../components/ErrorBanner";
import { jobTone } from "../../components/jobTone";
import { Badge, Can, Loading, PageHeader, ProgressBar } from "../../components/ui";
import { jobKey, useLiveJob } from "../../lib/useLiveJob";

export function JobDetailPage({ id }: { id: string }) {
  const transport = useTransport();
  const queryClient = useQueryClient();
  const invalidate = useInvalidate();
  const [generation, setGeneration] = useState(0);
  const { job, error, live } = useLiveJob(id, generation);
  // CancelJob and RetryJob answer with the job: that is its state now.
  const settle = (res: { job?: Job | undefined }) => {
    if (res.job) queryClient.setQueryData(jobKey(transport, id), create(GetJobResponseSchema, { job: res.job }));
    return invalidate(JobService.method.listJobs);
  };
  const cancel = useMutation(JobService.method.cancelJob, { onSuccess: settle });
  const retry = useMutation(JobService.method.retryJob, {
    onSuccess: (res) => {
      // Queued again: follow it again.
      setGeneration((g) => g + 1);
      return settle(res);
    },
  });

  return (
    <>
      <PageHeader title="Job">
        <Link href="/jobs">← All jobs</Link>
      </PageHeader>
      <ErrorBanner error={error ?? uiError(cancel.error, retry.error)} />
      {!job ? (
        !error && <Loading />
      ) : (
        <section className="card" data-testid="job-detail" data-job-id={job.id}>
          <div className="job-head">
            <h2>
              {jobKindLabel(job.kind)} <span className="muted mono small">{job.id}</span>
            </h2>
            <Badge tone={jobTone(job.status)} testid="job-status">
              {jobStatusLabel(job.status)}
              {job.cancelRequested && !isTerminalJob(job.status) ? " (cancel requested)" : ""}
            </Badge>
            {live && !isTerminalJob(job.status) && (
              <span className="live" data-testid="job-live">
                ● live
              </span>
            )}
          </div>
          <ProgressBar value={job.progress} testid="job-progress" label="Job progress" />
          <p data-testid="job-message">{job.message || "\u00a0"}</p>
          {job.error && (
            <div className="banner banner--error" data-testid="job-error">
              {job.error}
            </div>
          )}
          <JobFacts job={job} />
          <Can role={Role.OPERATOR}>
            <div className="row">
              {!isTerminalJob(job.status) && (
                <button type="button" className="danger" onClick={() => cancel.mutate({ id })} disabled={cancel.isPending || job.cancelRequested} data-testid="job-cancel">
                  {job.cancelRequested ? "Cancelling…" : "Cancel job"}
                </button>
              )}
              {(job.status === JobStatus.FAILED || job.status === JobStatus.CANCELLED) && (
                <button type="button" onClick={() => retry.mutate({ id })} disabled={retry.isPending} data-testid="job-retry">
                  Retry
                </button>
              )}
            </div>
          </Can>
        </section>
      )}
    </>
  );
}

function JobFacts({ job }: { job: Job }) {
  const r = job.result;
  return (
    <dl className="facts">
      <dt>Action</dt>
      <dd data-testid="job-action">{describeAction(job.action)}</dd>
      <dt>Cluster</dt>
      <dd>
        <Link href={`/clusters/${job.clusterId}`}>{job.clusterId}</Link>
      </dd>
      <dt>Attempts</dt>
      <dd>
        {job.attempts} of {job.maxAttempts}
        {job.nextAttemptTime && ` · next attempt ${time(job.nextAttemptTime)}`}
      </dd>
      <dt>Requested by</dt>
      <dd>
        {job.requestedBy || "—"} ({jobSourceLabel(job.source)})
      </dd>
      <dt>Created</dt>
      <dd>{time(job.createTime)}</dd>
      <dt>Started</dt>
      <dd>{time(job.startTime)}</dd>
      <dt>Finished</dt>
      <dd>{time(job.finishTime)}</dd>
      {r && (r.createdDropletIds.length > 0 || r.destroyedDropletIds.length > 0 || r.affectedDropletIds.length > 0) && (
        <>
          <dt>Result</dt>
          <dd data-testid="job-result">
            {r.createdDropletIds.length > 0 && <div>created: {r.createdDropletIds.map((d) => <DropletLink key={d} id={d} />)}</div>}
            {r.destroyedDropletIds.length > 0 && <div>destroyed: {r.destroyedDropletIds.join(", ")}</div>}
            {r.affectedDropletIds.length > 0 && <div>affected: {r.affectedDropletIds.map((d) => <DropletLink key={d} id={d} />)}</div>}
          </dd>
        </>
      )}
      {job.traceId && (
        <>
          <dt>Trace</dt>
          <dd className="mono small">{job.traceId}</dd>
        </>
      )}
    </dl>
  );
}

function DropletLink({ id }: { id: string }) {
  return (
    <Link href={`/droplets/${id}`} className="mono small id-link">
      {id}
    </Link>
  );
}

function jobSourceLabel(s: number): string {
  return ["user", "user", "diagnosis", "scaler"][s] ?? String(s);
}
