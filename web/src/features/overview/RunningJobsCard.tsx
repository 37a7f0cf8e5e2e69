// The jobs not finished yet (running, then queued), with their progress: one
// ListJobs per status, polled every few seconds while any is listed; the
// activity section also refreshes them when a job entry arrives.
import { useQuery } from "@connectrpc/connect-query";
import { Link } from "wouter";
import { JobService, JobStatus, type Job, type ListJobsResponse } from "../../gen/clustergenie/jobs/v1/jobs_pb";
import { HEALTH_POLL_MS, POLL_MS, ago, describeAction, isTerminalJob, jobKindLabel, jobStatusLabel } from "../../lib/format";
import { useNow } from "../../lib/hooks";
import { uiError } from "../../lib/query";
import { ErrorBanner } from "../../components/ErrorBanner";
import { jobTone } from "../../components/jobTone";
import { Badge, Loading, ProgressBar } from "../../components/ui";
import { useNames } from "./fleet";

/** Jobs listed per status; a note says when there are more. */
export const RUNNING_JOBS_PAGE_SIZE = 50;

/** Fast while a job moves, slow while waiting for one to appear. */
const poll = (q: { state: { data?: ListJobsResponse | undefined } }) => (q.state.data?.jobs.length ? POLL_MS : HEALTH_POLL_MS);

/** The lists' unfinished jobs, each once: a job that moved on between the two answers shows once, one that finished not at all. */
function unfinished(...lists: readonly Job[][]): Job[] {
  const byId = new Map<string, Job>();
  for (const list of lists) {
    for (const j of list) if (!isTerminalJob(j.status) && !byId.has(j.id)) byId.set(j.id, j);
  }
  return [...byId.values()];
}

export function RunningJobsCard() {
  const running = useQuery(JobService.method.listJobs, { status: JobStatus.RUNNING, pageSize: RUNNING_JOBS_PAGE_SIZE }, { refetchInterval: poll });
  const queued = useQuery(JobService.method.listJobs, { status: JobStatus.QUEUED, pageSize: RUNNING_JOBS_PAGE_SIZE }, { refetchInterval: poll });
  const names = useNames();
  const now = useNow(10_000);
  const jobs = unfinished(running.data?.jobs ?? [], queued.data?.jobs ?? []);
  const more = !!(running.data?.nextPageToken || queued.data?.nextPageToken);
  const loaded = running.data || queued.data;

  return (
    <section className="card" data-testid="overview-jobs">
      <div className="card__head">
        <h2>
          <Link href="/jobs">Running jobs</Link>
        </h2>
        {loaded && (
          <span className="muted" data-testid="overview-jobs-count" data-count={jobs.length}>
            {jobs.length}
            {more ? "+" : ""} unfinished
          </span>
        )}
      </div>
      <ErrorBanner error={uiError(running.error, queued.error)} />
      {running.isPending && queued.isPending ? (
        <Loading />
      ) : (
        loaded &&
        (jobs.length === 0 ? (
          <p className="muted" data-testid="overview-jobs-empty">
            No job is queued or running.
          </p>
        ) : (
          <ul className="activity" data-testid="overview-jobs-list">
            {jobs.map((j) => (
              <JobRow key={j.id} job={j} cluster={names.cluster(j.clusterId)} now={now} />
            ))}
          </ul>
        ))
      )}
      {more && (
        <p className="small muted">
          More are listed on the <Link href="/jobs">Jobs</Link> page.
        </p>
      )}
    </section>
  );
}

function JobRow({ job: j, cluster, now }: { job: Job; cluster: string; now: number }) {
  return (
    <li data-testid="overview-job" data-job-id={j.id} data-status={jobStatusLabel(j.status)}>
      <div className="row">
        <Badge tone={jobTone(j.status)} testid="overview-job-status">
          {jobStatusLabel(j.status)}
        </Badge>
        <Link href={`/jobs/${j.id}`} data-testid="overview-job-link">
          {jobKindLabel(j.kind)}
        </Link>
        <span className="muted small">
          {cluster} · {describeAction(j.action)} · {ago(j.createTime, now)}
          {j.requestedBy && ` by ${j.requestedBy}`}
        </span>
      </div>
      <ProgressBar value={j.progress} testid="overview-job-progress" label={`${jobKindLabel(j.kind)} progress`} />
      {j.message && <div className="small muted">{j.message}</div>}
    </li>
  );
}
