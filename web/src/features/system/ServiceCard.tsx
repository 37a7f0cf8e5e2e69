// One service on the System page: its health, then each section its status
// fills (worker pools, queues, consumer lag, outbox, dead letters, counters,
// dependencies). A section the service has nothing for is left out.
import type { ReactNode } from "react";
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import type {
  ConsumerLag,
  DeadLetters,
  Dependency,
  OutboxStatus,
  ProcessStatus,
  QueueStatus,
  WorkerPool,
} from "../../gen/clustergenie/system/v1/system_pb";
import { Badge, type Tone } from "../../components/ui";
import {
  between,
  count,
  counterValue,
  dependencySlug,
  groupCounters,
  latencyMs,
  percent,
  servingSlug,
  span,
  type ServingSlug,
} from "./status";

const HEALTH: Record<ServingSlug, { text: string; tone: Tone }> = {
  serving: { text: "SERVING", tone: "ok" },
  not_serving: { text: "NOT SERVING", tone: "warn" },
  unreachable: { text: "UNREACHABLE", tone: "bad" },
  unknown: { text: "UNKNOWN", tone: "neutral" },
};

/** `observed`: when the gateway gathered the status (uptimes and ages are read against it). */
export function ServiceCard({ status: s, observed }: { status: ProcessStatus; observed: Timestamp | undefined }) {
  const serving = servingSlug(s.serving);
  const health = HEALTH[serving];
  const uptime = between(s.startTime, observed);
  return (
    <section className={`card system-card system-card--${serving}`} data-testid={`system-service-${s.service}`} data-serving={serving}>
      <div className="card__head">
        <h2>{s.service}</h2>
        <Badge tone={health.tone} testid="system-health">
          {health.text}
        </Badge>
      </div>
      {(s.instance || s.version || uptime !== undefined) && (
        <p className="muted small system-card__meta">
          {s.instance && (
            <span className="mono" data-testid="system-instance">
              {s.instance}
            </span>
          )}
          {s.version && <span>v{s.version}</span>}
          {uptime !== undefined && <span data-testid="system-uptime">up {span(uptime)}</span>}
        </p>
      )}
      {serving === "unreachable" && (
        <div className="banner banner--error" data-testid="system-error">
          {s.error || "The gateway could not reach it."}
        </div>
      )}
      {serving === "not_serving" && s.downParts.length > 0 && (
        <div className="banner banner--warn" data-testid="system-down-parts">
          Down: {s.downParts.join(", ")}
        </div>
      )}
      {s.workerPools.length > 0 && (
        <Part title="Worker pools">
          {s.workerPools.map((p) => (
            <Pool key={p.name} pool={p} />
          ))}
        </Part>
      )}
      {s.queues.length > 0 && (
        <Part title="Queues">
          {s.queues.map((q) => (
            <Queue key={q.name} queue={q} />
          ))}
        </Part>
      )}
      {s.consumerLag.length > 0 && (
        <Part title="Consumer lag">
          <LagTable rows={s.consumerLag} />
        </Part>
      )}
      {s.outbox && (
        <Part title="Outbox">
          <Outbox outbox={s.outbox} observed={observed} />
        </Part>
      )}
      {s.deadLetters.length > 0 && (
        <Part title="Dead letters">
          {s.deadLetters.map((d) => (
            <DeadLetterTopic key={d.topic} dlq={d} />
          ))}
        </Part>
      )}
      {s.counters.length > 0 && (
        <Part title="Counters">
          {groupCounters(s.counters).map((g) => (
            <div key={g.name} className="system-row" data-testid={`system-counter-${g.name}`} data-total={g.total}>
              <span className="mono">{g.name}</span>
              <b>{counterValue(g.total)}</b>
              {g.rows.length > 0 && (
                <ul className="inline-list">
                  {g.rows.map((r) => (
                    <li key={r.labels} data-testid="system-counter-row" data-labels={r.labels} data-value={r.value}>
                      <Badge>
                        {r.labels || "no labels"} · {counterValue(r.value)}
                      </Badge>
                    </li>
                  ))}
                </ul>
              )}
            </div>
          ))}
        </Part>
      )}
      {s.dependencies.length > 0 && (
        <Part title="Dependencies">
          {s.dependencies.map((d) => (
            <DependencyRow key={d.name} dep={d} />
          ))}
        </Part>
      )}
    </section>
  );
}

function Part({ title, children }: { title: string; children: ReactNode }) {
  return (
    <div className="system-card__part">
      <h3>{title}</h3>
      {children}
    </div>
  );
}

/** A small bar: `value` of 100, marked when full. */
function Meter({ value, label }: { value: number; label: string }) {
  const v = Math.round(value);
  return (
    <span
      className={`meter${v >= 100 ? " meter--full" : ""}`}
      role="meter"
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={v}
      aria-label={label}
    >
      <span className="meter__fill" style={{ width: `${v}%` }} />
    </span>
  );
}

function Pool({ pool: p }: { pool: WorkerPool }) {
  return (
    <div className="system-row" data-testid={`system-pool-${p.name}`} data-busy={p.busy} data-workers={p.workers}>
      <span className="system-row__name">{p.name}</span>
      <span className="system-row__n">
        {p.busy}/{p.workers}
      </span>
      <Meter value={percent(p.busy, p.workers)} label={`${p.name} workers busy`} />
      <span className="muted small">busy</span>
    </div>
  );
}

function Queue({ queue: q }: { queue: QueueStatus }) {
  return (
    <div
      className="system-row"
      data-testid={`system-queue-${q.name}`}
      data-length={String(q.length)}
      data-capacity={String(q.capacity)}
    >
      <span className="system-row__name">{q.name}</span>
      <span className="system-row__n">
        {count(q.length)}/{count(q.capacity)}
      </span>
      <Meter value={percent(q.length, q.capacity)} label={`${q.name} queue filled`} />
    </div>
  );
}

function LagTable({ rows }: { rows: readonly ConsumerLag[] }) {
  return (
    <table className="table table--compact">
      <thead>
        <tr>
          <th>Group</th>
          <th>Topic</th>
          <th className="num">Partition</th>
          <th className="num">Lag</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((l) => (
          <tr
            key={`${l.group}/${l.topic}/${l.partition}`}
            data-testid="system-lag"
            data-group={l.group}
            data-topic={l.topic}
            data-partition={l.partition}
            data-lag={String(l.lag)}
          >
            <td className="mono">{l.group}</td>
            <td className="mono">{l.topic}</td>
            <td className="num">{l.partition}</td>
            <td className="num" title={l.lag < 0n ? "not known yet" : undefined}>
              {count(l.lag)}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Outbox({ outbox: o, observed }: { outbox: OutboxStatus; observed: Timestamp | undefined }) {
  const age = between(o.oldestPendingTime, observed);
  return (
    <div className="system-row" data-testid="system-outbox" data-backlog={String(o.backlog)} data-parked={String(o.parked)}>
      <span>
        <b>{count(o.backlog)}</b> <span className="muted">pending</span>
      </span>
      <Badge tone={o.parked > 0n ? "bad" : "neutral"} title="Rows the broker refused too often, set aside with their error">
        {count(o.parked)} parked
      </Badge>
      {age !== undefined && (
        <span className="muted small" data-testid="system-outbox-oldest">
          oldest waiting {span(age)}
        </span>
      )}
    </div>
  );
}

function DeadLetterTopic({ dlq: d }: { dlq: DeadLetters }) {
  const tone: Tone = d.records > 0n ? "bad" : d.records < 0n ? "warn" : "neutral";
  return (
    <div className="system-row" data-testid={`system-dlq-${d.topic}`} data-records={String(d.records)}>
      <span className="mono system-row__name">{d.topic}</span>
      <Badge tone={tone} title={d.records < 0n ? "The broker did not say" : undefined}>
        {count(d.records)} {d.records === 1n ? "record" : "records"}
      </Badge>
    </div>
  );
}

function DependencyRow({ dep: d }: { dep: Dependency }) {
  const state = dependencySlug(d.state);
  return (
    <div className="system-row" data-testid={`system-dep-${d.name}`} data-state={state}>
      <span className="system-row__name">{d.name}</span>
      <Badge tone={state === "up" ? "ok" : state === "down" ? "bad" : "neutral"}>{state.toUpperCase()}</Badge>
      <span className={state === "down" ? "system-row__detail" : "muted small system-row__detail"}>{d.detail}</span>
      <span className="muted small system-row__n">{latencyMs(d.latency)}</span>
    </div>
  );
}
