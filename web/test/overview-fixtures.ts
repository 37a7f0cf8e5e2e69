// An in-memory fleet for the overview tests: clusters and droplets
// (provisioning), jobs (listed newest first, filtered by status), the
// scaler's decisions (listed, and WatchDecisions streams), diagnoses and the
// activity log (with a cursor-resuming stream), every service able to fail on
// demand. Requests are recorded; the streams are driven by the test through
// `StreamConn`.
import { Code, ConnectError, type ConnectRouter, type ServiceImpl } from "@connectrpc/connect";
import type { DescService } from "@bufbuild/protobuf";
import { DiagnosisService, Severity, type Diagnosis, type ListDiagnosesRequest } from "../src/gen/clustergenie/diagnosis/v1/diagnosis_pb";
import { JobKind, JobService, JobStatus, type Job, type ListJobsRequest } from "../src/gen/clustergenie/jobs/v1/jobs_pb";
import {
  ActivityService,
  type ActivityEntry,
  type ListActivityRequest,
  type StreamActivityRequest,
  type StreamActivityResponse,
} from "../src/gen/clustergenie/monitoring/v1/monitoring_pb";
import {
  ClusterHealth,
  ClusterService,
  DropletService,
  DropletStatus,
  type Cluster,
  type Droplet,
} from "../src/gen/clustergenie/provisioning/v1/provisioning_pb";
import {
  ScaleAction,
  ScalerService,
  type Decision,
  type ListDecisionsRequest,
  type WatchDecisionsRequest,
  type WatchDecisionsResponse,
} from "../src/gen/clustergenie/scaler/v1/scaler_pb";
import type { Session } from "../src/lib/auth";
import { decision } from "./autoscaling-fixtures";
import { diagnosis } from "./diagnosis-fixtures";
import { cluster, droplet, job, renderApp, SESSIONS } from "./harness";
import { entry, StreamConn, ts } from "./monitoring-fixtures";

export { decision, diagnosis, entry, StreamConn };

function page<T>(newestFirst: T[], pageSize: number, token: string) {
  const size = pageSize || 50;
  const from = token ? Number(token) : 0;
  const next = from + size < newestFirst.length ? String(from + size) : "";
  return { items: newestFirst.slice(from, from + size), next };
}

export interface OverviewCalls {
  listJobs: ListJobsRequest[];
  listDecisions: ListDecisionsRequest[];
  watchDecisions: WatchDecisionsRequest[];
  listDiagnoses: ListDiagnosesRequest[];
  listActivity: ListActivityRequest[];
  streamActivity: StreamActivityRequest[];
}

/**
 * Two clusters (web: 3 droplets, $18/mo, healthy; db: 1 droplet, $6/mo,
 * degraded), their droplets, a job in each status, two decisions, two
 * diagnoses and three activity entries.
 */
export function overviewFake() {
  const clusters: Cluster[] = [
    cluster({ id: "c1", name: "web", dropletCount: 3, health: ClusterHealth.HEALTHY, cost: { monthlyCents: 1800n, currency: "USD" } }),
    cluster({ id: "c2", name: "db", dropletCount: 1, health: ClusterHealth.DEGRADED, cost: { monthlyCents: 600n, currency: "USD" } }),
  ];
  const droplets: Droplet[] = [
    droplet({ id: "d1", name: "web-1", clusterId: "c1", status: DropletStatus.ACTIVE }),
    droplet({ id: "d2", name: "web-2", clusterId: "c1", status: DropletStatus.ACTIVE }),
    droplet({ id: "d3", name: "web-3", clusterId: "c1", status: DropletStatus.NEW }),
    droplet({ id: "d4", name: "db-1", clusterId: "c2", status: DropletStatus.OFF }),
  ];
  const at = (minutesAgo: number) => ts(Date.now() - minutesAgo * 60_000);
  const scale = { action: { case: "scaleCluster" as const, value: { targetCount: 5 } } };
  const resize = { action: { case: "resizeDroplet" as const, value: { dropletId: "d4", size: "s-2vcpu-2gb" } } };
  /** Oldest first. */
  const jobs: Job[] = [
    job({ id: "j-done", clusterId: "c1", kind: JobKind.SCALE_CLUSTER, action: scale, status: JobStatus.SUCCEEDED, progress: 100, createTime: at(50) }),
    job({ id: "j-failed", clusterId: "c2", kind: JobKind.RESIZE_DROPLET, action: resize, status: JobStatus.FAILED, createTime: at(40) }),
    job({ id: "j-cancelled", clusterId: "c2", kind: JobKind.RESIZE_DROPLET, action: resize, status: JobStatus.CANCELLED, createTime: at(30) }),
    job({
      id: "j-running",
      clusterId: "c1",
      kind: JobKind.SCALE_CLUSTER,
      action: scale,
      status: JobStatus.RUNNING,
      progress: 40,
      message: "created 1 of 2 droplets",
      createTime: at(2),
    }),
    job({ id: "j-queued", clusterId: "c2", kind: JobKind.RESIZE_DROPLET, action: resize, status: JobStatus.QUEUED, createTime: at(1) }),
  ];
  /** Oldest first. */
  const decisions: Decision[] = [
    decision(1, { clusterId: "c2", explanation: "within tolerance" }),
    decision(2, {
      clusterId: "c1",
      action: ScaleAction.SCALE_UP,
      currentDroplets: 3,
      desiredDroplets: 5,
      jobId: "j-running",
      explanation: "cpu 92% vs target 60%",
    }),
  ];
  /** Oldest first. */
  const diagnoses: Diagnosis[] = [
    diagnosis(1, { clusterId: "c2", dropletId: "d4", summary: "no findings", severity: Severity.INFO }),
    diagnosis(2, { clusterId: "c1", severity: Severity.WARNING, summary: "1 warning: memory grows on web-1" }),
  ];
  /** Stored activity, oldest first (stream order). */
  const activity: ActivityEntry[] = [1, 2, 3].map((n) => entry(n));
  const decisionStreams: StreamConn<WatchDecisionsResponse>[] = [];
  const activityStreams: StreamConn<StreamActivityResponse>[] = [];
  /** Services answering with an error, by full name. */
  const failing = new Map<string, ConnectError>();
  const calls: OverviewCalls = { listJobs: [], listDecisions: [], watchDecisions: [], listDiagnoses: [], listActivity: [], streamActivity: [] };

  /** `impl` on `router`, each method failing first while the service is set to. */
  function serve<S extends DescService>(router: ConnectRouter, service: S, impl: Partial<ServiceImpl<S>>) {
    const wrapped = Object.entries(impl).map(([name, fn]) => [
      name,
      (...args: unknown[]) => {
        const err = failing.get(service.typeName);
        if (err) throw err;
        return (fn as (...a: unknown[]) => unknown)(...args);
      },
    ]);
    router.service(service, Object.fromEntries(wrapped) as Partial<ServiceImpl<S>>);
  }

  function routes(router: ConnectRouter) {
    serve(router, ClusterService, {
      listClusters: (req) => {
        const { items, next } = page(clusters, req.pageSize, req.pageToken);
        return { clusters: items, nextPageToken: next };
      },
    });
    serve(router, DropletService, {
      listDroplets: (req) => {
        const { items, next } = page(droplets, req.pageSize, req.pageToken);
        return { droplets: items, nextPageToken: next };
      },
    });
    serve(router, JobService, {
      listJobs: (req) => {
        calls.listJobs.push(req);
        const newestFirst = jobs.filter((j) => !req.status || j.status === req.status).reverse();
        const { items, next } = page(newestFirst, req.pageSize, req.pageToken);
        return { jobs: items, nextPageToken: next };
      },
    });
    serve(router, ScalerService, {
      listDecisions: (req) => {
        calls.listDecisions.push(req);
        const newestFirst = decisions.filter((d) => !req.clusterId || d.clusterId === req.clusterId).reverse();
        const { items, next } = page(newestFirst, req.pageSize, req.pageToken);
        return { decisions: items, nextPageToken: next };
      },
      watchDecisions: (req, ctx) => {
        calls.watchDecisions.push(req);
        const conn = new StreamConn<WatchDecisionsResponse>();
        decisionStreams.push(conn);
        return conn.iterate(ctx.signal);
      },
    });
    serve(router, DiagnosisService, {
      listDiagnoses: (req) => {
        calls.listDiagnoses.push(req);
        const newestFirst = diagnoses.filter((d) => !req.clusterId || d.clusterId === req.clusterId).reverse();
        const { items, next } = page(newestFirst, req.pageSize, req.pageToken);
        return { diagnoses: items, nextPageToken: next };
      },
    });
    serve(router, ActivityService, {
      listActivity: (req) => {
        calls.listActivity.push(req);
        const { items, next } = page([...activity].reverse(), req.pageSize, req.pageToken);
        return { entries: items, nextPageToken: next };
      },
      streamActivity: (req, ctx) => {
        calls.streamActivity.push(req);
        // Like the server: with `since`, replay what was stored after it first.
        const replay = req.since ? activity.filter((e) => e.cursor > req.since).map((e) => ({ entry: e })) : [];
        const conn = new StreamConn<StreamActivityResponse>(replay as StreamActivityResponse[]);
        activityStreams.push(conn);
        return conn.iterate(ctx.signal);
      },
    });
  }

  return {
    clusters,
    droplets,
    jobs,
    decisions,
    diagnoses,
    activity,
    decisionStreams,
    activityStreams,
    calls,
    routes,
    /** Every call to `service` fails with `err` from now on. */
    fail(service: DescService, err = new ConnectError(`${service.name} is down`, Code.Internal)) {
      failing.set(service.typeName, err);
    },
    /** Moves a stored job on (ListJobs answers it so from then on). */
    updateJob(id: string, patch: Partial<Pick<Job, "status" | "progress" | "message">>) {
      const i = jobs.findIndex((j) => j.id === id);
      jobs[i] = { ...jobs[i]!, ...patch } as Job;
    },
    /** Stores an entry and sends it to every open activity stream, as the server does. */
    appendActivity(e: ActivityEntry) {
      activity.push(e);
      for (const s of activityStreams) if (s.open) s.push({ entry: e } as StreamActivityResponse);
    },
    /** Stores a decision and sends it to every open WatchDecisions stream. */
    record(d: Decision) {
      decisions.push(d);
      for (const s of decisionStreams) if (s.open) s.push({ decision: d } as WatchDecisionsResponse);
    },
  };
}

export type OverviewFake = ReturnType<typeof overviewFake>;

/** The whole app on the overview, signed in (a viewer by default: the page needs no more), on `fake`. */
export function openOverview(fake: OverviewFake = overviewFake(), session: Session = SESSIONS.viewer) {
  return { fake, ...renderApp({ session, path: "/", routes: fake.routes }) };
}
