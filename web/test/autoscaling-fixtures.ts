// An in-memory scaler backend for the autoscaling tests: clusters and the
// catalog for the pickers, policies (validated like the server, with field
// violations named as it names them), cluster scaling, decisions (listed
// newest first, paged) and WatchDecisions streams the test drives through
// `StreamConn`. Every mutating request is recorded.
import { clone, create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { MetricKind } from "../src/gen/clustergenie/monitoring/v1/monitoring_pb";
import { ClusterService, type Cluster } from "../src/gen/clustergenie/provisioning/v1/provisioning_pb";
import {
  ClusterScalingSchema,
  DecisionSchema,
  PolicySchema,
  ScaleAction,
  ScalerService,
  type ClusterScaling,
  type CreatePolicyRequest,
  type Decision,
  type EvaluateNowRequest,
  type ListDecisionsRequest,
  type Policy,
  type UpdateClusterScalingRequest,
  type UpdatePolicyRequest,
  type WatchDecisionsRequest,
  type WatchDecisionsResponse,
} from "../src/gen/clustergenie/scaler/v1/scaler_pb";
import { BadRequestSchema } from "../src/gen/google/rpc/error_details_pb";
import type { Session } from "../src/lib/auth";
import { catalog, cluster, renderApp, SESSIONS } from "./harness";
import { StreamConn, ts } from "./monitoring-fixtures";

export { StreamConn };

/** INVALID_ARGUMENT with these field violations, as the server sends it. */
export function violations(...fields: [string, string][]): ConnectError {
  return new ConnectError("invalid request", Code.InvalidArgument, undefined, [
    { desc: BadRequestSchema, value: { fieldViolations: fields.map(([field, description]) => ({ field, description })) } },
  ]);
}

const ZONES = new Set(["", "UTC", "Europe/Berlin", "America/New_York"]);

export function decision(n: number, init: Omit<MessageInitShape<typeof DecisionSchema>, "$typeName"> = {}): Decision {
  return create(DecisionSchema, {
    id: `dec${n}`,
    clusterId: "c1",
    currentDroplets: 3,
    desiredDroplets: 3,
    action: ScaleAction.NONE,
    explanation: `decision ${n}`,
    // Decision n was made n seconds after the epoch of the test's history.
    createTime: ts(Date.now() - (1000 - n) * 1000),
    ...init,
  });
}

export function policy(init: Omit<MessageInitShape<typeof PolicySchema>, "$typeName">): Policy {
  return create(PolicySchema, {
    clusterId: "c1",
    metric: MetricKind.CPU_PERCENT,
    targetValue: 60,
    minDroplets: 2,
    maxDroplets: 6,
    size: "s-1vcpu-1gb",
    image: "ubuntu-24-04-x64",
    scaleUpStabilization: { seconds: 0n },
    scaleDownStabilization: { seconds: 300n },
    ...init,
  });
}

export interface ScalerCalls {
  createPolicy: CreatePolicyRequest[];
  updatePolicy: UpdatePolicyRequest[];
  deletePolicy: string[];
  evaluateNow: EvaluateNowRequest[];
  updateClusterScaling: UpdateClusterScalingRequest[];
  listDecisions: ListDecisionsRequest[];
  watchDecisions: WatchDecisionsRequest[];
}

export function scalerFake() {
  const clusters: Cluster[] = [
    cluster({ id: "c1", name: "web", dropletCount: 3, cost: { monthlyCents: 1800n, currency: "USD" } }),
    cluster({ id: "c2", name: "db", dropletCount: 1 }),
  ];
  const policies: Policy[] = [];
  /** Stored decisions, oldest first. */
  const decisions: Decision[] = [];
  const scaling = new Map<string, ClusterScaling>();
  const streams: { cluster: string; conn: StreamConn<WatchDecisionsResponse> }[] = [];
  const calls: ScalerCalls = {
    createPolicy: [],
    updatePolicy: [],
    deletePolicy: [],
    evaluateNow: [],
    updateClusterScaling: [],
    listDecisions: [],
    watchDecisions: [],
  };
  /** What EvaluateNow answers when the cluster has a policy to weigh. */
  let dryRun: Decision = decision(0, { id: "", dryRun: true });
  let nextId = 1;

  function validate(p: Policy, taken: boolean): void {
    const bad: [string, string][] = [];
    if (!p.name) bad.push(["name", "must be 1–63 characters"]);
    if (!(p.targetValue > 0)) bad.push(["target_value", "must be a number above 0"]);
    else if (p.metric === MetricKind.CPU_PERCENT && p.targetValue > 100) bad.push(["target_value", "a percent target must be at most 100"]);
    if (p.minDroplets < 1 || p.minDroplets > 100) bad.push(["min_droplets", "must be 1–100"]);
    if (p.maxDroplets < 1 || p.maxDroplets > 100) bad.push(["max_droplets", "must be 1–100"]);
    else if (p.maxDroplets < p.minDroplets) bad.push(["max_droplets", "must be at least min_droplets"]);
    p.schedules.forEach((s, i) => {
      if (s.cron.split(" ").length !== 5) bad.push([`schedules[${i}].cron`, "must have 5 fields"]);
      if (!ZONES.has(s.timeZone)) bad.push([`schedules[${i}].time_zone`, `unknown time zone ${JSON.stringify(s.timeZone)}`]);
      if (!s.duration) bad.push([`schedules[${i}].duration`, "must be a duration of 1 min – 7 days"]);
      if (s.minDroplets < 0) bad.push([`schedules[${i}].min_droplets`, "must not be negative"]);
    });
    if (bad.length) throw violations(...bad);
    if (taken) throw new ConnectError(`a policy named ${p.name} exists in this cluster`, Code.AlreadyExists);
  }

  function routes(router: ConnectRouter) {
    catalog(router);
    router.service(ClusterService, {
      listClusters: () => ({ clusters }),
    });
    router.service(ScalerService, {
      createPolicy(req) {
        calls.createPolicy.push(req);
        if (!clusters.some((c) => c.id === req.clusterId)) throw new ConnectError("no such cluster", Code.NotFound);
        const p = create(PolicySchema, {
          clusterId: req.clusterId,
          name: req.name,
          metric: req.metric,
          targetValue: req.targetValue,
          minDroplets: req.minDroplets,
          maxDroplets: req.maxDroplets,
          size: req.size,
          image: req.image,
          enabled: req.enabled,
          schedules: req.schedules,
          id: `p${nextId++}`,
          scaleUpStabilization: req.scaleUpStabilization ?? { seconds: 0n },
          scaleDownStabilization: req.scaleDownStabilization ?? { seconds: 300n },
          createTime: ts(Date.now()),
        });
        validate(p, policies.some((x) => x.clusterId === req.clusterId && x.name === req.name));
        policies.push(p);
        return { policy: p };
      },
      getPolicy(req) {
        const p = policies.find((x) => x.id === req.id);
        if (!p) throw new ConnectError("no such policy", Code.NotFound);
        return { policy: p };
      },
      listPolicies: (req) => ({ policies: policies.filter((p) => !req.clusterId || p.clusterId === req.clusterId) }),
      updatePolicy(req) {
        calls.updatePolicy.push(req);
        const i = policies.findIndex((x) => x.id === req.policy?.id);
        if (i < 0 || !req.policy) throw new ConnectError("no such policy", Code.NotFound);
        const paths = req.updateMask?.paths ?? [];
        if (paths.length === 0) throw violations(["update_mask", "must name at least one field"]);
        const next = clone(PolicySchema, policies[i]!);
        const patch = req.policy as unknown as Record<string, unknown>;
        const target = next as unknown as Record<string, unknown>;
        for (const path of paths) {
          const key = path.replace(/_(\w)/g, (_m, ch: string) => ch.toUpperCase());
          target[key] = patch[key];
        }
        next.scaleUpStabilization ??= { $typeName: "google.protobuf.Duration", seconds: 0n, nanos: 0 };
        next.scaleDownStabilization ??= { $typeName: "google.protobuf.Duration", seconds: 300n, nanos: 0 };
        validate(next, paths.includes("name") && policies.some((x) => x.id !== next.id && x.clusterId === next.clusterId && x.name === next.name));
        policies[i] = next;
        return { policy: next };
      },
      deletePolicy(req) {
        calls.deletePolicy.push(req.id);
        const i = policies.findIndex((x) => x.id === req.id);
        if (i < 0) throw new ConnectError("no such policy", Code.NotFound);
        policies.splice(i, 1);
        return {};
      },
      getClusterScaling(req) {
        if (!clusters.some((c) => c.id === req.clusterId)) throw new ConnectError("no such cluster", Code.NotFound);
        return { scaling: scaling.get(req.clusterId) ?? create(ClusterScalingSchema, { clusterId: req.clusterId }) };
      },
      updateClusterScaling(req) {
        calls.updateClusterScaling.push(req);
        const s = req.scaling;
        if (!s || !clusters.some((c) => c.id === s.clusterId)) throw new ConnectError("no such cluster", Code.NotFound);
        if (s.monthlyCostCapCents < 0n) throw violations(["scaling.monthly_cost_cap_cents", "must not be negative"]);
        const saved = create(ClusterScalingSchema, { ...s, updateTime: ts(Date.now()) });
        scaling.set(s.clusterId, saved);
        return { scaling: saved };
      },
      listDecisions(req) {
        calls.listDecisions.push(req);
        const newestFirst = decisions.filter((d) => !req.clusterId || d.clusterId === req.clusterId).reverse();
        const size = req.pageSize || 50;
        const from = req.pageToken ? Number(req.pageToken) : 0;
        const next = from + size < newestFirst.length ? String(from + size) : "";
        return { decisions: newestFirst.slice(from, from + size), nextPageToken: next };
      },
      watchDecisions(req, ctx) {
        calls.watchDecisions.push(req);
        const conn = new StreamConn<WatchDecisionsResponse>();
        streams.push({ cluster: req.clusterId, conn });
        return conn.iterate(ctx.signal);
      },
      evaluateNow(req) {
        calls.evaluateNow.push(req);
        if (!clusters.some((c) => c.id === req.clusterId)) throw new ConnectError("no such cluster", Code.NotFound);
        // As the scaler: a dry run weighs every policy, a real run the enabled ones.
        const weighed = policies.filter((p) => p.clusterId === req.clusterId && (req.dryRun || p.enabled));
        if (weighed.length === 0) {
          throw new ConnectError(
            req.dryRun ? `cluster ${req.clusterId} has no scaling policy` : `cluster ${req.clusterId} has no enabled scaling policy`,
            Code.FailedPrecondition,
          );
        }
        return { decision: dryRun };
      },
    });
  }

  return {
    clusters,
    policies,
    decisions,
    scaling,
    streams,
    calls,
    routes,
    /** The open streams (for a cluster). */
    open: (clusterId = "c1") => streams.filter((s) => s.conn.open && (!s.cluster || s.cluster === clusterId)).map((s) => s.conn),
    /** Stores a decision and sends it to every open stream that wants it, as the server does. */
    record(d: Decision) {
      decisions.push(d);
      for (const s of streams) {
        if (s.conn.open && (!s.cluster || s.cluster === d.clusterId)) s.conn.push({ decision: d } as WatchDecisionsResponse);
      }
    },
    setDryRun(d: Decision) {
      dryRun = d;
    },
  };
}

export type ScalerFake = ReturnType<typeof scalerFake>;

/** The whole app at `path`, signed in (an operator by default), on a fresh fake scaler. */
export function openAutoscaling(path = "/autoscaling?cluster=c1", session: Session = SESSIONS.operator, fake: ScalerFake = scalerFake()) {
  return { fake, ...renderApp({ session, path, routes: fake.routes }) };
}
