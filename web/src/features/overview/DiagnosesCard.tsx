// The latest diagnoses across the fleet, each opening on the diagnosis page;
// polled fast while one is still being explained, and refreshed by the
// activity section when a diagnosis entry arrives.
import { useQuery } from "@connectrpc/connect-query";
import { Link } from "wouter";
import { DiagnosisService, DiagnosisStatus, type Diagnosis } from "../../gen/clustergenie/diagnosis/v1/diagnosis_pb";
import { isUnderway, severityLabel, statusLabel } from "../../lib/diagnosis";
import { HEALTH_POLL_MS, POLL_MS, ago, shortId, time } from "../../lib/format";
import { uiError } from "../../lib/query";
import { severityTone } from "../../components/diagnosisTone";
import { ErrorBanner } from "../../components/ErrorBanner";
import { Badge, Loading } from "../../components/ui";
import { useNames, type Names } from "./fleet";

/** Diagnoses shown. */
export const OVERVIEW_DIAGNOSES = 5;

export function DiagnosesCard() {
  const list = useQuery(
    DiagnosisService.method.listDiagnoses,
    { pageSize: OVERVIEW_DIAGNOSES },
    { refetchInterval: (q) => (q.state.data?.diagnoses.some(isUnderway) ? POLL_MS : HEALTH_POLL_MS) },
  );
  const names = useNames();
  const diagnoses = list.data?.diagnoses ?? [];
  return (
    <section className="card" data-testid="overview-diagnoses">
      <div className="card__head">
        <h2>
          <Link href="/diagnosis">Diagnoses</Link>
        </h2>
      </div>
      <ErrorBanner error={uiError(list.error)} />
      {list.isPending ? (
        <Loading />
      ) : diagnoses.length > 0 ? (
        <ul className="activity" data-testid="overview-diagnoses-list">
          {diagnoses.map((d) => (
            <DiagnosisRow key={d.id} diagnosis={d} names={names} />
          ))}
        </ul>
      ) : (
        !list.error && (
          <p className="muted" data-testid="overview-diagnoses-empty">
            No diagnoses yet: run one on the <Link href="/diagnosis">Diagnosis</Link> page.
          </p>
        )
      )}
    </section>
  );
}

function DiagnosisRow({ diagnosis: d, names }: { diagnosis: Diagnosis; names: Names }) {
  const href = `/diagnosis?${new URLSearchParams({ cluster: d.clusterId, diagnosis: d.id })}`;
  return (
    <li
      data-testid="overview-diagnosis"
      data-diagnosis-id={d.id}
      data-cluster-id={d.clusterId}
      data-severity={severityLabel(d.severity)}
      data-status={statusLabel(d.status)}
    >
      <div className="row">
        <Badge tone={severityTone(d.severity)}>{severityLabel(d.severity)}</Badge>
        <Link href={href} data-testid="overview-diagnosis-link">
          {d.summary || `diagnosis ${shortId(d.id)}`}
        </Link>
        {d.status !== DiagnosisStatus.COMPLETED && <Badge>{statusLabel(d.status)}</Badge>}
      </div>
      <div className="small muted">
        {names.cluster(d.clusterId)} · {d.dropletId ? names.droplet(d.dropletId) : "whole cluster"} ·{" "}
        <span title={time(d.createTime)}>{ago(d.createTime)}</span>
        {d.requestedBy && ` by ${d.requestedBy}`}
      </div>
    </li>
  );
}
