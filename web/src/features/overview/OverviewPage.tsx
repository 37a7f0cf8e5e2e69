import { Link } from "wouter";
import { JobService, type Job } from "../../gen/clustergenie/jobs/v1/jobs_pb";
import { ClusterService, DropletService } from "../../gen/clustergenie/provisioning/v1/provisioning_pb";
import { JOB_STATUSES, ago, describeAction, dropletStatusLabel, jobKindLabel, jobStatusLabel } from "../../lib/format";
import { useNow } from "../../lib/hooks";
import { uiError } from "../../lib/query";
import { ErrorBanner } from "../../components/ErrorBanner";
import { jobTone } from "../../components/jobTone";
import { Badge, Loading, PageHeader } from "../../components/ui";
import { useAllPages } from "./useAllPages";

export function OverviewPage() {
  const now = useNow(10_000);
  const clusters = useAllPages(ClusterService.method.listClusters, { pageSize: 1000 }, (r) => ({ items: r.clusters, next: r.nextPageToken }));
  const droplets = useAllPages(DropletService.method.listDroplets, { pageSize: 1000 }, (r) => ({ items: r.droplets, next: r.nextPageToken }));
  const jobs = useAllPages(JobService.method.listJobs, { pageSize: 1000 }, (r) => ({ items: r.jobs, next: r.nextPageToken }), 2);
  const all = [clusters, droplets, jobs];
  const data =
    clusters.data && droplets.data && jobs.data
      ? { clusters: clusters.data, droplets: droplets.data, jobs: jobs.data }
      : undefined;
  const refresh = () => all.forEach((q) => void q.refetch());
  const v = data;
  const plus = (t: boolean) => (t ? "+" : "");
  const countBy = <T,>(items: T[], key: (t: T) => number) => {
    const m = new Map<number, number>();
    for (const it of items) m.set(key(it), (m.get(key(it)) ?? 0) + 1);
    return m;
  };
  const jobCounts = v ? countBy(v.jobs.items, (j) => j.status) : new Map<number, number>();
  const dropletCounts = v ? countBy(v.droplets.items, (d) => d.status) : new Map<number, number>();
  const monthlyCents = v ? v.clusters.items.reduce((s, c) => s + Number(c.cost?.monthlyCents ?? 0n), 0) : 0;

  return (
    <>
      <PageHeader title="Overview">
        <button type="button" onClick={refresh} disabled={all.some((q) => q.isFetching)} data-testid="overview-refresh">
          Refresh
        </button>
      </PageHeader>
      <ErrorBanner error={uiError(...all.map((q) => q.error))} />
      {!v ? (
        all.some((q) => q.isPending) && <Loading />
      ) : (
        <>
          <div className="stats">
            <Link href="/clusters" className="stat" data-testid="stat-clusters">
              <span className="stat__n">
                {v.clusters.items.length}
                {plus(v.clusters.truncated)}
              </span>
              <span className="stat__label">clusters · ${(monthlyCents / 100).toFixed(2)}/mo</span>
            </Link>
            <Link href="/droplets" className="stat" data-testid="stat-droplets">
              <span className="stat__n">
                {v.droplets.items.length}
                {plus(v.droplets.truncated)}
              </span>
              <span className="stat__label">
                droplets ·{" "}
                {[...dropletCounts.entries()].map(([s, n]) => `${n} ${dropletStatusLabel(s)}`).join(", ") || "none"}
              </span>
            </Link>
            <Link href="/jobs" className="stat" data-testid="stat-jobs">
              <span className="stat__n">
                {v.jobs.items.length}
                {plus(v.jobs.truncated)}
              </span>
              <span className="stat__label">jobs</span>
            </Link>
          </div>
          <section className="card">
            <h2>Jobs by status</h2>
            <div className="status-counts" data-testid="jobs-by-status">
              {JOB_STATUSES.map((s) => (
                <div key={s} className="status-count" data-testid={`jobs-${jobStatusLabel(s)}`}>
                  <Badge tone={jobTone(s)}>{jobStatusLabel(s)}</Badge>
                  <span className="status-count__n">{jobCounts.get(s) ?? 0}</span>
                </div>
              ))}
            </div>
          </section>
          <section className="card">
            <h2>Recent activity</h2>
            <RecentJobs jobs={v.jobs.items.slice(0, 10)} now={now} />
          </section>
        </>
      )}
    </>
  );
}

function RecentJobs({ jobs, now }: { jobs: Job[]; now: number }) {
  if (jobs.length === 0) return <p className="muted">Nothing has happened yet.</p>;
  return (
    <ul className="activity" data-testid="recent-activity">
      {jobs.map((j) => (
        <li key={j.id}>
          <Badge tone={jobTone(j.status)}>{jobStatusLabel(j.status)}</Badge>{" "}
          <Link href={`/jobs/${j.id}`}>{jobKindLabel(j.kind)}</Link> — {describeAction(j.action)}
          {j.message && <span className="muted"> · {j.message}</span>}
          <span className="muted small"> · {ago(j.createTime, now)}{j.requestedBy && ` by ${j.requestedBy}`}</span>
        </li>
      ))}
    </ul>
  );
}
