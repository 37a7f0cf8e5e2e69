// A diagnosis's recommendations: risk, expected effect, cost, and for those
// with an action an Implement button (operators) that turns it into a job,
// followed inline until it ends.
import { create } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { useTransport } from "@connectrpc/connect-query";
import { useQueryClient } from "@tanstack/react-query";
import { Link } from "wouter";
import {
  DiagnosisService,
  DiagnosisStatus,
  Risk,
  type Diagnosis,
  type Recommendation,
} from "../../gen/clustergenie/diagnosis/v1/diagnosis_pb";
import { GetJobResponseSchema, JobService } from "../../gen/clustergenie/jobs/v1/jobs_pb";
import { Role } from "../../lib/auth";
import { useAuth } from "../../lib/context";
import { describeAction, isTerminalJob, jobStatusLabel, shortId } from "../../lib/format";
import { uiError, useIdempotentMutation, useInvalidate } from "../../lib/query";
import { jobKey, useLiveJob } from "../../lib/useLiveJob";
import { ErrorBanner } from "../../components/ErrorBanner";
import { jobTone } from "../../components/jobTone";
import { Badge, ProgressBar } from "../../components/ui";
import { actionDroplet, actionSlug, formatCostDelta, resizeTarget, riskLabel, riskTone } from "./diagnosis";

export function Recommendations({ diagnosis: d }: { diagnosis: Diagnosis }) {
  const titles = new Map(d.findings.map((f) => [f.id, f.title]));
  // The rules' recommendations are final once the diagnosis completed or is being explained.
  const actionable = d.status === DiagnosisStatus.COMPLETED || d.status === DiagnosisStatus.ENRICHING;
  return (
    <section className="card" data-testid="recommendations">
      <h2>Recommendations ({d.recommendations.length})</h2>
      {d.recommendations.length === 0 ? (
        <p className="muted" data-testid="recommendations-empty">
          Nothing to recommend.
        </p>
      ) : (
        <ol className="recommendations">
          {d.recommendations.map((r) => (
            <RecommendationItem key={r.id} diagnosisId={d.id} rec={r} titles={titles} actionable={actionable} />
          ))}
        </ol>
      )}
    </section>
  );
}

function RecommendationItem({ diagnosisId, rec: r, titles, actionable }: {
  diagnosisId: string;
  rec: Recommendation;
  titles: ReadonlyMap<string, string>;
  actionable: boolean;
}) {
  const { can } = useAuth();
  const transport = useTransport();
  const queryClient = useQueryClient();
  const invalidate = useInvalidate();
  const implement = useIdempotentMutation(DiagnosisService.method.implementRecommendation, {
    onSuccess: (res) => {
      // The job as created: shown at once, then followed live.
      if (res.job) queryClient.setQueryData(jobKey(transport, res.job.id), create(GetJobResponseSchema, { job: res.job }));
      return invalidate(DiagnosisService.method.getDiagnosis, DiagnosisService.method.listDiagnoses, JobService.method.listJobs);
    },
    // Implemented meanwhile (another tab): the diagnosis names the job now.
    onError: (e) => (e.code === Code.FailedPrecondition ? invalidate(DiagnosisService.method.getDiagnosis) : undefined),
  });
  const jobId = r.implementedJobId || implement.data?.job?.id || "";
  const linked = r.findingIds.map((id) => titles.get(id) ?? id);
  return (
    <li
      className="recommendation"
      data-testid="recommendation"
      data-recommendation-id={r.id}
      data-finding-ids={r.findingIds.join(" ")}
      data-action={actionSlug(r) || undefined}
      data-target-size={resizeTarget(r)}
      data-droplet-id={actionDroplet(r)}
      data-implemented-job-id={jobId || undefined}
    >
      <div className="recommendation__head">
        <strong data-testid="recommendation-title">{r.title}</strong>
        {r.risk !== Risk.UNSPECIFIED && (
          <Badge tone={riskTone(r.risk)} testid="recommendation-risk" data-risk={riskLabel(r.risk)}>
            {riskLabel(r.risk)} risk
          </Badge>
        )}
        {r.action && (
          <span className="recommendation__cost" data-testid="recommendation-cost" data-cents={String(r.monthlyCostDeltaCents)}>
            {r.monthlyCostDeltaCents === 0n ? "no cost change" : formatCostDelta(r.monthlyCostDeltaCents)}
          </span>
        )}
      </div>
      {r.rationale && <p className="recommendation__rationale">{r.rationale}</p>}
      {r.expectedEffect && (
        <p className="small" data-testid="recommendation-effect">
          Expected effect: {r.expectedEffect}
        </p>
      )}
      <p className="muted small">
        {r.action ? <span data-testid="recommendation-action">Action: {describeAction(r.action)}</span> : "Advice: no job can carry it out."}
        {linked.length > 0 && <> · answers {linked.join("; ")}</>}
      </p>
      {jobId ? (
        <ImplementedJob id={jobId} />
      ) : (
        r.action &&
        actionable &&
        can(Role.OPERATOR) && (
          <button
            type="button"
            className="primary"
            onClick={() => implement.mutate({ diagnosisId, recommendationId: r.id })}
            disabled={implement.isPending}
            data-testid="implement-button"
          >
            {implement.isPending ? "Implementing…" : "Implement"}
          </button>
        )
      )}
      <ErrorBanner error={uiError(implement.error)} />
    </li>
  );
}

/** The job a recommendation became, followed on WatchJob until it ends. */
function ImplementedJob({ id }: { id: string }) {
  const { job, error } = useLiveJob(id);
  const status = job ? jobStatusLabel(job.status) : "loading";
  return (
    <div className="implement-job" data-testid="implement-job-status" data-job-id={id} data-status={status}>
      <div className="row">
        <Link href={`/jobs/${id}`} data-testid="implement-job-link" title={id}>
          Job {shortId(id)}
        </Link>
        {job ? (
          <Badge tone={jobTone(job.status)} testid="implement-job-state">
            {status}
          </Badge>
        ) : (
          <span className="muted">loading…</span>
        )}
        {job?.message && <span className="muted small">{job.message}</span>}
      </div>
      {job && !isTerminalJob(job.status) && <ProgressBar value={job.progress} label="Job progress" testid="implement-job-progress" />}
      {job?.error && <div className="banner banner--error">{job.error}</div>}
      <ErrorBanner error={error} />
    </div>
  );
}
