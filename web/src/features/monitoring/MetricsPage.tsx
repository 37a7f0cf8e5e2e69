// Charts of a cluster's (or one droplet's) metrics over a range, kept live
// by WatchMetrics; the raw samples below; a droplet's faults.
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { useQuery } from "@connectrpc/connect-query";
import { keepPreviousData } from "@tanstack/react-query";
import { useMemo, useState } from "react";
import {
  MetricsService,
  type MetricKind,
  type WatchMetricsResponse,
} from "../../gen/clustergenie/monitoring/v1/monitoring_pb";
import { useClient } from "../../lib/context";
import { toUiError } from "../../lib/errors";
import { useResumableStream } from "../../lib/stream";
import { ErrorBanner } from "../../components/ErrorBanner";
import { FaultsPanel } from "./FaultsPanel";
import { useDefaultCluster } from "./fleet";
import { formatMetric, metricInfo, METRICS } from "./labels";
import { LiveStatus } from "./LiveStatus";
import { batchSamples, foldSamples, RANGES, rangeById, rangeStart, sinceTime, summarize, toBuckets, type Range, type Sample } from "./metrics";
import { PickCluster } from "./PickCluster";
import { RawSamples } from "./RawSamples";
import { useSelection } from "./selection";
import { TimeSeriesChart } from "./TimeSeriesChart";

export function MetricsPage() {
  const sel = useSelection();
  const range = rangeById(sel.params.get("range"));
  useDefaultCluster(sel);
  if (!sel.cluster) return <PickCluster />;
  return (
    <>
      <div className="toolbar">
        <div className="segmented" role="group" aria-label="Time range" data-testid="range-picker">
          {RANGES.map((r) => (
            <button
              key={r.id}
              type="button"
              aria-pressed={r.id === range.id}
              className={r.id === range.id ? "segmented--on" : ""}
              onClick={() => sel.set({ range: r.id === RANGES[0]!.id ? undefined : r.id })}
              data-testid={`range-${r.id}`}
            >
              {r.label}
            </button>
          ))}
        </div>
      </div>
      {/* A new selection or range starts over: a new anchor, no stale live samples. */}
      <MetricCharts key={`${sel.cluster}/${sel.droplet}/${range.id}`} cluster={sel.cluster} droplet={sel.droplet} range={range} />
      {sel.droplet && <FaultsPanel dropletId={sel.droplet} />}
      <RawSamples cluster={sel.cluster} droplet={sel.droplet} />
    </>
  );
}

const nowSec = () => Math.floor(Date.now() / 1000);

function MetricCharts({ cluster, droplet, range }: { cluster: string; droplet: string; range: Range }) {
  // The queried range ends here; live samples after it are folded in.
  const [anchor, setAnchor] = useState(nowSec);
  const [live, setLive] = useState<ReadonlyMap<MetricKind, readonly Sample[]>>(new Map());
  const query = useQuery(
    MetricsService.method.queryMetrics,
    {
      clusterId: cluster,
      dropletId: droplet,
      startTime: timestampFromMs(rangeStart(anchor, range) * 1000),
      endTime: timestampFromMs(anchor * 1000),
      step: { seconds: BigInt(range.step) },
      // The cluster view charts the average across droplets; a droplet its own series.
      clusterAverage: !droplet,
      pageSize: 50,
    },
    { placeholderData: keepPreviousData },
  );

  const refill = () => {
    const now = nowSec();
    if (now === anchor) void query.refetch();
    else setAnchor(now);
  };

  const client = useClient(MetricsService);
  const stream = useResumableStream<WatchMetricsResponse>({
    key: `${cluster}/${droplet}`,
    open: (_cursor, signal, attempt) => {
      // Reopened after a gap: query the range again (up to now) to fill it.
      if (attempt > 0) refill();
      return client.watchMetrics({ clusterId: cluster, dropletId: droplet }, { signal });
    },
    onItem: (resp) =>
      setLive((prev) => {
        const next = new Map(prev);
        for (const [metric, samples] of batchSamples(resp, !droplet)) {
          // Keep what the queried range lacks and the window still shows.
          const newest = samples[samples.length - 1]?.t ?? 0;
          const keep = Math.max(anchor, newest - range.seconds);
          next.set(metric, [...(next.get(metric) ?? []), ...samples].filter((s) => s.t > keep));
        }
        return next;
      }),
  });

  const charts = useMemo(() => {
    const series = query.data?.series ?? [];
    return METRICS.map((metric) => {
      const s = series.find((x) => x.metric === metric && (droplet ? x.dropletId === droplet : true));
      const samples = (live.get(metric) ?? []).filter((x) => x.t > anchor);
      const end = Math.max(anchor, samples[samples.length - 1]?.t ?? 0);
      const buckets = sinceTime(foldSamples(toBuckets(s?.points ?? []), samples, range.step), rangeStart(end, range) - range.step);
      return { metric, buckets, summary: summarize(buckets, samples[samples.length - 1]) };
    });
  }, [query.data, live, anchor, range, droplet]);

  return (
    <section className="card" data-testid="metric-charts" data-step={range.step}>
      <div className="card__head">
        <h2>{droplet ? "Droplet metrics" : "Cluster average"}</h2>
        <LiveStatus stream={stream} testid="metrics-live" />
        <button type="button" onClick={refill} disabled={query.isFetching} data-testid="metrics-refresh">
          Refresh
        </button>
      </div>
      <ErrorBanner error={query.error ? toUiError(query.error) : null} />
      {query.isPending ? (
        <p className="muted">Loading…</p>
      ) : (
        <div className="charts">
          {charts.map(({ metric, buckets, summary }) => {
            const info = metricInfo(metric);
            return (
              <TimeSeriesChart
                key={metric}
                name={info.slug}
                title={info.label}
                buckets={buckets}
                summary={summary}
                format={(v) => formatMetric(metric, v)}
                yRange={info.range}
              />
            );
          })}
        </div>
      )}
    </section>
  );
}

