// A cluster's scaling policies: the list, create / edit / delete and the
// enable toggle for operators, and a dry run of what the policies would do
// now (disabled ones included, so a policy can be tried before it acts).
import { useMutation, useQuery } from "@connectrpc/connect-query";
import { useState } from "react";
import { ScalerService, type Decision, type Policy } from "../../gen/clustergenie/scaler/v1/scaler_pb";
import { Role } from "../../lib/auth";
import { useAuth } from "../../lib/context";
import { durationSeconds } from "../../lib/duration";
import { toUiError } from "../../lib/errors";
import { time } from "../../lib/format";
import { formatMetric, metricInfo } from "../../lib/metrics";
import { useInvalidate } from "../../lib/query";
import { ErrorBanner } from "../../components/ErrorBanner";
import { Badge, ReadOnlyNote } from "../../components/ui";
import { actionLabel, actionSlug, actionTone } from "../../components/scaleAction";
import { PolicyForm } from "./PolicyForm";
import { Reasons } from "./Reasons";

export function PoliciesCard({ clusterId, region }: { clusterId: string; region: string | undefined }) {
  const { can } = useAuth();
  const operator = can(Role.OPERATOR);
  const list = useQuery(ScalerService.method.listPolicies, { clusterId, pageSize: 1000 });
  const [editing, setEditing] = useState<string | null>(null);
  const policies = list.data?.policies ?? [];
  const editingPolicy = policies.find((p) => p.id === editing);
  const dryRun = useMutation(ScalerService.method.evaluateNow);
  const names = new Map(policies.map((p) => [p.id, p.name]));

  return (
    <>
      {operator ? (
        editingPolicy ? (
          <PolicyForm key={editingPolicy.id} clusterId={clusterId} region={region} policy={editingPolicy} onDone={() => setEditing(null)} />
        ) : (
          <PolicyForm clusterId={clusterId} region={region} />
        )
      ) : (
        <ReadOnlyNote what="changing scaling policies" />
      )}
      <section className="card" data-testid="policies">
        <div className="card__head">
          <h2>Policies</h2>
          {operator && (
            <button
              type="button"
              onClick={() => dryRun.mutate({ clusterId, dryRun: true })}
              disabled={dryRun.isPending}
              title="Evaluate every policy now, disabled ones included, without acting"
              data-testid="policy-dry-run"
            >
              Dry run
            </button>
          )}
        </div>
        <DryRunOutcome error={dryRun.error} decision={dryRun.data?.decision} names={names} />
        <ErrorBanner error={list.error ? toUiError(list.error) : null} />
        {policies.length === 0 ? (
          <p className="muted" data-testid="policies-empty">
            {list.isPending ? "Loading…" : "No scaling policies in this cluster yet."}
          </p>
        ) : (
          <table className="table" data-testid="policies-table">
            <thead>
              <tr>
                <th>Name</th>
                <th>Steers</th>
                <th>Droplets</th>
                <th>New droplets</th>
                <th>Windows</th>
                <th>State</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {policies.map((p) => (
                <PolicyRow
                  key={p.id}
                  policy={p}
                  operator={operator}
                  onEdit={() => setEditing(p.id)}
                  onDeleted={() => {
                    if (editing === p.id) setEditing(null);
                  }}
                />
              ))}
            </tbody>
          </table>
        )}
      </section>
    </>
  );
}

function windows(p: Policy): string {
  const up = durationSeconds(p.scaleUpStabilization) ?? 0;
  const down = durationSeconds(p.scaleDownStabilization) ?? 300;
  return `up ${up} s · down ${down} s`;
}

function PolicyRow({ policy: p, operator, onEdit, onDeleted }: {
  policy: Policy;
  operator: boolean;
  onEdit: () => void;
  onDeleted: () => void;
}) {
  const invalidate = useInvalidate();
  const [confirming, setConfirming] = useState(false);
  const del = useMutation(ScalerService.method.deletePolicy, {
    onSuccess: () => {
      onDeleted();
      return invalidate(ScalerService.method.listPolicies);
    },
  });
  const toggle = useMutation(ScalerService.method.updatePolicy, {
    onSuccess: () => invalidate(ScalerService.method.listPolicies),
  });
  const error = del.error ?? toggle.error;
  return (
    <tr data-testid="policy-row" data-policy-id={p.id} data-policy-name={p.name} data-enabled={String(p.enabled)}>
      <td>{p.name}</td>
      <td>
        {metricInfo(p.metric).label} at {formatMetric(p.metric, p.targetValue)}
      </td>
      <td>
        {p.minDroplets}–{p.maxDroplets}
        {p.schedules.length > 0 && (
          <div className="muted small" data-testid="policy-schedules">
            {p.schedules.map((s, i) => (
              <div key={i}>
                {s.cron} {s.timeZone || "UTC"}, {Math.round((durationSeconds(s.duration) ?? 0) / 60)} min
                {s.minDroplets ? `, min ${s.minDroplets}` : ""}
                {s.maxDroplets ? `, max ${s.maxDroplets}` : ""}
              </div>
            ))}
          </div>
        )}
      </td>
      <td>
        {p.size} <span className="muted">({p.image})</span>
      </td>
      <td>{windows(p)}</td>
      <td>
        <Badge tone={p.enabled ? "ok" : "neutral"} testid="policy-state">
          {p.enabled ? "enabled" : "disabled"}
        </Badge>
        {error && <ErrorBanner error={toUiError(error)} />}
      </td>
      <td className="row-actions">
        {operator &&
          (confirming ? (
            <>
              <button
                type="button"
                className="danger"
                onClick={() => del.mutate({ id: p.id })}
                disabled={del.isPending}
                data-testid="policy-delete-confirm"
              >
                Delete {p.name}?
              </button>
              <button type="button" onClick={() => setConfirming(false)} data-testid="policy-delete-cancel">
                Keep
              </button>
            </>
          ) : (
            <>
              <button
                type="button"
                className={p.enabled ? "" : "primary"}
                onClick={() => toggle.mutate({ policy: { id: p.id, enabled: !p.enabled }, updateMask: { paths: ["enabled"] } })}
                disabled={toggle.isPending}
                data-testid="policy-toggle"
              >
                {p.enabled ? "Disable" : "Enable"}
              </button>
              <button type="button" onClick={onEdit} data-testid="policy-edit">
                Edit
              </button>
              <button type="button" className="danger" onClick={() => setConfirming(true)} data-testid="policy-delete">
                Delete
              </button>
            </>
          ))}
      </td>
    </tr>
  );
}

/** EvaluateNow with dry_run: what the policies (disabled ones too) would do now, with nothing recorded or started. */
function DryRunOutcome({ error, decision, names }: { error: unknown; decision: Decision | undefined; names: Map<string, string> }) {
  if (error) {
    const e = toUiError(error);
    return (
      <div data-testid="dry-run-error">
        <ErrorBanner error={e} />
        {e.kind === "precondition" && (
          <p className="muted small">Create a policy first: a dry run weighs every policy of the cluster, enabled or not.</p>
        )}
      </div>
    );
  }
  return decision ? <DryRunResult decision={decision} names={names} /> : null;
}

function DryRunResult({ decision: d, names }: { decision: Decision; names: Map<string, string> }) {
  return (
    <div
      className="banner banner--ok dry-run__result"
      data-testid="dry-run-result"
      data-action={actionSlug(d.action)}
      data-current={d.currentDroplets}
      data-desired={d.desiredDroplets}
    >
      <div>
        <b>Dry run</b> ({time(d.createTime)}): <Badge tone={actionTone(d.action)}>{actionLabel(d.action)}</Badge>{" "}
        <span data-testid="dry-run-counts">
          {d.currentDroplets} → {d.desiredDroplets} droplets
        </span>
      </div>
      <p data-testid="dry-run-explanation">{d.explanation}</p>
      <Reasons reasons={d.reasons} />
      {d.recommendations.length > 0 && (
        <ul className="small" data-testid="dry-run-recommendations">
          {d.recommendations.map((r) => (
            <li key={r.policyId}>
              {names.get(r.policyId) ?? r.policyId}
              {r.policyId === d.winningPolicyId && " (wins)"}: {metricInfo(r.metric).label}{" "}
              {formatMetric(r.metric, r.currentValue)} vs target {formatMetric(r.metric, r.targetValue)} → {r.rawDesired}, clamped{" "}
              {r.desired}
              {r.metricsMissing && " — metrics missing"}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
