// The fleet's activity log: the newest page from ListActivity, then
// StreamActivity from the log's newest cursor, so new entries appear as they
// are stored; after a dropped stream it resumes from the last cursor received.
import { Code } from "@connectrpc/connect";
import { skipToken, useInfiniteQuery, useQuery } from "@connectrpc/connect-query";
import { useEffect, useEffectEvent, useMemo, useRef, useState } from "react";
import { Link } from "wouter";
import {
  ActivityService,
  ActivitySeverity,
  AlertService,
  type ActivityEntry,
  type StreamActivityResponse,
} from "../../gen/clustergenie/monitoring/v1/monitoring_pb";
import { useClient } from "../../lib/context";
import { toUiError } from "../../lib/errors";
import { ago, time } from "../../lib/format";
import { useDebounced } from "../../lib/hooks";
import { backoffDelay, DEFAULT_BACKOFF, sleep, useResumableStream } from "../../lib/stream";
import { ErrorBanner } from "../../components/ErrorBanner";
import { Badge } from "../../components/ui";
import { matchesFilters, mergeEntries, type ActivityFilters } from "./activity";
import { useInvalidate } from "../../lib/query";
import { SEVERITIES, severityLabel, severityTone, SOURCES } from "./labels";
import { LiveStatus } from "../../components/LiveStatus";
import { useSelection } from "../../lib/selection";

/** Live entries kept above the listed pages. */
const MAX_LIVE = 1000;

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
  const client = useClient(ActivityService);
  const invalidate = useInvalidate();
  const list = useInfiniteQuery(
    ActivityService.method.listActivity,
    { ...filters, pageSize: 50, pageToken: "" },
    { pageParamKey: "pageToken", getNextPageParam: (last) => last.nextPageToken || undefined },
  );
  // The stream filters by cluster and severity only, so it starts from the newest
  // entry those allow: with a source, kind or text filter too, the filtered list's
  // newest entry can be days old, and streaming from it would replay everything since.
  const narrowed = !!(filters.source || filters.kind || filters.text);
  const head = useQuery(
    ActivityService.method.listActivity,
    narrowed ? { clusterId: filters.clusterId, minSeverity: filters.minSeverity, pageSize: 1 } : skipToken,
  );
  const newest = narrowed ? head.data?.entries[0]?.cursor : list.data?.pages[0]?.entries[0]?.cursor;
  const [live, setLive] = useState<readonly ActivityEntry[]>([]);
  /** Consecutive expired cursors, for the backoff before the next try. */
  const expiries = useRef(0);

  const stream = useResumableStream<StreamActivityResponse>({
    // Start once the newest cursor is known (read again on a restart).
    key: list.data && (!narrowed || head.data) ? "live" : null,
    cursor: newest,
    open: (since, signal) =>
      client.streamActivity({ clusterId: filters.clusterId, minSeverity: filters.minSeverity, since: since ?? "" }, { signal }),
    cursorOf: (r) => r.entry?.cursor,
    onItem: ({ entry }) => {
      expiries.current = 0;
      if (!entry) return;
      if (entry.kind.startsWith("alert.")) void invalidate(AlertService.method.listAlerts);
      if (!matchesFilters(filters, entry)) return;
      setLive((prev) => (prev.some((e) => e.id === entry.id) ? prev : [entry, ...prev].slice(0, MAX_LIVE)));
    },
  });

  // A cursor older than retention: after a backoff (so a cursor that keeps
  // expiring is not retried in a loop), list again, then stream from the newest entry.
  const expired = stream.status === "stopped" && stream.error?.code === Code.FailedPrecondition;
  const recover = useEffectEvent(async (signal: AbortSignal) => {
    await sleep(backoffDelay(expiries.current, DEFAULT_BACKOFF, Math.random), signal);
    if (signal.aborted) return;
    await Promise.all([list.refetch(), narrowed ? head.refetch() : undefined]);
    if (signal.aborted) return;
    expiries.current++;
    stream.restart();
  });
  useEffect(() => {
    if (!expired) return;
    const ctrl = new AbortController();
    void recover(ctrl.signal);
    return () => ctrl.abort();
  }, [expired]);

  const entries = useMemo(() => mergeEntries(live, list.data?.pages.flatMap((p) => p.entries) ?? []), [live, list.data]);

  return (
    <section className="card" data-testid="activity-log">
      <div className="card__head">
        <h2>Activity</h2>
        <LiveStatus stream={stream} testid="activity-live" />
      </div>
      <ErrorBanner error={list.error || head.error ? toUiError(list.error ?? head.error) : null} />
      {stream.status === "stopped" && !expired && <ErrorBanner error={stream.error} />}
      {entries.length === 0 ? (
        <p className="muted" data-testid="activity-empty">
          {list.isPending ? "Loading…" : "Nothing matches yet; new entries appear here as they happen."}
        </p>
      ) : (
        <ol className="activity-log" aria-live="polite">
          {entries.map((e) => (
            <ActivityRow key={e.id} entry={e} marked={e.id === marked} />
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

function ActivityRow({ entry: e, marked }: { entry: ActivityEntry; marked: boolean }) {
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
