// A diagnosis's findings: grouped by severity, or in the LLM's order when it
// ranked them; each with its evidence and links to what backs it.
import { Link } from "wouter";
import type { Diagnosis, Evidence, Finding } from "../../gen/clustergenie/diagnosis/v1/diagnosis_pb";
import { shortId, time } from "../../lib/format";
import { Badge } from "../../components/ui";
import { severityLabel } from "../../lib/diagnosis";
import { severityTone } from "../../components/diagnosisTone";
import { evidenceLinks, formatValue, formatWindow, groupBySeverity, orderFindings } from "./diagnosis";

export function Findings({ diagnosis: d, names }: { diagnosis: Diagnosis; names: ReadonlyMap<string, string> }) {
  const { findings, ranked } = orderFindings(d.findings, d.llm?.rankedFindingIds ?? []);
  const item = (f: Finding) => <FindingItem key={f.id} finding={f} clusterId={d.clusterId} scope={d.dropletId} names={names} />;
  return (
    <section className="card" data-testid="findings" data-ranked={ranked}>
      <h2>Findings ({findings.length})</h2>
      {findings.length === 0 ? (
        <p className="muted" data-testid="findings-empty">
          No findings: nothing needs doing.
        </p>
      ) : ranked ? (
        <>
          <p className="muted small" data-testid="findings-ranked-note">
            Ranked by the LLM, most pressing first.
          </p>
          <ol className="findings">{findings.map(item)}</ol>
        </>
      ) : (
        groupBySeverity(findings).map((g) => (
          <div key={g.severity} className="findings__group" data-testid="finding-group" data-severity={severityLabel(g.severity)}>
            <h3>
              {severityLabel(g.severity)} ({g.findings.length})
            </h3>
            <ol className="findings">{g.findings.map(item)}</ol>
          </div>
        ))
      )}
    </section>
  );
}

function FindingItem({ finding: f, clusterId, scope, names }: {
  finding: Finding;
  clusterId: string;
  /** The droplet the diagnosis was scoped to, for evidence of a finding that names none. */
  scope: string;
  names: ReadonlyMap<string, string>;
}) {
  const dropletId = f.dropletId || scope;
  return (
    <li
      className="finding"
      data-testid="finding"
      data-finding-id={f.id}
      data-analyzer={f.analyzer}
      data-severity={severityLabel(f.severity)}
      data-droplet-id={f.dropletId}
    >
      <div className="finding__head">
        <Badge tone={severityTone(f.severity)} testid="finding-severity">
          {severityLabel(f.severity)}
        </Badge>
        <strong data-testid="finding-title">{f.title}</strong>
        {f.dropletId && (
          <Link href={`/droplets/${f.dropletId}`} data-testid="finding-droplet-link" title={f.dropletId}>
            {names.get(f.dropletId) ?? shortId(f.dropletId)}
          </Link>
        )}
        <code className="muted small">{f.analyzer}</code>
      </div>
      {f.detail && <p className="finding__detail">{f.detail}</p>}
      {f.evidence.length > 0 && (
        <ul className="evidence">
          {f.evidence.map((e, i) => (
            <EvidenceItem key={i} evidence={e} clusterId={clusterId} dropletId={dropletId} />
          ))}
        </ul>
      )}
    </li>
  );
}

function EvidenceItem({ evidence: e, clusterId, dropletId }: { evidence: Evidence; clusterId: string; dropletId: string }) {
  const over = formatWindow(e.window);
  const links = evidenceLinks(e, { clusterId, dropletId });
  return (
    <li data-testid="evidence" data-metric={e.metric} data-value={e.value} data-threshold={e.threshold} data-unit={e.unit}>
      <code data-testid="evidence-metric">{e.metric}</code>{" "}
      <b data-testid="evidence-value">{formatValue(e.value, e.unit)}</b>{" "}
      <span className="muted">
        vs threshold <span data-testid="evidence-threshold">{formatValue(e.threshold, e.unit)}</span>
        {over && <span data-testid="evidence-window"> over {over}</span>}
        {e.windowEnd && <> until {time(e.windowEnd)}</>}
      </span>
      {links.map((l, i) => (
        <span key={i}>
          {" · "}
          <Link href={l.href} data-testid={`evidence-${l.kind}-link`}>
            {l.label}
          </Link>
        </span>
      ))}
    </li>
  );
}
