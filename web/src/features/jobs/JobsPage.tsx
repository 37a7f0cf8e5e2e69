import { useMemo, useState } from "react";
import { useQuery } from "@connectrpc/connect-query";
import { keepPreviousData } from "@tanstack/react-query";
import { Link } from "wouter";
import { JobKind, JobService, JobStatus } from "../../gen/clustergenie/jobs/v1/jobs_pb";
import { ClusterService } from "../../gen/clustergenie/provisioning/v1/provisioning_pb";
import { Role } from "../../lib/auth";
import { JOB_KINDS, JOB_STATUSES, POLL_MS, ago, describeAction, isTerminalJob, jobKindLabel, jobStatusLabel, shortId } from "../../lib/format";
import { useNow } from "../../lib/hooks";
import { usePages } from "../../lib/pages";
import { uiError } from "../../lib/query";
import { ErrorBanner } from "../../components/ErrorBanner";
import { jobTone } from "../../components/jobTone";
import { ClusterFilter } from "../../components/Pickers";
import { ResizeJobForm } from "../../components/ResizeJobForm";
import { Badge, Can, Loading, PageHeader, Pager, ProgressBar } from "../../components/ui";

export function JobsPage() {
  const pages = usePages();
  const now = useNow(10_000);
  const [clusterId, setClusterId] = useState("");
  const [status, setStatus] = useState<JobStatus>(JobStatus.UNSPECIFIED);
  const [kind, setKind] = useState<JobKind>(JobKind.UNSPECIFIED);
  const [showResize, setShowResize] = useState(false);
  const clusters = useQuery(ClusterService.method.listClusters, { pageSize: 1000 });
  const names = useMemo(
    () => new Map((clusters.data?.clusters ?? []).map((c) => [c.id, c.name])),
    [clusters.data],
  );
  const list = useQuery(
    JobService.method.listJobs,
    { pageSize: 25, pageToken: pages.token, clusterId, status, kind },
    {
      placeholderData: keepPreviousData,
      // Queued or running jobs move on: look again.
      refetchInterval: (q) => (q.state.data?.jobs.some((j) => !isTerminalJob(j.status)) ? POLL_MS : false),
    },
  );
  const filter = (f: () => void) => {
    f();
    pages.reset();
  };

  return (
    <>
      <PageHeader title="Jobs">
        <Can role={Role.OPERATOR}>
          <button type="button" onClick={() => setShowResize((s) => !s)} data-testid="jobs-new-resize">
            {showResize ? "Close" : "New resize job"}
          </button>
        </Can>
        <button type="button" onClick={() => void list.refetch()} disabled={list.isFetching} data-testid="jobs-refresh">
          Refresh
        </button>
      </PageHeader>
      {showResize && <ResizeJobForm />}
      <ErrorBanner error={uiError(list.error, clusters.error)} />
      <section className="card">
        <div className="filters">
          <ClusterFilter
            clusters={clusters.data?.clusters ?? []}
            value={clusterId}
            onChange={(id) => filter(() => setClusterId(id))}
            testid="jobs-filter-cluster"
          />
          <label>
            Status{" "}
            <select value={status} onChange={(e) => filter(() => setStatus(Number(e.target.value)))} data-testid="jobs-filter-status">
              <option value={JobStatus.UNSPECIFIED}>Any</option>
              {JOB_STATUSES.map((s) => (
                <option key={s} value={s}>
                  {jobStatusLabel(s)}
                </option>
              ))}
            </select>
          </label>
          <label>
            Kind{" "}
            <select value={kind} onChange={(e) => filter(() => setKind(Number(e.target.value)))} data-testid="jobs-filter-kind">
              <option value={JobKind.UNSPECIFIED}>Any</option>
              {JOB_KINDS.map((k) => (
                <option key={k} value={k}>
                  {jobKindLabel(k)}
                </option>
              ))}
            </select>
          </label>
        </div>
        {list.isPending ? (
          <Loading />
        ) : list.error && !list.data ? (
          <p className="muted">Jobs could not be loaded.</p>
        ) : (list.data?.jobs.length ?? 0) === 0 ? (
          <p className="muted" data-testid="jobs-empty">No jobs match.</p>
        ) : (
          <table className="table" data-testid="jobs-table">
            <thead>
              <tr>
                <th>Job</th>
                <th>Kind</th>
                <th>Cluster</th>
                <th>What</th>
                <th>Status</th>
                <th>Progress</th>
                <th>Created</th>
              </tr>
            </thead>
            <tbody>
              {list.data?.jobs.map((j) => (
                <tr key={j.id} data-testid="job-row" data-job-id={j.id}>
                  <td>
                    <Link href={`/jobs/${j.id}`} className="mono" data-testid="job-link">
                      {shortId(j.id)}
                    </Link>
                  </td>
                  <td>{jobKindLabel(j.kind)}</td>
                  <td>{names.get(j.clusterId) ?? shortId(j.clusterId)}</td>
                  <td className="muted small">{describeAction(j.action)}</td>
                  <td>
                    <Badge tone={jobTone(j.status)}>{jobStatusLabel(j.status)}</Badge>
                  </td>
                  <td className="progress-cell">
                    <ProgressBar value={j.progress} />
                  </td>
                  <td title={j.requestedBy}>{ago(j.createTime, now)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <Pager
          testid="jobs-pager"
          page={pages.index}
          hasNext={!!list.data?.nextPageToken}
          onPrev={pages.prev}
          onNext={() => pages.next(list.data?.nextPageToken ?? "")}
        />
      </section>
    </>
  );
}
