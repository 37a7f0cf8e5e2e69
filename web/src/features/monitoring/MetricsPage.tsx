// Charts of a cluster's (or one droplet's) metrics over a range, kept live
// by WatchMetrics; the raw samples below; a droplet's faults.
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { useQuery } from "@connectrpc/connect-query";
import { keepPreviousData } from "@tanstack/react-query";
import { useMemo, useRef, useState } from "react";
import {
  MetricsService,
  type MetricKind,
  type WatchMetricsResponse,
} from "../../gen/clustergenie/monitoring/v1/monitoring_pb";
import { useClient } from "../../lib/context";
import { toUiError } from "../../lib/errors";
import { time } from "../../lib/format";
import { windowParam } from "../../lib/links";
import { useResumableStream } from "../../lib/stream";
import { ErrorBanner } from "../../components/ErrorBanner";
import { FaultsPanel } from "./FaultsPanel";
import { useDefaultCluster } from "../../lib/fleet";
import { formatMetric, metricInfo, METRICS } from "./labels";
import { LiveStatus } from "../../components/LiveStatus";
import {
  batchSamples,
  foldLive,
  mergeBuckets,
  noteBatch,
  RANGES,
  rangeById,
  rangeStart,
  sinceTime,
  summarize,
  toBuckets,
  type LiveSeries,
  type Range,
  type SeriesClock,
  windowRange,
} from "./metrics";
import { PickCluster } from "./PickCluster";
import { RawSamples } from "./RawSamples";
import { useSelection } from "../../lib/selection";
import { TimeSeriesChart } from "./TimeSeriesChart";

export function MetricsPage() {
  const sel = useSelection();
  // A link's fixed window (`from`..`to`, e.g. a diagnosis's evidence) wins over the range picker.
  const fixed = windowParam(sel.params);
  const range = fixed ? windowRange(fixed) : rangeById(sel.params.get("range"));
  const focus = sel.params.get("metric") ?? "";
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
              onClick={() => sel.set({ range: r.id === RANGES[0]!.id ? undefined : r.id, from: undefined, to: undefined })}
              data-testid={`range-${r.id}`}
            >
              {r.label}
            </button>
          ))}
        </div>
        {fixed && (
          <span className="muted" data-testid="metrics-window" data-from={fixed.from} data-to={fixed.to}>
            {time(timestampFromMs(fixed.from * 1000))} – {time(timestampFromMs(fixed.to * 1000))}{" "}
            <button type="button" className="link" onClick={() => sel.set({ from: undefined, to: undefined })} data-testid="metrics-window-clear">
              Back to live
            </button>
          </span>
        )}
      </div>
      {/* A new selection or range starts over: a new anchor, no stale live samples. */}
      <MetricCharts
        key={`${sel.cluster}/${sel.droplet}/${range.id}`}
        cluster={sel.cluster}
        droplet={sel.droplet}
        range={range}
        end={fixed?.to}
        focus={focus}
      />
      {sel.droplet && <FaultsPanel dropletId={sel.droplet} />}
      {/* The raw table starts from the picked droplet: a new pick, a new table. */}
      <RawSamples key={`${sel.cluster}/${sel.droplet}`} cluster={sel.cluster} droplet={sel.droplet} />
    </>
  );
}

const nowSec = () => Math.floor(Date.now() / 1000);

/** The queried range's end (Unix seconds) and, per metric, the live samples after it, bucketed. */
interface Live {
  anchor: number;
  series: ReadonlyMap<MetricKind, LiveSeries>;
}

const startLive = (anchor: number): Live => ({ anchor, series: new Map() });

function MetricCharts({ cluster, droplet, range, end, focus }: {
  cluster: string;
  droplet: string;
  range: Range;
  /** A fixed window's end (Unix seconds): the range ends there and nothing streams in. */
  end?: number | undefined;
  /** The slug of the chart a link points at. */
  focus: string;
}) {
  // Moving the anchor queries the range again and drops the live buckets it now covers.
  const [live, setLive] = useState(() => startLive(end ?? nowSec()));
  const { anchor } = live;
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
    if (end !== undefined) return void query.refetch();
    const now = nowSec();
    if (now === anchor) void query.refetch();
    else setLive(startLive(now));
  };

  // The newest sample time per live series, to notice batches the server dropped.
  const clock = useRef<SeriesClock>(new Map());
  const client = useClient(MetricsService);
  const stream = useResumableStream<WatchMetricsResponse>({
    key: end === undefined ? `${cluster}/${droplet}` : null,
    open: (_cursor, signal, attempt) => {
      // Reopened after a gap: query the range again (up to now) to fill it.
      if (attempt > 0) {
        clock.current = new Map();
        refill();
      }
      return client.watchMetrics({ clusterId: cluster, dropletId: droplet }, { signal });
    },
    onItem: (resp) => {
      // Fell behind (a jump in a series' times): query the range again up to now.
      if (noteBatch(clock.current, resp)) refill();
      const batch = batchSamples(resp, !droplet);
      setLive((prev) => {
        const series = new Map(prev.series);
        for (const [metric, samples] of batch) series.set(metric, foldLive(series.get(metric), samples, prev.anchor, range));
        return { anchor: prev.anchor, series };
      });
    },
  });

  const charts = useMemo(() => {
    const queried = query.data?.series ?? [];
    return METRICS.map((metric) => {
      const s = queried.find((x) => x.metric === metric && (droplet ? x.dropletId === droplet : true));
      const l = live.series.get(metric);
      const newest = Math.max(anchor, l?.latest?.t ?? 0);
      const buckets = sinceTime(mergeBuckets(toBuckets(s?.points ?? []), l?.buckets ?? []), rangeStart(newest, range) - range.step);
      return { metric, buckets, summary: summarize(buckets, l?.latest) };
    });
  }, [query.data, live, anchor, range, droplet]);

  return (
    <section className="card" data-testid="metric-charts" data-step={range.step} data-fixed={end !== undefined || undefined}>
      <div className="card__head">
        <h2>
          {droplet ? "Droplet metrics" : "Cluster average"}
          {end !== undefined && <span className="muted small"> · fixed window</span>}
        </h2>
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
                focused={info.slug === focus}
              />
            );
          })}
        </div>
      )}
    </section>
  );
}

