// The raw samples behind the charts (QueryMetrics without a step), paged by
// series with page_token.
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { useInfiniteQuery } from "@connectrpc/connect-query";
import { useMemo, useState } from "react";
import { MetricKind, MetricsService } from "../../gen/clustergenie/monitoring/v1/monitoring_pb";
import { toUiError } from "../../lib/errors";
import { time } from "../../lib/format";
import { ErrorBanner } from "../../components/ErrorBanner";
import { Pager } from "../../components/ui";
import { useDroplets } from "../../lib/fleet";
import { formatMetric, metricInfo, METRICS } from "./labels";

/** Raw samples come every few seconds: ten minutes keeps a page readable. */
export const RAW_WINDOW_SECONDS = 600;
/** QueryMetrics pages count series, not points. */
export const RAW_SERIES_PER_PAGE = 2;

export function RawSamples({ cluster, droplet }: { cluster: string; droplet: string }) {
  const droplets = useDroplets(cluster);
  const [dropletId, setDropletId] = useState(droplet);
  const [metric, setMetric] = useState<MetricKind>(MetricKind.UNSPECIFIED);
  const [end, setEnd] = useState(() => Math.floor(Date.now() / 1000));
  const [page, setPage] = useState(0);
  const q = useInfiniteQuery(
    MetricsService.method.queryMetrics,
    {
      clusterId: cluster,
      dropletId,
      metrics: metric ? [metric] : [],
      startTime: timestampFromMs((end - RAW_WINDOW_SECONDS) * 1000),
      endTime: timestampFromMs(end * 1000),
      pageSize: RAW_SERIES_PER_PAGE,
      pageToken: "",
    },
    { pageParamKey: "pageToken", getNextPageParam: (last) => last.nextPageToken || undefined },
  );
  const pages = q.data?.pages ?? [];
  const shown = pages[Math.min(page, Math.max(0, pages.length - 1))];
  const rows = useMemo(
    () =>
      (shown?.series ?? []).flatMap((s) =>
        [...s.points].reverse().map((p, i) => ({ key: `${s.dropletId}/${s.metric}/${i}`, series: s, point: p })),
      ),
    [shown],
  );
  const filter = (f: () => void) => {
    f();
    setPage(0);
  };

  return (
    <section className="card" data-testid="raw-samples">
      <div className="card__head">
        <h2>Raw samples</h2>
        <span className="muted">last {RAW_WINDOW_SECONDS / 60} minutes, newest first</span>
        <button type="button" onClick={() => filter(() => setEnd(Math.floor(Date.now() / 1000)))} data-testid="raw-refresh">
          Refresh
        </button>
      </div>
      <div className="filters">
        <label>
          Droplet{" "}
          <select value={dropletId} onChange={(e) => filter(() => setDropletId(e.target.value))} data-testid="raw-droplet">
            <option value="">All</option>
            {droplets.data?.droplets.map((d) => (
              <option key={d.id} value={d.id}>
                {d.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Metric{" "}
          <select
            value={metric}
            onChange={(e) => filter(() => setMetric(Number(e.target.value) as MetricKind))}
            data-testid="raw-metric"
          >
            <option value={MetricKind.UNSPECIFIED}>All</option>
            {METRICS.map((m) => (
              <option key={m} value={m}>
                {metricInfo(m).label}
              </option>
            ))}
          </select>
        </label>
      </div>
      <ErrorBanner error={q.error ? toUiError(q.error) : null} />
      {q.isPending ? (
        <p className="muted">Loading…</p>
      ) : rows.length === 0 ? (
        <p className="muted" data-testid="raw-empty">
          No samples in the last {RAW_WINDOW_SECONDS / 60} minutes.
        </p>
      ) : (
        <table className="table" data-testid="raw-table">
          <thead>
            <tr>
              <th>Time</th>
              <th>Droplet</th>
              <th>Metric</th>
              <th className="num">Value</th>
            </tr>
          </thead>
          <tbody>
            {rows.map(({ key, series, point }) => (
              <tr key={key} data-testid="raw-row" data-droplet-id={series.dropletId} data-metric={metricInfo(series.metric).slug}>
                <td>{time(point.time)}</td>
                <td>{dropletName(droplets.data?.droplets, series.dropletId)}</td>
                <td>{metricInfo(series.metric).label}</td>
                <td className="num">{formatMetric(series.metric, point.value)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <Pager
        testid="raw-pager"
        page={page}
        hasNext={page + 1 < pages.length || q.hasNextPage}
        onPrev={() => setPage((p) => Math.max(0, p - 1))}
        onNext={() => {
          if (page + 1 < pages.length) setPage(page + 1);
          else void q.fetchNextPage().then((r) => !r.isError && setPage(page + 1));
        }}
      />
    </section>
  );
}

function dropletName(droplets: { id: string; name: string }[] | undefined, id: string): string {
  return droplets?.find((d) => d.id === id)?.name ?? id;
}
