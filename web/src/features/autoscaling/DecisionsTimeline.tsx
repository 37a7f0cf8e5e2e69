// The decisions the scaler recorded for a cluster, newest first: listed,
// then streamed live above the list.
import type { InfiniteData, UseInfiniteQueryResult } from "@tanstack/react-query";
import type { ConnectError } from "@connectrpc/connect";
import { Link } from "wouter";
import { ScaleAction, type Decision, type ListDecisionsResponse } from "../../gen/clustergenie/scaler/v1/scaler_pb";
import { toUiError } from "../../lib/errors";
import { ago, shortId, time } from "../../lib/format";
import type { ResumableStream } from "../../lib/stream";
import { ErrorBanner } from "../../components/ErrorBanner";
import { LiveStatus } from "../../components/LiveStatus";
import { Badge } from "../../components/ui";
import { actionLabel, actionSlug, actionTone } from "../../components/scaleAction";
import { Reasons } from "./Reasons";

export function DecisionsTimeline({ clusterId, decisions, list, stream }: {
  clusterId: string;
  decisions: Decision[];
  list: UseInfiniteQueryResult<InfiniteData<ListDecisionsResponse>, ConnectError>;
  stream: ResumableStream;
}) {
  return (
    <section className="card" data-testid="decisions">
      <div className="card__head">
        <h2>Decisions</h2>
        <LiveStatus stream={stream} testid="decisions-live" />
        <button type="button" onClick={() => void list.refetch()} disabled={list.isFetching} data-testid="decisions-refresh">
          Refresh
        </button>
      </div>
      <ErrorBanner error={list.error ? toUiError(list.error) : null} />
      {stream.status === "stopped" && <ErrorBanner error={stream.error} />}
      {decisions.length === 0 ? (
        <p className="muted" data-testid="decisions-empty">
          {list.isPending ? "Loading…" : "No decisions yet; they appear here as the scaler makes them."}
        </p>
      ) : (
        <ol className="decisions" aria-live="polite">
          {decisions.map((d) => (
            <DecisionRow key={d.id} decision={d} clusterId={clusterId} />
          ))}
        </ol>
      )}
      {list.hasNextPage && (
        <button type="button" onClick={() => void list.fetchNextPage()} disabled={list.isFetchingNextPage} data-testid="decisions-more">
          Older decisions
        </button>
      )}
    </section>
  );
}

function DecisionRow({ decision: d, clusterId }: { decision: Decision; clusterId: string }) {
  return (
    <li
      className="decisions__row"
      data-testid="decision-row"
      data-decision-id={d.id}
      data-action={actionSlug(d.action)}
      data-current={d.currentDroplets}
      data-desired={d.desiredDroplets}
    >
      <span className="decisions__time" title={time(d.createTime)}>
        {ago(d.createTime)}
      </span>
      <span>
        <Badge tone={actionTone(d.action)} testid="decision-action">
          {actionLabel(d.action)}
        </Badge>
      </span>
      <span className="decisions__counts" data-testid="decision-counts">
        {d.currentDroplets} → {d.desiredDroplets}
      </span>
      <div className="decisions__body">
        <div data-testid="decision-explanation">{d.explanation}</div>
        <Reasons reasons={d.reasons} />
        {d.action === ScaleAction.SCALE_DOWN && d.removedDropletIds.length > 0 && (
          <div className="small" data-testid="decision-removed">
            Removes{" "}
            {d.removedDropletIds.map((id, i) => (
              <span key={id}>
                {i > 0 && ", "}
                <Link href={`/droplets/${id}`} title={id}>
                  {shortId(id)}
                </Link>
              </span>
            ))}
          </div>
        )}
        <div className="small muted">
          {d.jobId ? (
            <Link href={`/jobs/${d.jobId}`} data-testid="decision-job-link">
              job {shortId(d.jobId)}
            </Link>
          ) : d.action !== ScaleAction.NONE ? (
            <span data-testid="decision-job-pending">job starting…</span>
          ) : null}
          {(d.jobId || d.action !== ScaleAction.NONE) && " · "}
          <Link href={`/monitoring?cluster=${encodeURIComponent(clusterId)}&range=1h`} data-testid="decision-metrics-link">
            CPU around then
          </Link>
        </div>
      </div>
    </li>
  );
}
