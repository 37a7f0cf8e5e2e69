// One entry of the activity log, as the Activity page and the overview list it.
// The callers pass the trace UI's link template (lib/dashboardConfig's
// useDashboardConfig); an entry with a trace id then links its trace.
import { Link } from "wouter";
import { ActivitySeverity, type ActivityEntry } from "../gen/clustergenie/monitoring/v1/monitoring_pb";
import { severityLabel } from "../lib/activity";
import { traceLink } from "../lib/dashboardConfig";
import { ago, time } from "../lib/format";
import { Badge, type Tone } from "./ui";

export function severityTone(s: ActivitySeverity): Tone {
  return s === ActivitySeverity.ERROR ? "bad" : s === ActivitySeverity.WARNING ? "warn" : "info";
}

/**
 * `marked`: the entry a link points at, highlighted. `traceUrl`: the trace
 * UI's template (`…/trace/{trace_id}`), when one is configured.
 */
export function ActivityRow({
  entry: e,
  marked = false,
  traceUrl,
}: {
  entry: ActivityEntry;
  marked?: boolean;
  traceUrl?: string | null;
}) {
  const attrs = Object.entries(e.attributes);
  const trace = traceLink(traceUrl, e.traceId);
  return (
    <li
      className={`activity-log__row${marked ? " activity-log__row--marked" : ""}`}
      data-marked={marked || undefined}
      data-testid="activity-row"
      data-id={e.id}
      data-kind={e.kind}
      data-severity={severityLabel(e.severity)}
    >
      <span className="activity-log__time" title={time(e.time)}>
        {ago(e.time)}
      </span>
      <Badge tone={severityTone(e.severity)}>{severityLabel(e.severity)}</Badge>
      <code className="activity-log__kind">{e.kind}</code>
      <span className="activity-log__msg" data-testid="activity-message">
        {e.message}
      </span>
      <span className="muted activity-log__refs">
        {e.source}
        {e.dropletId && (
          <>
            {" · "}
            <Link href={`/droplets/${e.dropletId}`}>droplet</Link>
          </>
        )}
        {e.jobId && (
          <>
            {" · "}
            <Link href={`/jobs/${e.jobId}`}>job</Link>
          </>
        )}
        {trace && (
          <>
            {" · "}
            <a href={trace} target="_blank" rel="noopener noreferrer" data-testid="activity-trace-link">
              trace
            </a>
          </>
        )}
        {attrs.length > 0 && ` · ${attrs.map(([k, v]) => `${k}: ${v}`).join(", ")}`}
      </span>
    </li>
  );
}
