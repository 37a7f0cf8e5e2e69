// Create a health check, or edit one (only the changed fields go in the
// update mask); the server's field violations show next to their fields.
import { useMutation } from "@connectrpc/connect-query";
import { useState, type FormEvent } from "react";
import { HealthCheckKind, HealthCheckService, type HealthCheck } from "../../gen/clustergenie/monitoring/v1/monitoring_pb";
import { fieldError, toUiError } from "../../lib/errors";
import { ErrorBanner } from "../../components/ErrorBanner";
import { Field } from "../../components/Field";
import { duration, durationSeconds } from "../../lib/duration";
import { useIdempotentMutation, useInvalidate } from "../../lib/query";
import { CHECK_KINDS, checkKindLabel } from "./labels";

interface Values {
  name: string;
  kind: HealthCheckKind;
  port: string;
  path: string;
  interval: string;
  timeout: string;
  unhealthyThreshold: string;
  healthyThreshold: string;
  enabled: boolean;
}

const FIELDS = ["name", "kind", "port", "path", "interval", "timeout", "unhealthy_threshold", "healthy_threshold"];

function toValues(c: HealthCheck | undefined): Values {
  const n = (v: number | undefined) => (v ? String(v) : "");
  return {
    name: c?.name ?? "",
    kind: c?.kind ?? HealthCheckKind.HTTP,
    port: n(c?.port),
    path: c?.path ?? "",
    interval: n(durationSeconds(c?.interval)),
    timeout: n(durationSeconds(c?.timeout)),
    unhealthyThreshold: n(c?.unhealthyThreshold),
    healthyThreshold: n(c?.healthyThreshold),
    enabled: c?.enabled ?? true,
  };
}

/** Empty means 0, the server's default. */
const int = (s: string) => (s.trim() === "" ? 0 : Number.parseInt(s, 10) || 0);

export function HealthCheckForm({ clusterId, check, onDone }: {
  clusterId: string;
  /** Editing this check; creating one when absent. */
  check?: HealthCheck;
  onDone?: () => void;
}) {
  const [v, setV] = useState<Values>(() => toValues(check));
  const invalidate = useInvalidate();
  const done = () => {
    void invalidate(HealthCheckService.method.listHealthChecks);
    onDone?.();
  };
  const create = useIdempotentMutation(HealthCheckService.method.createHealthCheck, {
    onSuccess: () => {
      setV(toValues(undefined));
      done();
    },
  });
  const update = useMutation(HealthCheckService.method.updateHealthCheck, { onSuccess: done });
  const m = check ? update : create;
  const error = m.error ? toUiError(m.error) : null;
  const set = <K extends keyof Values>(k: K) => (val: Values[K]) => setV((s) => ({ ...s, [k]: val }));
  const http = v.kind === HealthCheckKind.HTTP;
  const tid = (f: string) => `check-${f}`;

  function submit(e: FormEvent) {
    e.preventDefault();
    const body = {
      name: v.name.trim(),
      port: int(v.port),
      path: http ? v.path.trim() : "",
      interval: duration(v.interval),
      timeout: duration(v.timeout),
      unhealthyThreshold: int(v.unhealthyThreshold),
      healthyThreshold: int(v.healthyThreshold),
    };
    if (!check) {
      create.mutate({ clusterId, kind: v.kind, ...body });
      return;
    }
    const before = toValues(check);
    const paths: string[] = [];
    if (v.name !== before.name) paths.push("name");
    if (v.port !== before.port) paths.push("port");
    if (v.path !== before.path) paths.push("path");
    if (v.interval !== before.interval) paths.push("interval");
    if (v.timeout !== before.timeout) paths.push("timeout");
    if (v.unhealthyThreshold !== before.unhealthyThreshold) paths.push("unhealthy_threshold");
    if (v.healthyThreshold !== before.healthyThreshold) paths.push("healthy_threshold");
    if (v.enabled !== before.enabled) paths.push("enabled");
    if (paths.length === 0) {
      onDone?.();
      return;
    }
    update.mutate({ healthCheck: { id: check.id, ...body, enabled: v.enabled }, updateMask: { paths } });
  }

  return (
    <form className="card form" onSubmit={submit} data-testid={check ? "check-edit-form" : "check-create-form"}>
      <h2>{check ? `Edit ${check.name}` : "New health check"}</h2>
      <ErrorBanner error={error} shownFields={FIELDS} />
      <div className="form__row">
        <Field label="Name" name="name" error={fieldError(error, "name")}>
          <input value={v.name} onChange={(e) => set("name")(e.target.value)} data-testid={tid("name")} />
        </Field>
        <Field label="Kind" name="kind" error={fieldError(error, "kind")} hint={check ? "Cannot change" : undefined}>
          <select
            value={v.kind}
            disabled={!!check}
            onChange={(e) => set("kind")(Number(e.target.value) as HealthCheckKind)}
            data-testid={tid("kind")}
          >
            {CHECK_KINDS.map((k) => (
              <option key={k} value={k}>
                {checkKindLabel(k).toUpperCase()}
              </option>
            ))}
          </select>
        </Field>
        {v.kind !== HealthCheckKind.PING && (
          <Field label="Port" name="port" error={fieldError(error, "port")} hint="Empty: 80 for HTTP, 22 for TCP">
            <input type="number" value={v.port} onChange={(e) => set("port")(e.target.value)} data-testid={tid("port")} />
          </Field>
        )}
        {http && (
          <Field label="Path" name="path" error={fieldError(error, "path")} hint="Empty: /">
            <input value={v.path} onChange={(e) => set("path")(e.target.value)} data-testid={tid("path")} />
          </Field>
        )}
      </div>
      <div className="form__row">
        <Field label="Interval (s)" name="interval" error={fieldError(error, "interval")} hint="5 s – 5 min; empty: 10 s">
          <input type="number" step="any" value={v.interval} onChange={(e) => set("interval")(e.target.value)} data-testid={tid("interval")} />
        </Field>
        <Field label="Timeout (s)" name="timeout" error={fieldError(error, "timeout")} hint="Shorter than the interval; empty: 5 s">
          <input type="number" step="any" value={v.timeout} onChange={(e) => set("timeout")(e.target.value)} data-testid={tid("timeout")} />
        </Field>
        <Field label="Unhealthy after" name="unhealthy_threshold" error={fieldError(error, "unhealthy_threshold")} hint="1–10 failures; empty: 3">
          <input
            type="number"
            value={v.unhealthyThreshold}
            onChange={(e) => set("unhealthyThreshold")(e.target.value)}
            data-testid={tid("unhealthy-threshold")}
          />
        </Field>
        <Field label="Healthy after" name="healthy_threshold" error={fieldError(error, "healthy_threshold")} hint="1–10 successes; empty: 2">
          <input
            type="number"
            value={v.healthyThreshold}
            onChange={(e) => set("healthyThreshold")(e.target.value)}
            data-testid={tid("healthy-threshold")}
          />
        </Field>
      </div>
      {check && (
        <label className="check">
          <input type="checkbox" checked={v.enabled} onChange={(e) => set("enabled")(e.target.checked)} data-testid={tid("enabled")} />
          Enabled
        </label>
      )}
      <div className="form__submit">
        <button type="submit" className="primary" disabled={m.isPending} data-testid={tid("submit")}>
          {check ? "Save" : "Create check"}
        </button>
        {check && (
          <button type="button" onClick={onDone} data-testid={tid("cancel")}>
            Cancel
          </button>
        )}
      </div>
    </form>
  );
}
