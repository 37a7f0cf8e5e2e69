// A cluster's alert rules (create / delete for operators) and its alerts,
// polled; the activity log also refreshes them when an alert entry arrives.
import { useMutation, useQuery } from "@connectrpc/connect-query";
import { keepPreviousData } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import {
  ActivitySeverity,
  AlertComparison,
  AlertService,
  AlertState,
  MetricKind,
  type AlertRule,
} from "../../gen/clustergenie/monitoring/v1/monitoring_pb";
import { severityLabel } from "../../lib/activity";
import { Role } from "../../lib/auth";
import { useAuth } from "../../lib/context";
import { fieldError, toUiError } from "../../lib/errors";
import { ago, time } from "../../lib/format";
import { usePages } from "../../lib/pages";
import { ErrorBanner } from "../../components/ErrorBanner";
import { Field } from "../../components/Field";
import { Badge, Pager, ReadOnlyNote } from "../../components/ui";
import { useDefaultCluster, useDroplets } from "../../lib/fleet";
import { duration, durationSeconds } from "../../lib/duration";
import { useIdempotentMutation, useInvalidate } from "../../lib/query";
import {
  ALERT_STATES,
  alertStateLabel,
  alertTone,
  comparisonLabel,
  formatMetric,
  metricInfo,
  METRICS,
  SEVERITIES,
} from "./labels";
import { PickCluster } from "./PickCluster";
import { useSelection } from "../../lib/selection";

/** How often the alert list is polled. */
export const ALERTS_POLL_MS = 10_000;
/** Alerts per page (paged with page_token). */
export const ALERTS_PAGE_SIZE = 50;

export function AlertsPage() {
  const sel = useSelection();
  useDefaultCluster(sel);
  if (!sel.cluster) return <PickCluster />;
  return <ClusterAlerts key={sel.cluster} clusterId={sel.cluster} />;
}

function ClusterAlerts({ clusterId }: { clusterId: string }) {
  const { can } = useAuth();
  const operator = can(Role.OPERATOR);
  return (
    <>
      {operator ? <RuleForm clusterId={clusterId} /> : <ReadOnlyNote what="changing alert rules" />}
      <Rules clusterId={clusterId} operator={operator} />
      <Alerts clusterId={clusterId} />
    </>
  );
}

const RULE_FIELDS = ["name", "metric", "comparison", "threshold", "for", "severity"];

function RuleForm({ clusterId }: { clusterId: string }) {
  const invalidate = useInvalidate();
  const empty = { name: "", metric: MetricKind.CPU_PERCENT, comparison: AlertComparison.ABOVE, threshold: "90", forSeconds: "60", severity: ActivitySeverity.WARNING };
  const [v, setV] = useState(empty);
  const create = useIdempotentMutation(AlertService.method.createAlertRule, {
    onSuccess: () => {
      setV(empty);
      return invalidate(AlertService.method.listAlertRules);
    },
  });
  const error = create.error ? toUiError(create.error) : null;
  const set = <K extends keyof typeof empty>(k: K) => (val: (typeof empty)[K]) => setV((s) => ({ ...s, [k]: val }));

  function submit(e: FormEvent) {
    e.preventDefault();
    create.mutate({
      clusterId,
      name: v.name.trim(),
      metric: v.metric,
      comparison: v.comparison,
      // An empty or non-numeric threshold goes as NaN, for the server to reject by name.
      threshold: v.threshold.trim() === "" ? Number.NaN : Number(v.threshold),
      for: duration(v.forSeconds) ?? { seconds: 0n },
      severity: v.severity,
    });
  }

  return (
    <form className="card form" onSubmit={submit} data-testid="rule-form">
      <h2>New alert rule</h2>
      <ErrorBanner error={error} shownFields={RULE_FIELDS} />
      <div className="form__row">
        <Field label="Name" name="name" error={fieldError(error, "name")} hint="A DNS label, e.g. cpu-hot">
          <input value={v.name} onChange={(e) => set("name")(e.target.value)} data-testid="rule-name" />
        </Field>
        <Field label="Metric" name="metric" error={fieldError(error, "metric")}>
          <select value={v.metric} onChange={(e) => set("metric")(Number(e.target.value) as MetricKind)} data-testid="rule-metric">
            {METRICS.map((m) => (
              <option key={m} value={m}>
                {metricInfo(m).label}
              </option>
            ))}
          </select>
        </Field>
        <Field label="When" name="comparison" error={fieldError(error, "comparison")}>
          <select
            value={v.comparison}
            onChange={(e) => set("comparison")(Number(e.target.value) as AlertComparison)}
            data-testid="rule-comparison"
          >
            <option value={AlertComparison.ABOVE}>above</option>
            <option value={AlertComparison.BELOW}>below</option>
          </select>
        </Field>
        <Field label={`Threshold${metricInfo(v.metric).unit ? ` (${metricInfo(v.metric).unit})` : ""}`} name="threshold" error={fieldError(error, "threshold")}>
          <input type="number" step="any" value={v.threshold} onChange={(e) => set("threshold")(e.target.value)} data-testid="rule-threshold" />
        </Field>
        <Field label="For (s)" name="for" error={fieldError(error, "for")} hint="0 – 3600; 0 fires at once">
          <input type="number" step="any" value={v.forSeconds} onChange={(e) => set("forSeconds")(e.target.value)} data-testid="rule-for" />
        </Field>
        <Field label="Severity" name="severity" error={fieldError(error, "severity")}>
          <select
            value={v.severity}
            onChange={(e) => set("severity")(Number(e.target.value) as ActivitySeverity)}
            data-testid="rule-severity"
          >
            {SEVERITIES.map((s) => (
              <option key={s} value={s}>
                {severityLabel(s)}
              </option>
            ))}
          </select>
        </Field>
      </div>
      <div className="form__submit">
        <button type="submit" className="primary" disabled={create.isPending} data-testid="rule-submit">
          Create rule
        </button>
      </div>
    </form>
  );
}

function describeRule(r: AlertRule): string {
  const secs = durationSeconds(r.for) ?? 0;
  return `${metricInfo(r.metric).label} ${comparisonLabel(r.comparison)} ${formatMetric(r.metric, r.threshold)}${secs ? ` for ${secs} s` : ""}`;
}

function Rules({ clusterId, operator }: { clusterId: string; operator: boolean }) {
  const invalidate = useInvalidate();
  const rules = useQuery(AlertService.method.listAlertRules, { clusterId, pageSize: 1000 });
  const del = useMutation(AlertService.method.deleteAlertRule, {
    // Deleting a rule resolves its alerts.
    onSuccess: () => invalidate(AlertService.method.listAlertRules, AlertService.method.listAlerts),
  });
  const list = rules.data?.rules ?? [];
  return (
    <section className="card">
      <h2>Rules</h2>
      <ErrorBanner error={rules.error ? toUiError(rules.error) : null} />
      <ErrorBanner error={del.error ? toUiError(del.error) : null} />
      {list.length === 0 ? (
        <p className="muted" data-testid="rules-empty">
          {rules.isPending ? "Loading…" : "No alert rules in this cluster yet."}
        </p>
      ) : (
        <table className="table" data-testid="rules-table">
          <thead>
            <tr>
              <th>Name</th>
              <th>Condition</th>
              <th>Severity</th>
              <th>Created</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {list.map((r) => (
              <tr key={r.id} data-testid="alert-rule-row" data-rule-id={r.id} data-rule-name={r.name} data-metric={metricInfo(r.metric).slug}>
                <td>{r.name}</td>
                <td>{describeRule(r)}</td>
                <td>{severityLabel(r.severity || ActivitySeverity.WARNING)}</td>
                <td>{time(r.createTime)}</td>
                <td className="num">
                  {operator && (
                    <button
                      type="button"
                      className="danger"
                      onClick={() => del.mutate({ id: r.id })}
                      disabled={del.isPending}
                      data-testid="alert-rule-delete"
                    >
                      Delete
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function Alerts({ clusterId }: { clusterId: string }) {
  const [state, setState] = useState<AlertState>(AlertState.UNSPECIFIED);
  const pages = usePages();
  const alerts = useQuery(
    AlertService.method.listAlerts,
    { clusterId, state, pageSize: ALERTS_PAGE_SIZE, pageToken: pages.token },
    { refetchInterval: ALERTS_POLL_MS, placeholderData: keepPreviousData },
  );
  const droplets = useDroplets(clusterId);
  const names = new Map(droplets.data?.droplets.map((d) => [d.id, d.name]));
  const rules = useQuery(AlertService.method.listAlertRules, { clusterId, pageSize: 1000 });
  const metricOf = new Map(rules.data?.rules.map((r) => [r.id, r.metric]));
  const list = alerts.data?.alerts ?? [];
  return (
    <section className="card" data-testid="alerts">
      <div className="card__head">
        <h2>Alerts</h2>
        <label>
          State{" "}
          <select
            value={state}
            onChange={(e) => {
              setState(Number(e.target.value) as AlertState);
              pages.reset();
            }}
            data-testid="alert-state-filter"
          >
            <option value={AlertState.UNSPECIFIED}>All</option>
            {ALERT_STATES.map((s) => (
              <option key={s} value={s}>
                {alertStateLabel(s)}
              </option>
            ))}
          </select>
        </label>
      </div>
      <ErrorBanner error={alerts.error ? toUiError(alerts.error) : null} />
      {list.length === 0 ? (
        <p className="muted" data-testid="alerts-empty">
          {alerts.isPending ? "Loading…" : "No alerts."}
        </p>
      ) : (
        <table className="table" data-testid="alerts-table">
          <thead>
            <tr>
              <th>State</th>
              <th>Rule</th>
              <th>Droplet</th>
              <th className="num">Value</th>
              <th>Since</th>
            </tr>
          </thead>
          <tbody>
            {list.map((a) => {
              const metric = metricOf.get(a.ruleId);
              return (
                <tr key={a.id} data-testid="alert-row" data-alert-id={a.id} data-state={alertStateLabel(a.state)} data-rule-name={a.ruleName}>
                  <td>
                    <Badge tone={alertTone(a.state)}>{alertStateLabel(a.state)}</Badge>
                  </td>
                  <td>{a.ruleName}</td>
                  <td>{names.get(a.dropletId) ?? a.dropletId}</td>
                  <td className="num">{metric ? formatMetric(metric, a.value) : a.value.toFixed(2)}</td>
                  <td title={time(a.startTime)}>
                    {a.state === AlertState.RESOLVED ? `resolved ${ago(a.resolveTime)}` : a.state === AlertState.FIRING ? `firing since ${ago(a.fireTime)}` : `pending since ${ago(a.startTime)}`}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      <Pager
        testid="alerts-pager"
        page={pages.index}
        hasNext={!!alerts.data?.nextPageToken}
        onPrev={pages.prev}
        onNext={() => pages.next(alerts.data?.nextPageToken ?? "")}
      />
    </section>
  );
}
