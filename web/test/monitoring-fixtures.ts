// An in-memory monitoring backend for the monitoring tests: clusters and
// droplets for the pickers, metrics, health checks, activity (with a
// cursor-resuming stream), alerts and faults. Every request is recorded;
// the server streams are driven by the test through `StreamConn`.
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromMs, type Timestamp } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import {
  ActivityEntrySchema,
  ActivityService,
  ActivitySeverity,
  AlertRuleSchema,
  AlertSchema,
  AlertService,
  AlertState,
  HealthCheckSchema,
  HealthCheckService,
  HealthResultSchema,
  HealthState,
  MetricKind,
  MetricsService,
  type ActivityEntry,
  type Alert,
  type AlertRule,
  type CreateAlertRuleRequest,
  type CreateHealthCheckRequest,
  type HealthCheck,
  type HealthResult,
  type ListActivityRequest,
  type MetricSeries,
  type QueryMetricsRequest,
  type StreamActivityRequest,
  type StreamActivityResponse,
  type UpdateHealthCheckRequest,
  type WatchMetricsRequest,
  type WatchMetricsResponse,
} from "../src/gen/clustergenie/monitoring/v1/monitoring_pb";
import {
  ClusterHealth,
  ClusterService,
  DropletService,
  FaultSchema,
  FaultService,
  type Cluster,
  type Droplet,
  type Fault,
  type InjectFaultRequest,
} from "../src/gen/clustergenie/provisioning/v1/provisioning_pb";
import { BadRequestSchema } from "../src/gen/google/rpc/error_details_pb";
import type { Session } from "../src/lib/auth";
import { cluster, droplet, renderApp, SESSIONS } from "./harness";

/** One open server stream, fed by the test: push items, then end or fail it. */
export class StreamConn<T> {
  private queue: ({ item: T } | { error: unknown } | { end: true })[] = [];
  private wake: (() => void) | null = null;
  /** False once the stream ended, failed or the client went away. */
  open = true;

  constructor(initial: T[] = []) {
    for (const item of initial) this.queue.push({ item });
  }

  push(item: T) {
    this.queue.push({ item });
    this.wake?.();
  }

  fail(error: unknown) {
    this.queue.push({ error });
    this.wake?.();
  }

  end() {
    this.queue.push({ end: true });
    this.wake?.();
  }

  async *iterate(signal: AbortSignal): AsyncGenerator<T> {
    try {
      for (;;) {
        const next = this.queue.shift();
        if (next) {
          if ("error" in next) throw next.error;
          if ("end" in next) return;
          yield next.item;
          continue;
        }
        if (signal.aborted) return;
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          signal.addEventListener("abort", () => resolve(), { once: true });
        });
        this.wake = null;
      }
    } finally {
      this.open = false;
    }
  }
}

export function violation(field: string, description: string): ConnectError {
  return new ConnectError("invalid request", Code.InvalidArgument, undefined, [
    { desc: BadRequestSchema, value: { fieldViolations: [{ field, description }] } },
  ]);
}

export const ts = (ms: number): Timestamp => timestampFromMs(ms);

/** The bucketed values each chart gets (oldest first): latest, min and max are easy to read off. */
export const CHART_VALUES: Record<number, number[]> = {
  [MetricKind.CPU_PERCENT]: [40, 70, 55],
  [MetricKind.MEMORY_PERCENT]: [61, 62, 63],
  [MetricKind.DISK_PERCENT]: [30, 30, 31],
  [MetricKind.NETWORK_IN_MBPS]: [5, 12.5, 8],
  [MetricKind.NETWORK_OUT_MBPS]: [2, 3, 4],
  [MetricKind.LOAD_1M]: [0.5, 1.25, 0.75],
};

const ALL_METRICS = [
  MetricKind.CPU_PERCENT,
  MetricKind.MEMORY_PERCENT,
  MetricKind.DISK_PERCENT,
  MetricKind.NETWORK_IN_MBPS,
  MetricKind.NETWORK_OUT_MBPS,
  MetricKind.LOAD_1M,
];

export function entry(n: number, init: Omit<MessageInitShape<typeof ActivityEntrySchema>, "$typeName"> = {}): ActivityEntry {
  return create(ActivityEntrySchema, {
    id: `e${n}`,
    cursor: cursorOf(n),
    time: ts(Date.now() - (100 - n) * 1000),
    clusterId: "c1",
    source: "provisioning",
    kind: "droplet.created",
    severity: ActivitySeverity.INFO,
    message: `entry ${n}`,
    ...init,
  });
}

export const cursorOf = (n: number) => `cur-${String(n).padStart(4, "0")}`;

function page<T>(items: T[], pageSize: number, token: string, byDefault = 50) {
  const size = pageSize || byDefault;
  const from = token ? Number(token) : 0;
  const next = from + size < items.length ? String(from + size) : "";
  return { items: items.slice(from, from + size), next };
}

export interface Calls {
  queryMetrics: QueryMetricsRequest[];
  watchMetrics: WatchMetricsRequest[];
  listActivity: ListActivityRequest[];
  streamActivity: StreamActivityRequest[];
  createHealthCheck: CreateHealthCheckRequest[];
  updateHealthCheck: UpdateHealthCheckRequest[];
  deleteHealthCheck: string[];
  listHealthResults: string[];
  createAlertRule: CreateAlertRuleRequest[];
  deleteAlertRule: string[];
  listAlerts: number;
  injectFault: InjectFaultRequest[];
  clearFault: string[];
}

export function monitoringFake() {
  const clusters: Cluster[] = [
    cluster({ id: "c1", name: "web", dropletCount: 2, health: ClusterHealth.DEGRADED }),
    cluster({ id: "c2", name: "db", dropletCount: 1, health: ClusterHealth.HEALTHY }),
  ];
  const droplets: Droplet[] = [
    droplet({ id: "d1", name: "web-1", clusterId: "c1" }),
    droplet({ id: "d2", name: "web-2", clusterId: "c1" }),
    droplet({ id: "d3", name: "db-1", clusterId: "c2" }),
  ];
  const checks: HealthCheck[] = [];
  const results: HealthResult[] = [];
  /** Stored activity, oldest first (stream order). */
  const activity: ActivityEntry[] = [];
  const rules: AlertRule[] = [];
  const alerts: Alert[] = [];
  const faults: Fault[] = [];
  const metricStreams: StreamConn<WatchMetricsResponse>[] = [];
  const activityStreams: StreamConn<StreamActivityResponse>[] = [];
  const calls: Calls = {
    queryMetrics: [],
    watchMetrics: [],
    listActivity: [],
    streamActivity: [],
    createHealthCheck: [],
    updateHealthCheck: [],
    deleteHealthCheck: [],
    listHealthResults: [],
    createAlertRule: [],
    deleteAlertRule: [],
    listAlerts: 0,
    injectFault: [],
    clearFault: [],
  };
  let nextId = 1;

  function querySeries(req: QueryMetricsRequest): MetricSeries[] {
    const metrics = req.metrics.length ? req.metrics : ALL_METRICS;
    const end = req.endTime ? Number(req.endTime.seconds) : Math.floor(Date.now() / 1000);
    const step = req.step ? Number(req.step.seconds) : 0;
    const point = (t: number, value: number) => ({ time: ts(t * 1000), value, min: value, max: value, p95: value, count: 1n });
    if (step) {
      // Charts: three buckets per series, ending at the range's end.
      const owner = req.dropletId || "";
      return metrics.map((metric) => ({
        dropletId: owner,
        metric,
        points: (CHART_VALUES[metric] ?? [1, 2, 3]).map((v, i, all) => point((Math.floor(end / step) - (all.length - 1 - i)) * step, v)),
      })) as MetricSeries[];
    }
    // Raw rows: two samples per droplet and metric, ordered by droplet then metric.
    const owners = req.dropletId ? [req.dropletId] : droplets.filter((d) => d.clusterId === req.clusterId).map((d) => d.id);
    return owners.flatMap((dropletId) =>
      metrics.map((metric) => ({
        dropletId,
        metric,
        points: [point(end - 20, metric * 10 + 1), point(end - 10, metric * 10 + 2)],
      })),
    ) as MetricSeries[];
  }

  function activityMatches(req: ListActivityRequest, e: ActivityEntry): boolean {
    if (req.clusterId && e.clusterId !== req.clusterId) return false;
    if (req.source && e.source !== req.source) return false;
    if (req.kind && !(req.kind.endsWith(".") ? e.kind.startsWith(req.kind) : e.kind === req.kind)) return false;
    if (req.minSeverity && e.severity < req.minSeverity) return false;
    if (req.text && !e.message.toLowerCase().includes(req.text.toLowerCase())) return false;
    return true;
  }

  function routes(router: ConnectRouter) {
    router.service(ClusterService, {
      listClusters: () => ({ clusters }),
    });
    router.service(DropletService, {
      listDroplets: (req) => ({ droplets: droplets.filter((d) => !req.clusterId || d.clusterId === req.clusterId) }),
    });
    router.service(MetricsService, {
      queryMetrics(req) {
        calls.queryMetrics.push(req);
        const all = querySeries(req);
        const { items, next } = page(all, req.pageSize, req.pageToken);
        return { series: items, nextPageToken: next };
      },
      watchMetrics(req, ctx) {
        calls.watchMetrics.push(req);
        const conn = new StreamConn<WatchMetricsResponse>();
        metricStreams.push(conn);
        return conn.iterate(ctx.signal);
      },
    });
    router.service(HealthCheckService, {
      createHealthCheck(req) {
        calls.createHealthCheck.push(req);
        if (!req.name) throw violation("name", "must be 1–63 characters");
        const interval = req.interval ? Number(req.interval.seconds) : 10;
        if (interval < 5 || interval > 300) throw violation("interval", "must be between 5s and 5m");
        if (checks.some((c) => c.clusterId === req.clusterId && c.name === req.name)) {
          throw new ConnectError(`a check named ${req.name} exists`, Code.AlreadyExists);
        }
        const c = create(HealthCheckSchema, {
          id: `hc${nextId++}`,
          clusterId: req.clusterId,
          name: req.name,
          kind: req.kind,
          port: req.port,
          path: req.path,
          interval: req.interval ?? { seconds: 10n },
          enabled: true,
          droplets: droplets
            .filter((d) => d.clusterId === req.clusterId)
            .map((d) => ({ dropletId: d.id, state: HealthState.UNKNOWN })),
        });
        checks.push(c);
        return { healthCheck: c };
      },
      getHealthCheck(req) {
        const c = checks.find((x) => x.id === req.id);
        if (!c) throw new ConnectError("no such check", Code.NotFound);
        return { healthCheck: c };
      },
      listHealthChecks: (req) => ({ healthChecks: checks.filter((c) => !req.clusterId || c.clusterId === req.clusterId) }),
      updateHealthCheck(req) {
        calls.updateHealthCheck.push(req);
        const c = checks.find((x) => x.id === req.healthCheck?.id);
        if (!c || !req.healthCheck) throw new ConnectError("no such check", Code.NotFound);
        const patch = req.healthCheck as unknown as Record<string, unknown>;
        const target = c as unknown as Record<string, unknown>;
        for (const p of req.updateMask?.paths ?? []) {
          const key = p.replace(/_(\w)/g, (_m, ch: string) => ch.toUpperCase());
          target[key] = patch[key];
        }
        return { healthCheck: c };
      },
      deleteHealthCheck(req) {
        calls.deleteHealthCheck.push(req.id);
        const i = checks.findIndex((x) => x.id === req.id);
        if (i < 0) throw new ConnectError("no such check", Code.NotFound);
        checks.splice(i, 1);
        return {};
      },
      listHealthResults(req) {
        calls.listHealthResults.push(req.checkId);
        const list = results.filter(
          (r) =>
            (!req.checkId || r.checkId === req.checkId) &&
            (!req.dropletId || r.dropletId === req.dropletId) &&
            (!req.unhealthyOnly || !r.healthy),
        );
        const { items, next } = page(list, req.pageSize, req.pageToken);
        return { results: items, nextPageToken: next };
      },
    });
    router.service(ActivityService, {
      listActivity(req) {
        calls.listActivity.push(req);
        const newestFirst = activity.filter((e) => activityMatches(req, e)).reverse();
        const { items, next } = page(newestFirst, req.pageSize, req.pageToken);
        return { entries: items, nextPageToken: next };
      },
      streamActivity(req, ctx) {
        calls.streamActivity.push(req);
        // Like the server: with `since`, replay what was stored after it first.
        const replay = req.since
          ? activity.filter((e) => e.cursor > req.since && (!req.clusterId || e.clusterId === req.clusterId)).map((e) => ({ entry: e }))
          : [];
        const conn = new StreamConn<StreamActivityResponse>(replay as StreamActivityResponse[]);
        activityStreams.push(conn);
        return conn.iterate(ctx.signal);
      },
    });
    router.service(AlertService, {
      createAlertRule(req) {
        calls.createAlertRule.push(req);
        if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(req.name)) throw violation("name", "must be a DNS label");
        if (req.metric <= MetricKind.DISK_PERCENT && (req.threshold < 0 || req.threshold > 100)) {
          throw violation("threshold", "must be within 0–100 for a percent metric");
        }
        const r = create(AlertRuleSchema, {
          id: `r${nextId++}`,
          clusterId: req.clusterId,
          name: req.name,
          metric: req.metric,
          comparison: req.comparison,
          threshold: req.threshold,
          for: req.for,
          severity: req.severity,
          createTime: ts(Date.now()),
        });
        rules.push(r);
        return { rule: r };
      },
      getAlertRule(req) {
        const r = rules.find((x) => x.id === req.id);
        if (!r) throw new ConnectError("no such rule", Code.NotFound);
        return { rule: r };
      },
      listAlertRules: (req) => ({ rules: rules.filter((r) => !req.clusterId || r.clusterId === req.clusterId) }),
      deleteAlertRule(req) {
        calls.deleteAlertRule.push(req.id);
        const i = rules.findIndex((x) => x.id === req.id);
        if (i < 0) throw new ConnectError("no such rule", Code.NotFound);
        rules.splice(i, 1);
        for (const a of alerts) if (a.ruleId === req.id) a.state = AlertState.RESOLVED;
        return {};
      },
      listAlerts(req) {
        calls.listAlerts++;
        const list = alerts.filter((a) => (!req.clusterId || a.clusterId === req.clusterId) && (!req.state || a.state === req.state));
        const { items, next } = page(list, req.pageSize, req.pageToken);
        return { alerts: items, nextPageToken: next };
      },
    });
    router.service(FaultService, {
      injectFault(req) {
        calls.injectFault.push(req);
        const d = droplets.find((x) => x.id === req.dropletId);
        const f = create(FaultSchema, {
          id: `f${nextId++}`,
          dropletId: req.dropletId,
          clusterId: d?.clusterId ?? "",
          kind: req.kind,
          startTime: ts(Date.now()),
          endTime: ts(Date.now() + Number(req.duration?.seconds ?? 0n) * 1000),
        });
        faults.push(f);
        return { fault: f };
      },
      listFaults: (req) => ({ faults: faults.filter((f) => !req.dropletId || f.dropletId === req.dropletId) }),
      clearFault(req) {
        calls.clearFault.push(req.id);
        const i = faults.findIndex((x) => x.id === req.id);
        if (i < 0) throw new ConnectError("no such fault", Code.NotFound);
        const [f] = faults.splice(i, 1);
        return { fault: f };
      },
    });
  }

  return {
    clusters,
    droplets,
    checks,
    results,
    activity,
    rules,
    alerts,
    faults,
    calls,
    metricStreams,
    activityStreams,
    routes,
    /** Stores an entry and sends it to every open activity stream, as the server does. */
    appendActivity(e: ActivityEntry) {
      activity.push(e);
      for (const s of activityStreams) if (s.open) s.push({ entry: e } as StreamActivityResponse);
    },
    addCheck(init: Omit<MessageInitShape<typeof HealthCheckSchema>, "$typeName">) {
      const c = create(HealthCheckSchema, { clusterId: "c1", enabled: true, interval: { seconds: 10n }, ...init });
      checks.push(c);
      return c;
    },
    addResult(init: Omit<MessageInitShape<typeof HealthResultSchema>, "$typeName">) {
      results.push(create(HealthResultSchema, { id: `hr${nextId++}`, clusterId: "c1", time: ts(Date.now()), ...init }));
    },
    addAlert(init: Omit<MessageInitShape<typeof AlertSchema>, "$typeName">) {
      alerts.push(create(AlertSchema, { id: `a${nextId++}`, clusterId: "c1", startTime: ts(Date.now() - 60_000), ...init }));
    },
  };
}

export type MonitoringFake = ReturnType<typeof monitoringFake>;

/** The whole app at `path`, signed in (an operator by default), on a fresh fake monitoring backend. */
export function openMonitoring(path: string, session: Session = SESSIONS.operator, fake: MonitoringFake = monitoringFake()) {
  return { fake, ...renderApp({ session, path, routes: fake.routes }) };
}
