// One time series drawn with uPlot, plus an accessible summary (latest,
// lowest, highest) that is always rendered: screen readers and tests read
// it, and it is all there is where canvas is missing (jsdom). uPlot itself
// is loaded only where it can draw.
import { useEffect, useEffectEvent, useMemo, useRef } from "react";
import type uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import type { Bucket, Summary } from "./metrics";

let canvasSupport: boolean | undefined;

/** Whether a 2D canvas is available (checked once). */
export function canDraw(): boolean {
  if (canvasSupport === undefined) {
    try {
      canvasSupport = typeof document !== "undefined" && !!document.createElement("canvas").getContext("2d");
    } catch {
      canvasSupport = false;
    }
  }
  return canvasSupport;
}

export interface TimeSeriesChartProps {
  /** For `data-metric`, e.g. `cpu`. */
  name: string;
  title: string;
  buckets: readonly Bucket[];
  summary: Summary | null;
  format: (v: number) => string;
  /** A fixed y axis (percent metrics); otherwise it fits the data. */
  yRange?: [number, number] | undefined;
  height?: number;
  /** The chart a link points at: marked, and scrolled to once. */
  focused?: boolean;
}

export function TimeSeriesChart({ name, title, buckets, summary, format, yRange, height = 160, focused = false }: TimeSeriesChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const figure = useRef<HTMLElement>(null);
  const focusedAtFirst = useEffectEvent(() => focused);
  useEffect(() => {
    if (focusedAtFirst()) figure.current?.scrollIntoView?.({ block: "center" });
  }, []);
  const plot = useRef<uPlot | null>(null);
  const data = useMemo<uPlot.AlignedData>(
    () => [buckets.map((b) => b.t), buckets.map((b) => b.v)],
    [buckets],
  );
  const initial = useEffectEvent(() => ({ data, yRange, title, height }));

  // Created once; later data goes through setData.
  useEffect(() => {
    const el = box.current;
    if (!el || !canDraw()) return;
    let cancelled = false;
    let u: uPlot | null = null;
    let ro: ResizeObserver | null = null;
    void import("uplot").then(({ default: UPlot }) => {
      if (cancelled) return;
      const o = initial();
      const created = new UPlot(
        {
          width: Math.max(200, el.clientWidth),
          height: o.height,
          legend: { show: false },
          scales: { x: { time: true }, y: o.yRange ? { range: o.yRange } : { auto: true } },
          series: [
            {},
            {
              label: o.title,
              stroke: "#2563eb",
              fill: "rgba(37, 99, 235, 0.08)",
              width: 1.5,
              points: { show: false },
            },
          ],
          axes: [{}, { size: 56, values: (_u, splits) => splits.map((v) => compact(v)) }],
        },
        o.data,
        el,
      );
      u = created;
      plot.current = created;
      if (typeof ResizeObserver !== "undefined") {
        ro = new ResizeObserver((entries) => {
          const w = entries[0]?.contentRect.width ?? 0;
          if (w > 0) created.setSize({ width: w, height: o.height });
        });
        ro.observe(el);
      }
    });
    return () => {
      cancelled = true;
      ro?.disconnect();
      u?.destroy();
      plot.current = null;
    };
  }, []);

  useEffect(() => {
    plot.current?.setData(data);
  }, [data]);

  return (
    <figure
      ref={figure}
      className={`chart${focused ? " chart--focused" : ""}`}
      data-testid="metric-chart"
      data-metric={name}
      data-points={buckets.length}
      data-focused={focused || undefined}
    >
      <figcaption className="chart__head">
        <span className="chart__title">{title}</span>
        {summary ? (
          <span className="chart__summary" aria-label={`${title} summary`}>
            <span className="chart__latest" data-testid="metric-latest" data-value={summary.latest}>
              {format(summary.latest)}
            </span>
            <span className="muted">
              min <span data-testid="metric-min" data-value={summary.min}>{format(summary.min)}</span> · max{" "}
              <span data-testid="metric-max" data-value={summary.max}>{format(summary.max)}</span>
            </span>
          </span>
        ) : (
          <span className="muted" data-testid="metric-empty">
            No samples in this range
          </span>
        )}
      </figcaption>
      <div ref={box} className="chart__plot" style={{ minHeight: height }} />
    </figure>
  );
}

function compact(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e6) return `${(v / 1e6).toFixed(1)}M`;
  if (a >= 1e3) return `${(v / 1e3).toFixed(1)}k`;
  return Number.isInteger(v) ? String(v) : v.toFixed(a < 10 ? 2 : 1);
}
