// An in-memory diagnosis backend for the diagnosis tests: clusters and
// droplets for the picker, StreamDiagnosis streams the test drives through
// `StreamConn` (or answers at once with `autoAnswer`), stored diagnoses
// (listed newest first, paged), ImplementRecommendation creating jobs, and
// WatchJob / GetJob for the job a recommendation became. Every request is
// recorded.
import { clone, create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import {
  DiagnosisSchema,
  DiagnosisService,
  DiagnosisStatus,
  EvidenceSchema,
  ExplanationSource,
  FindingSchema,
  RecommendationSchema,
  Risk,
  Severity,
  type DiagnoseRequest,
  type Diagnosis,
  type Evidence,
  type Finding,
  type ImplementRecommendationRequest,
  type ListDiagnosesRequest,
  type Recommendation,
  type StreamDiagnosisResponse,
} from "../src/gen/clustergenie/diagnosis/v1/diagnosis_pb";
import { JobKind, JobService, JobStatus, type Job, type WatchJobResponse } from "../src/gen/clustergenie/jobs/v1/jobs_pb";
import { ClusterService, DropletService, type Cluster, type Droplet } from "../src/gen/clustergenie/provisioning/v1/provisioning_pb";
import type { Session } from "../src/lib/auth";
import { cluster, droplet, job, renderApp, SESSIONS } from "./harness";
import { StreamConn, ts } from "./monitoring-fixtures";

export { StreamConn, ts };

/** 2024-05-01T12:00:00Z, the end of every evidence window here. */
export const WINDOW_END = 1_714_564_800;

export function evidence(init: Omit<MessageInitShape<typeof EvidenceSchema>, "$typeName"> = {}): Evidence {
  return create(EvidenceSchema, {
    metric: "memory_growth_percent_per_hour",
    value: 240.5,
    threshold: 10,
    unit: "%/h",
    window: { seconds: 600n },
    windowEnd: { seconds: BigInt(WINDOW_END) },
    ...init,
  });
}

export function finding(id: string, init: Omit<MessageInitShape<typeof FindingSchema>, "$typeName"> = {}): Finding {
  return create(FindingSchema, {
    id,
    analyzer: "memory_leak",
    severity: Severity.WARNING,
    title: `finding ${id}`,
    detail: `what ${id} means`,
    dropletId: "d1",
    evidence: [evidence()],
    ...init,
  });
}

export function resizeRec(id: string, findingIds: string[], init: Omit<MessageInitShape<typeof RecommendationSchema>, "$typeName"> = {}): Recommendation {
  return create(RecommendationSchema, {
    id,
    title: "Resize web-1 to s-2vcpu-2gb",
    rationale: "Memory grows steadily; more headroom buys time to find the leak.",
    findingIds,
    action: { action: { case: "resizeDroplet", value: { dropletId: "d1", size: "s-2vcpu-2gb" } } },
    risk: Risk.MEDIUM,
    expectedEffect: "memory headroom doubles (1 GB → 2 GB)",
    monthlyCostDeltaCents: 1200n,
    ...init,
  });
}

export function diagnosis(n: number, init: Omit<MessageInitShape<typeof DiagnosisSchema>, "$typeName"> = {}): Diagnosis {
  return create(DiagnosisSchema, {
    id: `dg${n}`,
    clusterId: "c1",
    status: DiagnosisStatus.COMPLETED,
    severity: Severity.INFO,
    summary: `diagnosis ${n}`,
    llm: { source: ExplanationSource.RULES },
    createTime: ts(Date.now() - (1000 - n) * 1000),
    requestedBy: "olga-operator",
    duration: { seconds: 0n, nanos: 350_000_000 },
    ...init,
  });
}

export interface DiagnosisCalls {
  streamDiagnosis: DiagnoseRequest[];
  getDiagnosis: string[];
  listDiagnoses: ListDiagnosesRequest[];
  implementRecommendation: ImplementRecommendationRequest[];
  watchJob: string[];
}

export function diagnosisFake() {
  const clusters: Cluster[] = [cluster({ id: "c1", name: "web", dropletCount: 2 }), cluster({ id: "c2", name: "db", dropletCount: 1 })];
  const droplets: Droplet[] = [
    droplet({ id: "d1", name: "web-1", clusterId: "c1" }),
    droplet({ id: "d2", name: "web-2", clusterId: "c1" }),
    droplet({ id: "d3", name: "db-1", clusterId: "c2" }),
  ];
  /** Stored diagnoses, oldest first. */
  const diagnoses: Diagnosis[] = [];
  const jobs = new Map<string, Job>();
  const streams: StreamConn<StreamDiagnosisResponse>[] = [];
  const jobStreams = new Map<string, StreamConn<WatchJobResponse>>();
  const calls: DiagnosisCalls = { streamDiagnosis: [], getDiagnosis: [], listDiagnoses: [], implementRecommendation: [], watchJob: [] };
  let nextJob = 1;
  /** When set, StreamDiagnosis stores and answers these states at once, then ends. */
  let autoAnswer: ((req: DiagnoseRequest) => Diagnosis[]) | null = null;

  function store(d: Diagnosis) {
    const i = diagnoses.findIndex((x) => x.id === d.id);
    if (i >= 0) diagnoses[i] = d;
    else diagnoses.push(d);
  }

  function routes(router: ConnectRouter) {
    router.service(ClusterService, { listClusters: () => ({ clusters }) });
    router.service(DropletService, {
      listDroplets: (req) => ({ droplets: droplets.filter((d) => !req.clusterId || d.clusterId === req.clusterId) }),
    });
    router.service(DiagnosisService, {
      streamDiagnosis(req, ctx) {
        calls.streamDiagnosis.push(req);
        if (!clusters.some((c) => c.id === req.clusterId)) throw new ConnectError("no such cluster", Code.NotFound);
        if (autoAnswer) {
          const states = autoAnswer(req);
          states.forEach(store);
          const conn = new StreamConn<StreamDiagnosisResponse>(states.map((d) => ({ diagnosis: d }) as StreamDiagnosisResponse));
          conn.end();
          return conn.iterate(ctx.signal);
        }
        const conn = new StreamConn<StreamDiagnosisResponse>();
        streams.push(conn);
        return conn.iterate(ctx.signal);
      },
      getDiagnosis(req) {
        calls.getDiagnosis.push(req.id);
        const d = diagnoses.find((x) => x.id === req.id);
        if (!d) throw new ConnectError(`no diagnosis ${req.id}`, Code.NotFound);
        return { diagnosis: d };
      },
      listDiagnoses(req) {
        calls.listDiagnoses.push(req);
        const newestFirst = diagnoses.filter((d) => !req.clusterId || d.clusterId === req.clusterId).reverse();
        const size = req.pageSize || 50;
        const from = req.pageToken ? Number(req.pageToken) : 0;
        const next = from + size < newestFirst.length ? String(from + size) : "";
        return { diagnoses: newestFirst.slice(from, from + size), nextPageToken: next };
      },
      implementRecommendation(req) {
        calls.implementRecommendation.push(req);
        const i = diagnoses.findIndex((x) => x.id === req.diagnosisId);
        const rec = diagnoses[i]?.recommendations.find((r) => r.id === req.recommendationId);
        if (!rec) throw new ConnectError("no such recommendation", Code.NotFound);
        if (!rec.action) throw new ConnectError(`recommendation ${rec.id} has no action`, Code.FailedPrecondition);
        if (rec.implementedJobId) throw new ConnectError(`already implemented by job ${rec.implementedJobId}`, Code.FailedPrecondition);
        const j = job({ id: `job${nextJob++}`, clusterId: diagnoses[i]!.clusterId, kind: JobKind.RESIZE_DROPLET, action: rec.action, status: JobStatus.QUEUED });
        jobs.set(j.id, j);
        const next = clone(DiagnosisSchema, diagnoses[i]!);
        next.recommendations.find((r) => r.id === rec.id)!.implementedJobId = j.id;
        diagnoses[i] = next;
        return { job: j };
      },
    });
    router.service(JobService, {
      getJob(req) {
        const j = jobs.get(req.id);
        if (!j) throw new ConnectError("no such job", Code.NotFound);
        return { job: j };
      },
      listJobs: () => ({ jobs: [...jobs.values()] }),
      watchJob(req, ctx) {
        calls.watchJob.push(req.id);
        const j = jobs.get(req.id);
        if (!j) throw new ConnectError("no such job", Code.NotFound);
        const conn = new StreamConn<WatchJobResponse>([{ job: j } as WatchJobResponse]);
        jobStreams.set(req.id, conn);
        return conn.iterate(ctx.signal);
      },
    });
  }

  return {
    clusters,
    droplets,
    diagnoses,
    jobs,
    streams,
    calls,
    routes,
    store,
    /** The open StreamDiagnosis streams. */
    open: () => streams.filter((s) => s.open),
    /** Stores a state of a diagnosis and sends it on the newest open stream. */
    send(d: Diagnosis) {
      store(d);
      streams.filter((s) => s.open).at(-1)?.push({ diagnosis: d } as StreamDiagnosisResponse);
    },
    /** Moves a job on, as the executor would, and sends it to its WatchJob stream. */
    advanceJob(id: string, patch: Partial<Pick<Job, "status" | "progress" | "message">>) {
      const j = { ...jobs.get(id)!, ...patch } as Job;
      jobs.set(id, j);
      jobStreams.get(id)?.push({ job: j } as WatchJobResponse);
    },
    answerAtOnce(fn: ((req: DiagnoseRequest) => Diagnosis[]) | null) {
      autoAnswer = fn;
    },
  };
}

export type DiagnosisFake = ReturnType<typeof diagnosisFake>;

/** The whole app at `path`, signed in (an operator by default), on a fresh fake diagnosis backend. */
export function openDiagnosis(path = "/diagnosis?cluster=c1", session: Session = SESSIONS.operator, fake: DiagnosisFake = diagnosisFake()) {
  return { fake, ...renderApp({ session, path, routes: fake.routes }) };
}
