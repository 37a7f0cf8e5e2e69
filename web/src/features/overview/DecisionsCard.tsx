// The scaler's latest decisions across the fleet: listed, then streamed live
// above the list (lib/decisions, as the autoscaling page follows one cluster).
import { Link } from "wouter";
import { ScaleAction, type Decision } from "../../gen/clustergenie/scaler/v1/scaler_pb";
import { useDecisions } from "../../lib/decisions";
import { ago, shortId, time } from "../../lib/format";
import { uiError } from "../../lib/query";
import { ErrorBanner } from "../../components/ErrorBanner";
import { LiveStatus } from "../../components/LiveStatus";
import { actionLabel, actionSlug, actionTone } from "../../components/scaleAction";
import { Badge, Loading } from "../../components/ui";
import { useNames, type Names } from "./fleet";

/** Decisions shown (and listed per page). */
export const OVERVIEW_DECISIONS = 5;

export function DecisionsCard() {
  const { decisions, list, stream } = useDecisions("", OVERVIEW_DECISIONS);
  const names = useNames();
  const latest = decisions.slice(0, OVERVIEW_DECISIONS);
  return (
    <section className="card" data-testid="overview-decisions">
      <div className="card__head">
        <h2>
          <Link href="/autoscaling">Scaler decisions</Link>
        </h2>
        <LiveStatus stream={stream} testid="overview-decisions-live" />
      </div>
      <ErrorBanner error={uiError(list.error)} />
      {stream.status === "stopped" && <ErrorBanner error={stream.error} />}
      {latest.length > 0 ? (
        <ol className="decisions" aria-live="polite" data-testid="overview-decisions-list">
          {latest.map((d) => (
            <DecisionRow key={d.id} decision={d} names={names} />
          ))}
        </ol>
      ) : list.isPending ? (
        <Loading />
      ) : (
        !list.error && (
          <p className="muted" data-testid="overview-decisions-empty">
            No decisions yet; they appear here as the scaler makes them.
          </p>
        )
      )}
    </section>
  );
}

function DecisionRow({ decision: d, names }: { decision: Decision; names: Names }) {
  return (
    <li
      className="decisions__row"
      data-testid="overview-decision"
      data-decision-id={d.id}
      data-cluster-id={d.clusterId}
      data-action={actionSlug(d.action)}
    >
      <span className="decisions__time" title={time(d.createTime)}>
        {ago(d.createTime)}
      </span>
      <span>
        <Badge tone={actionTone(d.action)}>{actionLabel(d.action)}</Badge>
      </span>
      <span className="decisions__counts">
        {d.currentDroplets} → {d.desiredDroplets}
      </span>
      <div className="decisions__body">
        <div>
          <Link href={`/autoscaling?cluster=${encodeURIComponent(d.clusterId)}`} data-testid="overview-decision-cluster">
            {names.cluster(d.clusterId)}
          </Link>
          {d.jobId ? (
            <>
              {" · "}
              <Link href={`/jobs/${d.jobId}`} className="small">
                job {shortId(d.jobId)}
              </Link>
            </>
          ) : (
            d.action !== ScaleAction.NONE && <span className="small muted"> · job starting…</span>
          )}
        </div>
        <div className="small muted">{d.explanation}</div>
      </div>
    </li>
  );
}
