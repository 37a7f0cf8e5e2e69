import { Link } from "wouter";
import { JobService, type Job } from "../../gen/clustergenie/jobs/v1/jobs_pb";
import { ClusterService, DropletService } from "../../gen/clustergenie/provisioning/v1/provisioning_pb";
import { useClient } from "../../lib/context";
import { JOB_STATUSES, ago, describeAction, dropletStatusLabel, jobKindLabel, jobStatusLabel } from "../../lib/format";
import { useNow, useRpc } from "../../lib/hooks";
import { ErrorBanner } from "../../components/ErrorBanner";
import { Badge, Loading, PageHeader } from "../../components/ui";
import { jobTone } from "../jobs/JobDetailPage";

/** Pages through a list (at most `maxPages` of 1000) and says whether it stopped early. */
async function collect<T>(
  fetch: (pageToken: string) => Promise<{ items: T[]; next: string }>,
  maxPages = 3,
): Promise<{ items: T[]; truncated: boolean }> {
  const items: T[] = [];
  let token = "";
  for (let i = 0; i < maxPages; i++) {
    const page = await fetch(token);
    items.push(...page.items);
    token = page.next;
    if (!token) return { items, truncated: false };
  }
  return { items, truncated: true };
}

export function OverviewPage() {
  const clusters = useClient(ClusterService);
  const droplets = useClient(DropletService);
  const jobs = useClient(JobService);
  const now = useNow(10_000);
  const data = useRpc(
    async (signal) => {
      const [c, d, j] = await Promise.all([
        collect(async (pageToken) => {
          const r = await clusters.listClusters({ pageSize: 1000, pageToken }, { signal });
          return { items: r.clusters, next: r.nextPageToken };
        }),
        collect(async (pageToken) => {
          const r = await droplets.listDroplets({ pageSize: 1000, pageToken }, { signal });
          return { items: r.droplets, next: r.nextPageToken };
        }),
        collect(async (pageToken) => {
          const r = await jobs.listJobs({ pageSize: 1000, pageToken }, { signal });
          return { items: r.jobs, next: r.nextPageToken };
        }, 2),
      ]);
      return { clusters: c, droplets: d, jobs: j };
    },
    [clusters, droplets, jobs],
  );
  const v = data.data;
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
        <button type="button" onClick={data.reload} disabled={data.loading} data-testid="overview-refresh">
          Refresh
        </button>
      </PageHeader>
      <ErrorBanner error={data.error} />
      {!v ? (
        data.loading && <Loading />
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
