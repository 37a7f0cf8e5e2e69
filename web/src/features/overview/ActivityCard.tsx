// The fleet's activity as it happens (lib/activity's log: the newest entries,
// then StreamActivity resuming from the last cursor). An entry about a job,
// diagnosis, droplet or health check also refreshes the section that lists
// it, so the page follows without waiting for its next poll.
import type { DescMethodUnary } from "@bufbuild/protobuf";
import { Link } from "wouter";
import { DiagnosisService } from "../../gen/clustergenie/diagnosis/v1/diagnosis_pb";
import { JobService } from "../../gen/clustergenie/jobs/v1/jobs_pb";
import type { ActivityEntry } from "../../gen/clustergenie/monitoring/v1/monitoring_pb";
import { ClusterService, DropletService } from "../../gen/clustergenie/provisioning/v1/provisioning_pb";
import { ALL_ACTIVITY, useActivityLog } from "../../lib/activity";
import { useDashboardConfig } from "../../lib/dashboardConfig";
import { uiError, useInvalidate } from "../../lib/query";
import { ActivityRow } from "../../components/ActivityRow";
import { ErrorBanner } from "../../components/ErrorBanner";
import { LiveStatus } from "../../components/LiveStatus";
import { Loading } from "../../components/ui";

/** Entries shown (and listed before the stream starts). */
export const OVERVIEW_ACTIVITY = 15;

/** Entry kind prefix → the lists it changes. */
const REFRESHES: readonly [prefix: string, lists: readonly DescMethodUnary[]][] = [
  ["job.", [JobService.method.listJobs]],
  ["diagnosis.", [DiagnosisService.method.listDiagnoses]],
  ["droplet.", [ClusterService.method.listClusters, DropletService.method.listDroplets]],
  ["action.", [ClusterService.method.listClusters, DropletService.method.listDroplets]],
  ["health.", [ClusterService.method.listClusters]],
];

export function ActivityCard() {
  const invalidate = useInvalidate();
  const { entries, list, stream, listError, expired } = useActivityLog(ALL_ACTIVITY, {
    pageSize: OVERVIEW_ACTIVITY,
    onEntry: (e: ActivityEntry) => {
      for (const [prefix, lists] of REFRESHES) if (e.kind.startsWith(prefix)) void invalidate(...lists);
    },
  });
  const { traceUrl } = useDashboardConfig();
  const latest = entries.slice(0, OVERVIEW_ACTIVITY);
  return (
    <section className="card" data-testid="overview-activity">
      <div className="card__head">
        <h2>
          <Link href="/monitoring/activity">Activity</Link>
        </h2>
        <LiveStatus stream={stream} testid="overview-activity-live" />
      </div>
      <ErrorBanner error={uiError(listError)} />
      {stream.status === "stopped" && !expired && <ErrorBanner error={stream.error} />}
      {latest.length > 0 ? (
        <ol className="activity-log" aria-live="polite" data-testid="overview-activity-list">
          {latest.map((e) => (
            <ActivityRow key={e.id} entry={e} traceUrl={traceUrl} />
          ))}
        </ol>
      ) : list.isPending ? (
        <Loading />
      ) : (
        !listError && (
          <p className="muted" data-testid="overview-activity-empty">
            Nothing has happened yet; new entries appear here as they happen.
          </p>
        )
      )}
    </section>
  );
}
