// A cluster's health checks: their verdict per droplet, create / edit /
// delete for operators, and a check's probe history.
import { useInfiniteQuery, useMutation, useQuery } from "@connectrpc/connect-query";
import { useState } from "react";
import {
  HealthCheckKind,
  HealthCheckService,
  HealthState,
  type HealthCheck,
} from "../../gen/clustergenie/monitoring/v1/monitoring_pb";
import { Role } from "../../lib/auth";
import { useAuth } from "../../lib/context";
import { toUiError } from "../../lib/errors";
import { ago, HEALTH_POLL_MS, time } from "../../lib/format";
import { ErrorBanner } from "../../components/ErrorBanner";
import { Badge, ReadOnlyNote } from "../../components/ui";
import { useDefaultCluster, useDroplets } from "../../lib/fleet";
import { durationSeconds } from "../../lib/duration";
import { HealthCheckForm } from "./HealthCheckForm";
import { useInvalidate } from "../../lib/query";
import { checkKindLabel, healthTone } from "./labels";
import { PickCluster } from "./PickCluster";
import { useSelection } from "../../lib/selection";

export type CheckState = "healthy" | "unhealthy" | "unknown";

/** A check's verdict on the cluster: unhealthy if any droplet is, healthy if all are. */
export function checkState(c: HealthCheck): CheckState {
  if (!c.enabled || c.droplets.length === 0) return "unknown";
  if (c.droplets.some((d) => d.state === HealthState.UNHEALTHY)) return "unhealthy";
  if (c.droplets.every((d) => d.state === HealthState.HEALTHY)) return "healthy";
  return "unknown";
}

export function dropletState(s: HealthState): CheckState {
  return s === HealthState.HEALTHY ? "healthy" : s === HealthState.UNHEALTHY ? "unhealthy" : "unknown";
}

const STATE_TONE = { healthy: "ok", unhealthy: "bad", unknown: "neutral" } as const;

export function HealthChecksPage() {
  const sel = useSelection();
  useDefaultCluster(sel);
  if (!sel.cluster) return <PickCluster />;
  // A link may name the check whose results to open (`?check=…`).
  return <ClusterChecks key={sel.cluster} clusterId={sel.cluster} dropletId={sel.droplet} opened={sel.params.get("check")} />;
}

function ClusterChecks({ clusterId, dropletId, opened }: { clusterId: string; dropletId: string; opened: string | null }) {
  const { can } = useAuth();
  const operator = can(Role.OPERATOR);
  // Verdicts change with every probe round.
  const list = useQuery(HealthCheckService.method.listHealthChecks, { clusterId, pageSize: 1000 }, { refetchInterval: HEALTH_POLL_MS });
  const droplets = useDroplets(clusterId);
  const names = new Map(droplets.data?.droplets.map((d) => [d.id, d.name]));
  const [editing, setEditing] = useState<string | null>(null);
  const [history, setHistory] = useState<string | null>(opened);
  const checks = list.data?.healthChecks ?? [];
  const editingCheck = checks.find((c) => c.id === editing);
  const historyCheck = checks.find((c) => c.id === history);

  return (
    <>
      {operator ? (
        editingCheck ? (
          <HealthCheckForm key={editingCheck.id} clusterId={clusterId} check={editingCheck} onDone={() => setEditing(null)} />
        ) : (
          <HealthCheckForm clusterId={clusterId} />
        )
      ) : (
        <ReadOnlyNote what="changing health checks" />
      )}
      <ErrorBanner error={list.error ? toUiError(list.error) : null} />
      <section className="card">
        <h2>Health checks</h2>
        {checks.length === 0 ? (
          <p className="muted" data-testid="checks-empty">
            {list.isPending ? "Loading…" : "No health checks in this cluster yet."}
          </p>
        ) : (
          <table className="table" data-testid="checks-table">
            <thead>
              <tr>
                <th>Name</th>
                <th>Probe</th>
                <th>Every</th>
                <th>State</th>
                <th>Droplets</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {checks.map((c) => (
                <CheckRow
                  key={c.id}
                  check={c}
                  names={names}
                  operator={operator}
                  onEdit={() => setEditing(c.id)}
                  onHistory={() => setHistory(history === c.id ? null : c.id)}
                  onDeleted={() => {
                    if (editing === c.id) setEditing(null);
                    if (history === c.id) setHistory(null);
                  }}
                />
              ))}
            </tbody>
          </table>
        )}
      </section>
      {historyCheck && <HealthResults check={historyCheck} dropletId={dropletId} names={names} />}
    </>
  );
}

function probe(c: HealthCheck): string {
  switch (c.kind) {
    case HealthCheckKind.HTTP:
      return `HTTP :${c.port || 80}${c.path || "/"}`;
    case HealthCheckKind.TCP:
      return `TCP :${c.port || 22}`;
    default:
      return checkKindLabel(c.kind).toUpperCase();
  }
}

function CheckRow({ check: c, names, operator, onEdit, onHistory, onDeleted }: {
  check: HealthCheck;
  names: Map<string, string>;
  operator: boolean;
  onEdit: () => void;
  onHistory: () => void;
  onDeleted: () => void;
}) {
  const invalidate = useInvalidate();
  const [confirming, setConfirming] = useState(false);
  const del = useMutation(HealthCheckService.method.deleteHealthCheck, {
    onSuccess: () => {
      onDeleted();
      return invalidate(HealthCheckService.method.listHealthChecks);
    },
  });
  const state = checkState(c);
  return (
    <tr data-testid="check-row" data-check-id={c.id} data-check-name={c.name} data-state={state}>
      <td>
        {c.name}
        {!c.enabled && (
          <>
            {" "}
            <Badge>disabled</Badge>
          </>
        )}
      </td>
      <td>{probe(c)}</td>
      <td>{durationSeconds(c.interval) ?? 10} s</td>
      <td>
        <Badge tone={STATE_TONE[state]} testid="check-state">
          {state}
        </Badge>
      </td>
      <td>
        <ul className="inline-list">
          {c.droplets.map((d) => (
            <li
              key={d.dropletId}
              data-testid="check-droplet"
              data-droplet-id={d.dropletId}
              data-state={dropletState(d.state)}
              title={d.lastMessage || undefined}
            >
              <Badge tone={healthTone(d.state)}>
                {names.get(d.dropletId) ?? d.dropletId}: {dropletState(d.state)}
              </Badge>
            </li>
          ))}
        </ul>
        {del.error && <ErrorBanner error={toUiError(del.error)} />}
      </td>
      <td className="row-actions">
        <button type="button" className="link" onClick={onHistory} data-testid="check-history">
          History
        </button>
        {operator &&
          (confirming ? (
            <>
              <button
                type="button"
                className="danger"
                onClick={() => del.mutate({ id: c.id })}
                disabled={del.isPending}
                data-testid="check-delete-confirm"
              >
                Delete {c.name}?
              </button>
              <button type="button" onClick={() => setConfirming(false)} data-testid="check-delete-cancel">
                Keep
              </button>
            </>
          ) : (
            <>
              <button type="button" onClick={onEdit} data-testid="check-edit">
                Edit
              </button>
              <button type="button" className="danger" onClick={() => setConfirming(true)} data-testid="check-delete">
                Delete
              </button>
            </>
          ))}
      </td>
    </tr>
  );
}

function HealthResults({ check, dropletId, names }: { check: HealthCheck; dropletId: string; names: Map<string, string> }) {
  const [failedOnly, setFailedOnly] = useState(false);
  const q = useInfiniteQuery(
    HealthCheckService.method.listHealthResults,
    { checkId: check.id, dropletId, unhealthyOnly: failedOnly, pageSize: 20, pageToken: "" },
    // New probes land every round, like the verdicts above.
    { pageParamKey: "pageToken", getNextPageParam: (last) => last.nextPageToken || undefined, refetchInterval: HEALTH_POLL_MS },
  );
  const results = q.data?.pages.flatMap((p) => p.results) ?? [];
  return (
    <section className="card" data-testid="check-results" data-check-id={check.id}>
      <div className="card__head">
        <h2>
          Results of {check.name}{" "}
          {/* The droplet picked above narrows the history too: say so. */}
          <span className="muted" data-testid="results-scope" data-droplet-id={dropletId}>
            {dropletId ? `on ${names.get(dropletId) ?? dropletId}` : "on every droplet"}
          </span>
        </h2>
        <button type="button" onClick={() => void q.refetch()} disabled={q.isFetching} data-testid="results-refresh">
          Refresh
        </button>
        <label className="check">
          <input type="checkbox" checked={failedOnly} onChange={(e) => setFailedOnly(e.target.checked)} data-testid="results-failed-only" />
          Failures only
        </label>
      </div>
      <ErrorBanner error={q.error ? toUiError(q.error) : null} />
      {results.length === 0 ? (
        <p className="muted" data-testid="results-empty">
          {q.isPending ? "Loading…" : "No results yet."}
        </p>
      ) : (
        <table className="table">
          <thead>
            <tr>
              <th>Time</th>
              <th>Droplet</th>
              <th>Result</th>
              <th className="num">Latency</th>
              <th>Message</th>
            </tr>
          </thead>
          <tbody>
            {results.map((r) => (
              <tr key={r.id} data-testid="health-result-row" data-healthy={r.healthy}>
                <td title={time(r.time)}>{ago(r.time)}</td>
                <td>{names.get(r.dropletId) ?? r.dropletId}</td>
                <td>
                  <Badge tone={r.healthy ? "ok" : "bad"}>{r.healthy ? "healthy" : "failed"}</Badge>
                </td>
                <td className="num">{r.latency ? `${Math.round((durationSeconds(r.latency) ?? 0) * 1000)} ms` : "—"}</td>
                <td className="muted">{r.message}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {q.hasNextPage && (
        <button type="button" onClick={() => void q.fetchNextPage()} disabled={q.isFetchingNextPage} data-testid="results-more">
          Older results
        </button>
      )}
    </section>
  );
}
