// One entry of the activity log, as the Activity page and the overview list it.
import { Link } from "wouter";
import { ActivitySeverity, type ActivityEntry } from "../gen/clustergenie/monitoring/v1/monitoring_pb";
import { severityLabel } from "../lib/activity";
import { ago, time } from "../lib/format";
import { Badge, type Tone } from "./ui";

export function severityTone(s: ActivitySeverity): Tone {
  return s === ActivitySeverity.ERROR ? "bad" : s === ActivitySeverity.WARNING ? "warn" : "info";
}

/** `marked`: the entry a link points at, highlighted. */
export function ActivityRow({ entry: e, marked = false }: { entry: ActivityEntry; marked?: boolean }) {
  const attrs = Object.entries(e.attributes);
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
        {attrs.length > 0 && ` · ${attrs.map(([k, v]) => `${k}: ${v}`).join(", ")}`}
      </span>
    </li>
  );
}
