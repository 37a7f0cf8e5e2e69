// The fleet's activity log, filtered: the list and its live stream come from
// lib/activity's useActivityLog (the overview shows the same log unfiltered).
import { useState } from "react";
import { ActivitySeverity, AlertService } from "../../gen/clustergenie/monitoring/v1/monitoring_pb";
import { severityLabel, useActivityLog, type ActivityFilters } from "../../lib/activity";
import { useDashboardConfig } from "../../lib/dashboardConfig";
import { useDebounced } from "../../lib/hooks";
import { uiError, useInvalidate } from "../../lib/query";
import { useSelection } from "../../lib/selection";
import { ActivityRow } from "../../components/ActivityRow";
import { ErrorBanner } from "../../components/ErrorBanner";
import { LiveStatus } from "../../components/LiveStatus";
import { SEVERITIES, SOURCES } from "./labels";

export function ActivityPage() {
  const sel = useSelection();
  const [source, setSource] = useState("");
  const [kind, setKind] = useState("");
  const [minSeverity, setMinSeverity] = useState(ActivitySeverity.UNSPECIFIED);
  const [text, setText] = useState("");
  const typedKind = useDebounced(kind.trim(), 300);
  const typedText = useDebounced(text.trim(), 300);
  const filters: ActivityFilters = { clusterId: sel.cluster, source, kind: typedKind, minSeverity, text: typedText };

  return (
    <>
      <div className="filters card" data-testid="activity-filters">
        <label>
          Source{" "}
          <select value={source} onChange={(e) => setSource(e.target.value)} data-testid="activity-source">
            <option value="">All</option>
            {SOURCES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Kind{" "}
          <input
            value={kind}
            onChange={(e) => setKind(e.target.value)}
            placeholder="job. or droplet.created"
            data-testid="activity-kind"
          />
        </label>
        <label>
          At least{" "}
          <select
            value={minSeverity}
            onChange={(e) => setMinSeverity(Number(e.target.value) as ActivitySeverity)}
            data-testid="activity-severity"
          >
            <option value={ActivitySeverity.UNSPECIFIED}>any severity</option>
            {SEVERITIES.map((s) => (
              <option key={s} value={s}>
                {severityLabel(s)}
              </option>
            ))}
          </select>
        </label>
        <label>
          Text{" "}
          <input value={text} maxLength={100} onChange={(e) => setText(e.target.value)} data-testid="activity-text" />
        </label>
      </div>
      {/* New filters: a new list and a new stream. */}
      <ActivityLog key={JSON.stringify(filters)} filters={filters} marked={sel.params.get("entry")} />
    </>
  );
}

/** `marked`: the entry a link points at (`?entry=…`), highlighted when listed. */
function ActivityLog({ filters, marked }: { filters: ActivityFilters; marked: string | null }) {
  const invalidate = useInvalidate();
  const { entries, list, stream, listError, expired } = useActivityLog(filters, {
    onEntry: (e) => {
      if (e.kind.startsWith("alert.")) void invalidate(AlertService.method.listAlerts);
    },
  });
  const { traceUrl } = useDashboardConfig();

  return (
    <section className="card" data-testid="activity-log">
      <div className="card__head">
        <h2>Activity</h2>
        <LiveStatus stream={stream} testid="activity-live" />
      </div>
      <ErrorBanner error={uiError(listError)} />
      {stream.status === "stopped" && !expired && <ErrorBanner error={stream.error} />}
      {entries.length === 0 ? (
        <p className="muted" data-testid="activity-empty">
          {list.isPending ? "Loading…" : "Nothing matches yet; new entries appear here as they happen."}
        </p>
      ) : (
        <ol className="activity-log" aria-live="polite">
          {entries.map((e) => (
            <ActivityRow key={e.id} entry={e} marked={e.id === marked} traceUrl={traceUrl} />
          ))}
        </ol>
      )}
      {list.hasNextPage && (
        <button type="button" onClick={() => void list.fetchNextPage()} disabled={list.isFetchingNextPage} data-testid="activity-more">
          Older entries
        </button>
      )}
    </section>
  );
}
