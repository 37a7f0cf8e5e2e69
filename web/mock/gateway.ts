// A stand-in for the Rust gateway, for developing and checking the dashboard
// without the service mesh: serves web/dist and gRPC-web on one port, with
// in-memory clusters, droplets, actions and jobs that progress on timers,
// bearer-token auth with roles, and per-token rate limits with the real
// header contract. Not a reference implementation: only what the UI uses.
//
//   npm run build && npm run mock-gateway          # http://127.0.0.1:8099
//
// Tokens: MOCK_ADMIN_TOKEN (default cgt_admin_dev), cgt_operator_dev,
// cgt_viewer_dev, and cgt_limited_dev (viewer, budget MOCK_LIMITED_BUDGET=5 per 60 s).
import { create, type DescService } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createConnectRouter, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import {
  ActionStatus,
  ActionType,
  CatalogService,
  ClusterSchema,
  ClusterService,
  ClusterStatus,
  CostSchema,
  DropletActionSchema,
  DropletActionService,
  DropletSchema,
  DropletService,
  DropletStatus,
  ImageSchema,
  RegionSchema,
  SizeSchema,
  type Cluster,
  type Droplet,
  type DropletAction,
} from "../src/gen/clustergenie/provisioning/v1/provisioning_pb";
import { JobKind, JobSchema, JobService, JobStatus, type Job, type JobAction } from "../src/gen/clustergenie/jobs/v1/jobs_pb";
import { RateLimitService, Role, TokenSchema, TokenService, type RateLimit, type Token } from "../src/gen/clustergenie/gateway/v1/gateway_pb";
import { BadRequestSchema, RetryInfoSchema } from "../src/gen/google/rpc/error_details_pb";

const PORT = Number(process.env.PORT ?? 8099);
const DIST = fileURLToPath(new URL("../dist/", import.meta.url));
const SPEED = Number(process.env.MOCK_SPEED ?? 1); // >1 finishes things faster

// ------------------------------------------------------------------ catalog
const SIZES = [
  create(SizeSchema, { slug: "s-1vcpu-1gb", vcpus: 1, memoryMb: 1024, diskGb: 25, priceMonthlyCents: 600n, priceHourlyMicros: 8930n, regions: ["nyc1", "ams3", "fra1"] }),
  create(SizeSchema, { slug: "s-1vcpu-2gb", vcpus: 1, memoryMb: 2048, diskGb: 50, priceMonthlyCents: 1200n, priceHourlyMicros: 17860n, regions: ["nyc1", "ams3", "fra1"] }),
  create(SizeSchema, { slug: "s-2vcpu-4gb", vcpus: 2, memoryMb: 4096, diskGb: 80, priceMonthlyCents: 2400n, priceHourlyMicros: 35710n, regions: ["nyc1", "fra1"] }),
];
const REGIONS = [
  create(RegionSchema, { slug: "nyc1", name: "New York 1", available: true, capacity: 200, sizes: ["s-1vcpu-1gb", "s-1vcpu-2gb", "s-2vcpu-4gb"] }),
  create(RegionSchema, { slug: "ams3", name: "Amsterdam 3", available: true, capacity: 100, sizes: ["s-1vcpu-1gb", "s-1vcpu-2gb"] }),
  create(RegionSchema, { slug: "fra1", name: "Frankfurt 1", available: true, capacity: 100, sizes: ["s-1vcpu-1gb", "s-1vcpu-2gb", "s-2vcpu-4gb"] }),
];
const IMAGES = [
  create(ImageSchema, { slug: "ubuntu-24-04-x64", distribution: "Ubuntu", name: "Ubuntu 24.04 (LTS) x64", minDiskGb: 10 }),
  create(ImageSchema, { slug: "debian-12-x64", distribution: "Debian", name: "Debian 12 x64", minDiskGb: 10 }),
];

// ------------------------------------------------------------------ state
let seq = 0;
const newId = (p: string) => `${p}-${(++seq).toString(36).padStart(4, "0")}${Math.random().toString(36).slice(2, 6)}`;
const clusters = new Map<string, Cluster>();
const droplets = new Map<string, Droplet>();
const actions = new Map<string, DropletAction>();
const jobs = new Map<string, Job>();
const version = { n: 0 }; // bumped on every change; watchers poll it
const changed = () => version.n++;
const after = (ms: number, f: () => void) => setTimeout(f, ms / SPEED);

interface TokenRec { token: Token; secret: string }
const tokens = new Map<string, TokenRec>();
function addToken(name: string, role: Role, secret: string) {
  const token = create(TokenSchema, { id: newId("tok"), name, role, prefix: secret.slice(0, 8), createTime: timestampNow() });
  tokens.set(secret, { token, secret });
  return token;
}
addToken("bootstrap-admin", Role.ADMIN, process.env.MOCK_ADMIN_TOKEN ?? "cgt_admin_dev");
addToken("dev-operator", Role.OPERATOR, "cgt_operator_dev");
addToken("dev-viewer", Role.VIEWER, "cgt_viewer_dev");
addToken("dev-limited", Role.VIEWER, "cgt_limited_dev");

let limits: RateLimit[] = [
  { $typeName: "clustergenie.gateway.v1.RateLimit", tier: "default", requests: 300, periodSeconds: 60 },
  { $typeName: "clustergenie.gateway.v1.RateLimit", tier: "expensive", requests: 30, periodSeconds: 60 },
  { $typeName: "clustergenie.gateway.v1.RateLimit", tier: "anonymous", requests: 30, periodSeconds: 60 },
];
const LIMITED_BUDGET = Number(process.env.MOCK_LIMITED_BUDGET ?? 5);

// ------------------------------------------------------------------ auth + limits
const buckets = new Map<string, { tokens: number; at: number }>();

function caller(ctx: HandlerContext): TokenRec | undefined {
  const secret = ctx.requestHeader.get("authorization")?.replace(/^Bearer\s+/i, "") ?? "";
  const rec = tokens.get(secret);
  return rec && !rec.token.revokeTime ? rec : undefined;
}

function budget(rec: TokenRec | undefined, method: string): { key: string; requests: number; period: number } {
  const tier = !rec ? "anonymous" : method === "CreateJob" ? "expensive" : "default";
  const l = limits.find((x) => x.tier === tier) ?? { requests: 60, periodSeconds: 60 };
  if (rec?.token.name === "dev-limited") return { key: `limited`, requests: LIMITED_BUDGET, period: 60 };
  return { key: `${tier}:${rec?.token.id ?? "anon"}`, requests: l.requests, period: l.periodSeconds };
}

/** Token bucket, refilled evenly; sets the ratelimit headers; throws RESOURCE_EXHAUSTED. */
function limit(ctx: HandlerContext, rec: TokenRec | undefined, method: string) {
  const { key, requests, period } = budget(rec, method);
  const rate = requests / period; // tokens per second
  const now = Date.now() / 1000;
  const b = buckets.get(key) ?? { tokens: requests, at: now };
  b.tokens = Math.min(requests, b.tokens + (now - b.at) * rate);
  b.at = now;
  buckets.set(key, b);
  const headers = (remaining: number) => ({
    "ratelimit-limit": String(requests),
    "ratelimit-remaining": String(Math.floor(remaining)),
    "ratelimit-reset": String(Math.ceil((requests - remaining) / rate)),
  });
  if (b.tokens < 1) {
    const wait = Math.ceil((1 - b.tokens) / rate);
    const h = { ...headers(b.tokens), "retry-after": String(wait) };
    for (const [k, v] of Object.entries(h)) ctx.responseHeader.set(k, v);
    throw new ConnectError("rate limit exceeded", Code.ResourceExhausted, h, [
      { desc: RetryInfoSchema, value: { retryDelay: { seconds: BigInt(wait) } } },
    ]);
  }
  b.tokens -= 1;
  for (const [k, v] of Object.entries(headers(b.tokens))) ctx.responseHeader.set(k, v);
}

const MUTATIONS = /^(Create|Update|Delete|Destroy|Cancel|Retry|Inject|Clear|Revoke)/;
const ADMIN_ONLY = new Set(["CreateToken", "ListTokens", "RevokeToken", "UpdateRateLimits"]);

/** Wraps every method of a service with auth, role checks and rate limiting. */
function guarded<S extends DescService>(service: S, impl: Partial<ServiceImpl<S>>): Partial<ServiceImpl<S>> {
  const out: Record<string, unknown> = {};
  for (const m of service.methods) {
    const f = (impl as Record<string, ((req: unknown, ctx: HandlerContext) => unknown) | undefined>)[m.localName];
    if (!f) continue;
    out[m.localName] = (req: unknown, ctx: HandlerContext) => {
      const rec = caller(ctx);
      limit(ctx, rec, m.name);
      if (!rec) throw new ConnectError("missing or invalid bearer token", Code.Unauthenticated);
      const need = ADMIN_ONLY.has(m.name) ? Role.ADMIN : MUTATIONS.test(m.name) ? Role.OPERATOR : Role.VIEWER;
      if (rec.token.role < need) throw new ConnectError(`${m.name} needs the ${Role[need].toLowerCase()} role`, Code.PermissionDenied);
      return f(req, { ...ctx, values: ctx.values } as HandlerContext);
    };
  }
  return out as Partial<ServiceImpl<S>>;
}

function invalid(violations: [string, string][]): never {
  throw new ConnectError("invalid request", Code.InvalidArgument, undefined, [
    { desc: BadRequestSchema, value: { fieldViolations: violations.map(([field, description]) => ({ field, description })) } },
  ]);
}

const DNS = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

function page<T>(rows: T[], pageSize: number, pageToken: string) {
  const size = pageSize > 0 ? Math.min(pageSize, 1000) : 50;
  const offset = pageToken ? Number(pageToken) || 0 : 0;
  const next = offset + size < rows.length ? String(offset + size) : "";
  return { rows: rows.slice(offset, offset + size), next };
}

function must<T>(m: Map<string, T>, id: string, what: string): T {
  const v = m.get(id);
  if (!v) throw new ConnectError(`${what} ${id} not found`, Code.NotFound);
  return v;
}

function refreshCluster(c: Cluster) {
  const live = [...droplets.values()].filter((d) => d.clusterId === c.id && d.status !== DropletStatus.ARCHIVE);
  c.dropletCount = live.length;
  const cents = live.reduce((s, d) => s + (SIZES.find((z) => z.slug === d.size)?.priceMonthlyCents ?? 0n), 0n);
  const micros = live.reduce((s, d) => s + (SIZES.find((z) => z.slug === d.size)?.priceHourlyMicros ?? 0n), 0n);
  c.cost = create(CostSchema, { monthlyCents: cents, hourlyMicros: micros, currency: "USD" });
}

function applySize(d: Droplet, slug: string) {
  const s = SIZES.find((z) => z.slug === slug)!;
  Object.assign(d, { size: slug, vcpus: s.vcpus, memoryMb: s.memoryMb, diskGb: s.diskGb });
}

function makeDroplet(c: Cluster, name: string, size: string, image: string): Droplet {
  const d = create(DropletSchema, {
    id: newId("d"), name, clusterId: c.id, clusterName: c.name, region: c.region, image,
    status: DropletStatus.NEW, publicIpv4: `203.0.113.${(seq % 250) + 1}`, privateIpv4: `10.10.0.${(seq % 250) + 1}`,
    createTime: timestampNow(), updateTime: timestampNow(),
  });
  applySize(d, size);
  droplets.set(d.id, d);
  refreshCluster(c);
  changed();
  after(2500, () => {
    if (d.status === DropletStatus.NEW) {
      d.status = DropletStatus.ACTIVE;
      changed();
    }
  });
  return d;
}

function destroy(d: Droplet) {
  d.status = DropletStatus.ARCHIVE;
  d.locked = false;
  const c = clusters.get(d.clusterId);
  if (c) refreshCluster(c);
  changed();
}

/** Yields `get()` now and after each change until `done`. */
async function* watch<T>(get: () => T, done: (t: T) => boolean, signal: AbortSignal) {
  let seen = -1;
  while (!signal.aborted) {
    if (version.n !== seen) {
      seen = version.n;
      const v = get();
      yield structuredClone(v);
      if (done(v)) return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

// ------------------------------------------------------------------ jobs
function runJob(j: Job) {
  const attempt = j.attempts;
  const alive = () => j.attempts === attempt && j.status !== JobStatus.CANCELLED;
  after(600, () => {
    if (!alive()) return;
    j.status = JobStatus.RUNNING;
    j.attempts += 1;
    j.startTime ??= timestampNow();
    j.message = "started";
    changed();
    const myAttempt = j.attempts;
    const live = () => j.attempts === myAttempt && j.status === JobStatus.RUNNING;
    const finish = (ok: boolean, msg: string) => {
      if (!live()) return;
      if (j.cancelRequested) {
        j.status = JobStatus.CANCELLED;
      } else {
        j.status = ok ? JobStatus.SUCCEEDED : JobStatus.FAILED;
        if (ok) j.progress = 100;
        else j.error = msg;
      }
      j.message = msg;
      j.finishTime = timestampNow();
      changed();
    };
    const a = j.action?.action;
    const c = clusters.get(j.clusterId);
    if (!c) return finish(false, `cluster ${j.clusterId} not found`);
    if (a?.case === "scaleCluster") {
      const liveDroplets = () => [...droplets.values()].filter((d) => d.clusterId === c.id && d.status !== DropletStatus.ARCHIVE);
      const start = liveDroplets().length;
      const target = a.value.targetCount;
      const steps = Math.abs(target - start);
      if (steps === 0) return finish(true, `cluster already has ${target} droplet(s)`);
      let done = 0;
      const tick = () => {
        if (!live()) return;
        if (j.cancelRequested) return finish(false, "cancelled");
        if (target > start) {
          makeDroplet(c, `${c.name}-${liveDroplets().length + 1}-${Math.random().toString(36).slice(2, 5)}`, a.value.size || "s-1vcpu-1gb", a.value.image || "ubuntu-24-04-x64");
        } else {
          const newest = liveDroplets().sort((x, y) => Number(y.createTime!.seconds - x.createTime!.seconds))[0];
          if (newest) destroy(newest);
        }
        done++;
        j.progress = Math.round((done / steps) * 100);
        j.message = `${target > start ? "created" : "destroyed"} ${done} of ${steps} droplet(s)`;
        changed();
        if (done >= steps) finish(true, `cluster has ${target} droplet(s)`);
        else after(1200, tick);
      };
      after(800, tick);
    } else if (a?.case === "resizeDroplet") {
      const d = droplets.get(a.value.dropletId);
      if (!d) return finish(false, `droplet ${a.value.dropletId} not found`);
      j.progress = 30;
      j.message = "powering off";
      changed();
      after(1200, () => {
        if (!live()) return;
        applySize(d, a.value.size);
        refreshCluster(c);
        j.progress = 70;
        j.message = "resized, booting";
        j.result = { $typeName: "clustergenie.jobs.v1.JobResult", createdDropletIds: [], destroyedDropletIds: [], affectedDropletIds: [d.id] };
        changed();
        after(1200, () => finish(true, `resized to ${a.value.size}`));
      });
    } else {
      after(1500, () => finish(true, "done"));
    }
  });
}

function kindOf(a: JobAction | undefined): JobKind {
  switch (a?.action.case) {
    case "provisionDroplets": return JobKind.PROVISION_DROPLETS;
    case "destroyDroplet": return JobKind.DESTROY_DROPLET;
    case "resizeDroplet": return JobKind.RESIZE_DROPLET;
    case "rebootDroplet": return JobKind.REBOOT_DROPLET;
    case "powerCycleDroplet": return JobKind.POWER_CYCLE_DROPLET;
    case "scaleCluster": return JobKind.SCALE_CLUSTER;
    default: return JobKind.UNSPECIFIED;
  }
}

const isTerminal = (s: JobStatus) => s === JobStatus.SUCCEEDED || s === JobStatus.FAILED || s === JobStatus.CANCELLED;

// ------------------------------------------------------------------ services
const router = createConnectRouter({ grpcWeb: true, grpc: false, connect: false });

router.service(TokenService, guarded(TokenService, {
  whoAmI: (_req, ctx) => ({ token: caller(ctx)!.token }),
  createToken(req) {
    if (!req.name || req.name.length > 63) invalid([["name", "1–63 characters"]]);
    if (req.role === Role.UNSPECIFIED) invalid([["role", "choose a role"]]);
    const secret = `cgt_${crypto.randomUUID().replace(/-/g, "")}`;
    return { token: addToken(req.name, req.role, secret), secret };
  },
  listTokens: (req) => ({ tokens: [...tokens.values()].map((t) => t.token).filter((t) => req.includeRevoked || !t.revokeTime) }),
  revokeToken(req) {
    const rec = [...tokens.values()].find((t) => t.token.id === req.id);
    if (!rec) throw new ConnectError("token not found", Code.NotFound);
    rec.token.revokeTime ??= timestampNow();
    return { token: rec.token };
  },
}));

router.service(RateLimitService, guarded(RateLimitService, {
  getRateLimits: () => ({ limits }),
  updateRateLimits(req) {
    const bad = req.limits.flatMap((l, i): [string, string][] => (l.requests < 1 || l.periodSeconds < 1 ? [[`limits[${i}]`, "requests and period must be ≥ 1"]] : []));
    if (bad.length) invalid(bad);
    limits = limits.map((l) => req.limits.find((n) => n.tier === l.tier) ?? l);
    return { limits };
  },
}));

router.service(CatalogService, guarded(CatalogService, {
  listRegions: () => ({ regions: REGIONS }),
  listSizes: (req) => ({ sizes: SIZES.filter((s) => !req.region || s.regions.includes(req.region)) }),
  listImages: () => ({ images: IMAGES }),
}));

router.service(ClusterService, guarded(ClusterService, {
  createCluster(req) {
    const v: [string, string][] = [];
    if (!DNS.test(req.name)) v.push(["name", "must be a DNS label: lowercase letters, digits and '-', 1–63 characters"]);
    else if ([...clusters.values()].some((c) => c.name === req.name)) throw new ConnectError(`a cluster named ${req.name} exists`, Code.AlreadyExists);
    if (!REGIONS.some((r) => r.slug === req.region)) v.push(["region", req.region ? `unknown region ${req.region}` : "required"]);
    if (v.length) invalid(v);
    const c = create(ClusterSchema, {
      id: newId("c"), name: req.name, region: req.region, description: req.description, tags: req.tags,
      status: ClusterStatus.ACTIVE, createTime: timestampNow(), updateTime: timestampNow(),
    });
    refreshCluster(c);
    clusters.set(c.id, c);
    changed();
    return { cluster: c };
  },
  getCluster: (req) => {
    const c = must(clusters, req.id, "cluster");
    refreshCluster(c);
    return { cluster: c };
  },
  listClusters(req) {
    const rows = [...clusters.values()].filter((c) => (!req.region || c.region === req.region) && (!req.status || c.status === req.status));
    rows.forEach(refreshCluster);
    const p = page(rows, req.pageSize, req.pageToken);
    return { clusters: p.rows, nextPageToken: p.next };
  },
  deleteCluster(req) {
    const c = must(clusters, req.id, "cluster");
    refreshCluster(c);
    if (c.dropletCount > 0 && !req.force) throw new ConnectError(`cluster has ${c.dropletCount} droplet(s); use force`, Code.FailedPrecondition);
    let n = 0;
    for (const d of droplets.values()) if (d.clusterId === c.id && d.status !== DropletStatus.ARCHIVE) { destroy(d); n++; }
    clusters.delete(c.id);
    changed();
    return { destroyedDroplets: n };
  },
}));

router.service(DropletService, guarded(DropletService, {
  createDroplet(req) {
    const c = clusters.get(req.clusterId);
    const v: [string, string][] = [];
    if (!c) v.push(["cluster_id", "choose an existing cluster"]);
    if (!DNS.test(req.name)) v.push(["name", "must be a DNS label"]);
    const region = REGIONS.find((r) => r.slug === c?.region);
    if (!region?.sizes.includes(req.size)) v.push(["size", `size ${req.size || "(none)"} is not offered in ${c?.region ?? "this region"}`]);
    if (!IMAGES.some((i) => i.slug === req.image)) v.push(["image", "unknown image"]);
    if (v.length) invalid(v);
    return { droplet: makeDroplet(c!, req.name, req.size, req.image) };
  },
  getDroplet: (req) => ({ droplet: must(droplets, req.id, "droplet") }),
  listDroplets(req) {
    const rows = [...droplets.values()].filter(
      (d) =>
        (!req.clusterId || d.clusterId === req.clusterId) &&
        (!req.region || d.region === req.region) &&
        (req.status ? d.status === req.status : req.includeArchived || d.status !== DropletStatus.ARCHIVE),
    );
    const p = page(rows, req.pageSize, req.pageToken);
    return { droplets: p.rows, nextPageToken: p.next };
  },
  destroyDroplet(req) {
    const d = must(droplets, req.id, "droplet");
    destroy(d);
    return { droplet: d };
  },
  watchDroplet: (req, ctx) => {
    must(droplets, req.id, "droplet");
    return (async function* () {
      for await (const d of watch(() => droplets.get(req.id)!, (d) => d.status === DropletStatus.ARCHIVE, ctx.signal)) yield { droplet: d };
    })();
  },
}));

router.service(DropletActionService, guarded(DropletActionService, {
  createDropletAction(req) {
    const d = must(droplets, req.dropletId, "droplet");
    if (d.status === DropletStatus.ARCHIVE) throw new ConnectError("droplet is archived", Code.FailedPrecondition);
    if (d.locked || d.status === DropletStatus.NEW) throw new ConnectError("droplet is busy (locked)", Code.FailedPrecondition);
    if (req.type === ActionType.RESIZE) {
      const region = REGIONS.find((r) => r.slug === d.region);
      if (req.params.case !== "resize" || !region?.sizes.includes(req.params.value.size)) invalid([["size", "choose a size the region offers"]]);
    }
    if (req.type === ActionType.RENAME && (req.params.case !== "rename" || !DNS.test(req.params.value.name))) invalid([["name", "must be a DNS label"]]);
    const a = create(DropletActionSchema, {
      id: newId("a"), dropletId: d.id, clusterId: d.clusterId, type: req.type, status: ActionStatus.IN_PROGRESS,
      region: d.region, startedAt: timestampNow(), params: req.params.case ? (req.params as DropletAction["params"]) : { case: undefined },
    });
    actions.set(a.id, a);
    d.locked = true;
    changed();
    after(2000, () => {
      d.locked = false;
      const p = a.params;
      switch (a.type) {
        case ActionType.RESIZE: if (p.case === "resize") applySize(d, p.value.size); break;
        case ActionType.RENAME: if (p.case === "rename") d.name = p.value.name; break;
        case ActionType.POWER_OFF: case ActionType.SHUTDOWN: d.status = DropletStatus.OFF; break;
        case ActionType.POWER_ON: case ActionType.REBOOT: case ActionType.POWER_CYCLE: d.status = DropletStatus.ACTIVE; break;
        case ActionType.DESTROY: destroy(d); break;
      }
      const c = clusters.get(d.clusterId);
      if (c) refreshCluster(c);
      a.status = ActionStatus.COMPLETED;
      a.completedAt = timestampNow();
      changed();
    });
    return { action: a };
  },
  getDropletAction: (req) => ({ action: must(actions, req.id, "action") }),
  listDropletActions: (req) => ({ actions: [...actions.values()].filter((a) => a.dropletId === req.dropletId).reverse() }),
  watchDropletAction: (req, ctx) => {
    must(actions, req.id, "action");
    return (async function* () {
      for await (const a of watch(() => actions.get(req.id)!, (a) => a.status !== ActionStatus.IN_PROGRESS, ctx.signal)) yield { action: a };
    })();
  },
}));

router.service(JobService, guarded(JobService, {
  createJob(req, ctx) {
    const a = req.action?.action;
    if (!a?.case) invalid([["action", "choose an action"]]);
    if (a.case === "scaleCluster" && (a.value.targetCount < 0 || a.value.targetCount > 100)) invalid([["action.scale_cluster.target_count", "0–100"]]);
    if (a.case === "resizeDroplet" && !a.value.dropletId) invalid([["action.resize_droplet.droplet_id", "required"]]);
    if (!req.clusterId) invalid([["cluster_id", "required"]]);
    const replay = [...jobs.values()].find((j) => req.requestId && j.requestId === req.requestId);
    if (replay) return { job: replay };
    const j = create(JobSchema, {
      id: newId("job"), clusterId: req.clusterId, kind: kindOf(req.action), action: req.action, status: JobStatus.QUEUED,
      maxAttempts: req.maxAttempts || 3, createTime: timestampNow(), updateTime: timestampNow(), requestId: req.requestId,
      requestedBy: caller(ctx)?.token.name ?? "", source: req.source || 1, message: "queued",
    });
    jobs.set(j.id, j);
    changed();
    runJob(j);
    return { job: j };
  },
  getJob: (req) => ({ job: must(jobs, req.id, "job") }),
  listJobs(req) {
    const rows = [...jobs.values()]
      .filter((j) => (!req.clusterId || j.clusterId === req.clusterId) && (!req.status || j.status === req.status) && (!req.kind || j.kind === req.kind))
      .reverse();
    const p = page(rows, req.pageSize, req.pageToken);
    return { jobs: p.rows, nextPageToken: p.next };
  },
  cancelJob(req) {
    const j = must(jobs, req.id, "job");
    if (isTerminal(j.status)) throw new ConnectError("job already finished", Code.FailedPrecondition);
    if (j.status === JobStatus.QUEUED) {
      j.status = JobStatus.CANCELLED;
      j.finishTime = timestampNow();
    } else j.cancelRequested = true;
    changed();
    return { job: j };
  },
  retryJob(req) {
    const j = must(jobs, req.id, "job");
    if (j.status !== JobStatus.FAILED && j.status !== JobStatus.CANCELLED) throw new ConnectError("only failed or cancelled jobs can be retried", Code.FailedPrecondition);
    Object.assign(j, { status: JobStatus.QUEUED, progress: 0, error: "", cancelRequested: false, finishTime: undefined, message: "queued for retry" });
    if (j.attempts >= j.maxAttempts) j.maxAttempts += 1;
    changed();
    runJob(j);
    return { job: j };
  },
  watchJob: (req, ctx) => {
    must(jobs, req.id, "job");
    return (async function* () {
      for await (const j of watch(() => jobs.get(req.id)!, (j) => isTerminal(j.status), ctx.signal)) yield { job: j };
    })();
  },
}));

// ------------------------------------------------------------------ http
const handlers = new Map(router.handlers.map((h) => [h.requestPath, h]));
const TYPES: Record<string, string> = { ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".png": "image/png" };

const server = createServer(async (req, res) => {
  const url = new URL(req.url ?? "/", "http://local");
  const handler = handlers.get(url.pathname);
  try {
    if (handler && req.method === "POST") {
      const ctrl = new AbortController();
      res.on("close", () => ctrl.abort());
      const header = new Headers();
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") header.set(k, v);
      const out = await handler({
        httpVersion: req.httpVersion,
        method: req.method,
        url: url.toString(),
        header,
        body: (async function* () {
          for await (const chunk of req) yield new Uint8Array(chunk as Buffer);
        })(),
        signal: ctrl.signal,
      });
      res.writeHead(out.status, Object.fromEntries(out.header ?? []));
      if (out.body) for await (const chunk of out.body) res.write(chunk);
      res.end();
      return;
    }
    const path = normalize(url.pathname === "/" ? "/index.html" : decodeURIComponent(url.pathname));
    if (path.includes("..")) throw Object.assign(new Error("bad path"), { code: "ENOENT" });
    const body = await readFile(join(DIST, path));
    res.writeHead(200, { "content-type": TYPES[extname(path)] ?? "application/octet-stream" });
    res.end(body);
  } catch (e) {
    if (!res.headersSent) {
      res.writeHead((e as { code?: string }).code === "ENOENT" ? 404 : 500, { "content-type": "text/plain" });
    }
    res.end(String((e as Error).message));
  }
});

server.listen(PORT, "127.0.0.1", () => {
  console.log(`mock gateway on http://127.0.0.1:${PORT} (serving ${DIST})`);
});
