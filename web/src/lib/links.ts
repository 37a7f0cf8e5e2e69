// Links that open a monitoring view on something another page points at (a
// diagnosis's evidence, say): a metric chart on a time window, a health
// check's history, an activity entry. The monitoring pages read the same
// query parameters back:
//
//   /monitoring?cluster=…&droplet=…&from=…&to=…&metric=memory
//   /monitoring/checks?cluster=…&droplet=…&check=<health check id>
//   /monitoring/activity?cluster=…&entry=<activity entry id>
//
// `from` and `to` are RFC 3339 times in UTC (Unix seconds are read too).

export interface TimeWindow {
  /** Unix seconds. */
  from: number;
  to: number;
}

/** Unix seconds as a `from` / `to` parameter: RFC 3339 in UTC, to the second. */
export function formatTimeParam(sec: number): string {
  return new Date(Math.floor(sec) * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** A `from` / `to` parameter (RFC 3339, or Unix seconds) as Unix seconds; null when absent or unreadable. */
export function parseTimeParam(v: string | null | undefined): number | null {
  if (!v) return null;
  if (/^\d+$/.test(v)) return Number(v);
  const ms = Date.parse(v);
  return Number.isNaN(ms) ? null : Math.floor(ms / 1000);
}

/** The window `from`..`to` names; null unless both read and `from` is before `to`. */
export function windowParam(params: URLSearchParams): TimeWindow | null {
  const from = parseTimeParam(params.get("from"));
  const to = parseTimeParam(params.get("to"));
  return from !== null && to !== null && from < to ? { from, to } : null;
}

function withQuery(path: string, params: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

/** The metric charts of a cluster (or one droplet), on a window when given; `metric` (a slug such as `memory`) is the chart to point at. */
export function metricsHref(l: { cluster: string; droplet?: string; window?: TimeWindow | null; metric?: string }): string {
  return withQuery("/monitoring", {
    cluster: l.cluster,
    droplet: l.droplet,
    from: l.window ? formatTimeParam(l.window.from) : undefined,
    to: l.window ? formatTimeParam(l.window.to) : undefined,
    metric: l.metric,
  });
}

/** A cluster's health checks with one check's results open (on one droplet when given). */
export function healthCheckHref(l: { cluster: string; droplet?: string; check: string }): string {
  return withQuery("/monitoring/checks", { cluster: l.cluster, droplet: l.droplet, check: l.check });
}

/** A cluster's activity log with one entry marked. */
export function activityHref(l: { cluster: string; entry: string }): string {
  return withQuery("/monitoring/activity", { cluster: l.cluster, entry: l.entry });
}
