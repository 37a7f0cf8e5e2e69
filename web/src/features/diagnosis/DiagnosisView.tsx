// One diagnosis: its summary and overall severity, the LLM's explanation
// (or why there is none), the findings and the recommendations. Read from
// the GetDiagnosis cache: while a run streams it, the stream fills it;
// otherwise it is fetched, and polled while the diagnosis is still changing.
import { useQuery } from "@connectrpc/connect-query";
import { DiagnosisService, DiagnosisStatus, type Diagnosis } from "../../gen/clustergenie/diagnosis/v1/diagnosis_pb";
import { durationSeconds } from "../../lib/duration";
import { POLL_MS, shortId, time } from "../../lib/format";
import { uiError } from "../../lib/query";
import { ErrorBanner } from "../../components/ErrorBanner";
import { Badge, Loading } from "../../components/ui";
import { isUnderway, severityLabel, statusLabel } from "../../lib/diagnosis";
import { severityTone } from "../../components/diagnosisTone";
import { explanationSource } from "./diagnosis";
import { Findings } from "./Findings";
import { Recommendations } from "./Recommendations";

export function DiagnosisView({ id, streaming, names }: {
  id: string;
  /** A run streams this diagnosis into the cache: no fetching of our own. */
  streaming: boolean;
  names: ReadonlyMap<string, string>;
}) {
  const q = useQuery(
    DiagnosisService.method.getDiagnosis,
    { id },
    { enabled: !streaming, refetchInterval: (query) => (isUnderway(query.state.data?.diagnosis) ? POLL_MS : false) },
  );
  const d = q.data?.diagnosis;
  if (!d) return q.error ? <ErrorBanner error={uiError(q.error)} /> : <Loading />;
  return (
    <>
      <ErrorBanner error={uiError(q.error)} />
      <Summary diagnosis={d} names={names} />
      <Findings diagnosis={d} names={names} />
      <Recommendations diagnosis={d} />
    </>
  );
}

function Summary({ diagnosis: d, names }: { diagnosis: Diagnosis; names: ReadonlyMap<string, string> }) {
  const took = durationSeconds(d.duration);
  const source = explanationSource(d.llm);
  return (
    <section
      className="card"
      data-testid="diagnosis-result"
      data-diagnosis-id={d.id}
      data-status={statusLabel(d.status)}
      data-severity={severityLabel(d.severity)}
    >
      <div className="card__head">
        <h2>
          Diagnosis of {d.dropletId ? (names.get(d.dropletId) ?? shortId(d.dropletId)) : "the whole cluster"}
        </h2>
        <Badge tone={severityTone(d.severity)} testid="diagnosis-severity" data-severity={severityLabel(d.severity)}>
          {severityLabel(d.severity)}
        </Badge>
        <Badge testid="diagnosis-status" data-status={statusLabel(d.status)}>
          {statusLabel(d.status)}
        </Badge>
        <Badge tone={source.slug === "rules" ? "neutral" : "info"} testid="diagnosis-source" data-source={source.slug}>
          {source.label}
        </Badge>
      </div>
      <p className="diagnosis__summary" data-testid="diagnosis-summary">
        {d.summary || "—"}
      </p>
      <p className="muted small">
        {time(d.createTime)}
        {took !== undefined && ` · took ${took < 10 ? took.toFixed(1) : Math.round(took)} s`}
        {d.requestedBy && ` · asked by ${d.requestedBy}`}
      </p>
      {d.status === DiagnosisStatus.FAILED && (
        <div className="banner banner--error" data-testid="diagnosis-error">
          The diagnosis failed: {d.error || "no reason given"}
        </div>
      )}
      <Explanation diagnosis={d} />
    </section>
  );
}

/** The LLM's part: explaining (while ENRICHING), its explanation, or why it was not used. */
function Explanation({ diagnosis: d }: { diagnosis: Diagnosis }) {
  const llm = d.llm;
  const enriching = d.status === DiagnosisStatus.ENRICHING;
  if (!enriching && !llm?.explanation && !llm?.error) return null;
  const source = explanationSource(llm);
  return (
    <div className="llm" data-testid="llm-explanation" data-source={source.slug} data-state={enriching ? "explaining" : llm?.explanation ? "explained" : "failed"}>
      <div className="llm__head">
        <Badge tone="info">LLM explanation</Badge>
        <span className="muted small" data-testid="llm-source">
          {source.label}
        </span>
        {!!llm?.toolCalls && (
          <span className="muted small" data-testid="llm-tool-calls" data-count={llm.toolCalls}>
            · {llm.toolCalls} tool call{llm.toolCalls === 1 ? "" : "s"}
          </span>
        )}
      </div>
      {enriching && (
        <p className="muted" role="status" data-testid="llm-pending">
          The LLM is explaining these findings…
        </p>
      )}
      {llm?.explanation && (
        <>
          <p className="llm__text" data-testid="llm-text">
            {llm.explanation}
          </p>
          <p className="muted small">
            Written by a language model from the findings below; check it against the evidence. The recommendations come from the
            rules alone.
          </p>
        </>
      )}
      {llm?.error && (
        <div className="banner banner--warn" data-testid="llm-error">
          No LLM explanation: {llm.error}. The rules answer alone.
        </div>
      )}
    </div>
  );
}
