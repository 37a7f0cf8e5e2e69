// Create a scaling policy, or edit one (only the changed fields go in the
// update mask); the server's field violations show next to their fields,
// a schedule's (`schedules[1].cron`) on its row.
import { useMutation } from "@connectrpc/connect-query";
import { useState, type FormEvent } from "react";
import { MetricKind } from "../../gen/clustergenie/monitoring/v1/monitoring_pb";
import { ScalerService, type Policy, type Schedule } from "../../gen/clustergenie/scaler/v1/scaler_pb";
import { sizesForRegion, useCatalog } from "../../lib/catalog";
import { duration, durationSeconds } from "../../lib/duration";
import { toUiError, type UiError } from "../../lib/errors";
import { metricInfo, METRICS } from "../../lib/metrics";
import { useIdempotentMutation, useInvalidate } from "../../lib/query";
import { ErrorBanner } from "../../components/ErrorBanner";
import { Field } from "../../components/Field";
import { ImageSelect, SizeSelect } from "../../components/Pickers";
import { violationAt } from "./violations";

interface ScheduleValues {
  cron: string;
  timeZone: string;
  /** Minutes. */
  duration: string;
  min: string;
  max: string;
}

interface Values {
  name: string;
  metric: MetricKind;
  target: string;
  min: string;
  max: string;
  size: string;
  image: string;
  upWindow: string;
  downWindow: string;
  enabled: boolean;
  schedules: ScheduleValues[];
}

const POLICY_FIELDS = [
  "name",
  "metric",
  "target_value",
  "min_droplets",
  "max_droplets",
  "size",
  "image",
  "scale_up_stabilization",
  "scale_down_stabilization",
  "enabled",
  "schedules",
] as const;

const SCHEDULE_FIELDS = ["cron", "time_zone", "duration", "min_droplets", "max_droplets"] as const;

const n = (v: number | undefined) => (v ? String(v) : "");
const seconds = (v: number | undefined) => (v === undefined ? "" : String(v));

function scheduleValues(s: Schedule): ScheduleValues {
  const secs = durationSeconds(s.duration);
  return {
    cron: s.cron,
    timeZone: s.timeZone,
    duration: secs === undefined ? "" : String(secs / 60),
    min: n(s.minDroplets),
    max: n(s.maxDroplets),
  };
}

const EMPTY_SCHEDULE: ScheduleValues = { cron: "", timeZone: "", duration: "", min: "", max: "" };

function toValues(p: Policy | undefined): Values {
  return {
    name: p?.name ?? "",
    metric: p?.metric ?? MetricKind.CPU_PERCENT,
    target: n(p?.targetValue),
    min: n(p?.minDroplets),
    max: n(p?.maxDroplets),
    size: p?.size ?? "",
    image: p?.image ?? "",
    upWindow: seconds(durationSeconds(p?.scaleUpStabilization)),
    downWindow: seconds(durationSeconds(p?.scaleDownStabilization)),
    enabled: p?.enabled ?? false,
    schedules: p?.schedules.map(scheduleValues) ?? [],
  };
}

/** Empty means 0 (the server then says what is missing). */
const int = (s: string) => (s.trim() === "" ? 0 : Number.parseInt(s, 10) || 0);
const num = (s: string) => (s.trim() === "" ? 0 : Number(s) || 0);

function scheduleBody(s: ScheduleValues) {
  const minutes = Number(s.duration);
  return {
    cron: s.cron.trim(),
    timeZone: s.timeZone.trim(),
    duration: s.duration.trim() === "" || !Number.isFinite(minutes) ? undefined : duration(String(minutes * 60)),
    minDroplets: int(s.min),
    maxDroplets: int(s.max),
  };
}

export function PolicyForm({ clusterId, region, policy, onDone }: {
  clusterId: string;
  /** The cluster's region: the sizes offered are the ones it has. */
  region: string | undefined;
  /** Editing this policy; creating one when absent. */
  policy?: Policy;
  onDone?: () => void;
}) {
  const [v, setV] = useState<Values>(() => toValues(policy));
  const catalog = useCatalog();
  const sizes = sizesForRegion(catalog.data, region);
  const images = catalog.data?.images ?? [];
  const size = v.size || sizes[0]?.slug || "";
  const image = v.image || images[0]?.slug || "";
  const invalidate = useInvalidate();
  const done = () => {
    void invalidate(ScalerService.method.listPolicies);
    onDone?.();
  };
  const create = useIdempotentMutation(ScalerService.method.createPolicy, {
    onSuccess: () => {
      setV(toValues(undefined));
      done();
    },
  });
  const update = useMutation(ScalerService.method.updatePolicy, { onSuccess: done });
  const m = policy ? update : create;
  const error = m.error ? toUiError(m.error) : null;
  const set = <K extends keyof Values>(k: K) => (val: Values[K]) => setV((s) => ({ ...s, [k]: val }));
  const setSchedule = (i: number, patch: Partial<ScheduleValues>) =>
    setV((s) => ({ ...s, schedules: s.schedules.map((x, j) => (j === i ? { ...x, ...patch } : x)) }));
  const err = (path: string) => violationAt(error, path);
  const shown = [
    ...POLICY_FIELDS,
    ...v.schedules.flatMap((_, i) => SCHEDULE_FIELDS.map((f) => `schedules[${i}].${f}`)),
  ];
  const percent = metricInfo(v.metric).unit === "%";

  function submit(e: FormEvent) {
    e.preventDefault();
    const body = {
      name: v.name.trim(),
      metric: v.metric,
      targetValue: num(v.target),
      minDroplets: int(v.min),
      maxDroplets: int(v.max),
      size,
      image,
      scaleUpStabilization: duration(v.upWindow),
      scaleDownStabilization: duration(v.downWindow),
      enabled: v.enabled,
      schedules: v.schedules.map(scheduleBody),
    };
    if (!policy) {
      create.mutate({ clusterId, ...body });
      return;
    }
    const before = toValues(policy);
    const paths: string[] = [];
    if (v.name !== before.name) paths.push("name");
    if (v.metric !== before.metric) paths.push("metric");
    if (v.target !== before.target) paths.push("target_value");
    if (v.min !== before.min) paths.push("min_droplets");
    if (v.max !== before.max) paths.push("max_droplets");
    if (size !== before.size) paths.push("size");
    if (image !== before.image) paths.push("image");
    if (v.upWindow !== before.upWindow) paths.push("scale_up_stabilization");
    if (v.downWindow !== before.downWindow) paths.push("scale_down_stabilization");
    if (v.enabled !== before.enabled) paths.push("enabled");
    if (JSON.stringify(v.schedules) !== JSON.stringify(before.schedules)) paths.push("schedules");
    if (paths.length === 0) {
      onDone?.();
      return;
    }
    update.mutate({ policy: { id: policy.id, ...body }, updateMask: { paths } });
  }

  return (
    <form className="card form" onSubmit={submit} data-testid="policy-form" data-mode={policy ? "edit" : "create"}>
      <h2>{policy ? `Edit ${policy.name}` : "New scaling policy"}</h2>
      <ErrorBanner error={error} shownFields={shown} />
      <ErrorBanner error={catalog.error ? toUiError(catalog.error) : null} />
      <div className="form__row">
        <Field label="Name" name="name" error={err("name")}>
          <input value={v.name} onChange={(e) => set("name")(e.target.value)} data-testid="policy-name" />
        </Field>
        <Field label="Metric" name="metric" error={err("metric")}>
          <select value={v.metric} onChange={(e) => set("metric")(Number(e.target.value) as MetricKind)} data-testid="policy-metric">
            {METRICS.map((k) => (
              <option key={k} value={k}>
                {metricInfo(k).label}
              </option>
            ))}
          </select>
        </Field>
        <Field
          label={`Target per droplet${metricInfo(v.metric).unit ? ` (${metricInfo(v.metric).unit})` : ""}`}
          name="target_value"
          error={err("target_value")}
          hint={percent ? "Above 0, at most 100" : "Above 0"}
        >
          <input type="number" step="any" value={v.target} onChange={(e) => set("target")(e.target.value)} data-testid="policy-target" />
        </Field>
      </div>
      <div className="form__row">
        <Field label="Min droplets" name="min_droplets" error={err("min_droplets")} hint="1–100">
          <input type="number" value={v.min} onChange={(e) => set("min")(e.target.value)} data-testid="policy-min" />
        </Field>
        <Field label="Max droplets" name="max_droplets" error={err("max_droplets")} hint="Min–100">
          <input type="number" value={v.max} onChange={(e) => set("max")(e.target.value)} data-testid="policy-max" />
        </Field>
        <Field label="Size for new droplets" name="size" error={err("size")}>
          <SizeSelect options={sizes} value={size} onChange={set("size")} testid="policy-size" />
        </Field>
        <Field label="Image for new droplets" name="image" error={err("image")}>
          <ImageSelect options={images} value={image} onChange={set("image")} testid="policy-image" />
        </Field>
      </div>
      <div className="form__row">
        <Field
          label="Scale-up window (s)"
          name="scale_up_stabilization"
          error={err("scale_up_stabilization")}
          hint="0 s – 1 h; empty: 0 s (act at once)"
        >
          <input type="number" step="any" value={v.upWindow} onChange={(e) => set("upWindow")(e.target.value)} data-testid="policy-up-window" />
        </Field>
        <Field
          label="Scale-down window (s)"
          name="scale_down_stabilization"
          error={err("scale_down_stabilization")}
          hint="0 s – 1 h; empty: 300 s"
        >
          <input
            type="number"
            step="any"
            value={v.downWindow}
            onChange={(e) => set("downWindow")(e.target.value)}
            data-testid="policy-down-window"
          />
        </Field>
      </div>
      <SchedulesEditor
        schedules={v.schedules}
        error={error}
        onChange={setSchedule}
        onAdd={() => setV((s) => ({ ...s, schedules: [...s.schedules, EMPTY_SCHEDULE] }))}
        onRemove={(i) => setV((s) => ({ ...s, schedules: s.schedules.filter((_, j) => j !== i) }))}
      />
      <label className="check">
        <input type="checkbox" checked={v.enabled} onChange={(e) => set("enabled")(e.target.checked)} data-testid="policy-enabled" />
        Enabled {!policy && <span className="muted">(leave off to try it with a dry run first)</span>}
      </label>
      <div className="form__submit">
        <button type="submit" className="primary" disabled={m.isPending} data-testid="policy-submit">
          {policy ? "Save" : "Create policy"}
        </button>
        {policy && (
          <button type="button" onClick={onDone} data-testid="policy-cancel">
            Cancel
          </button>
        )}
      </div>
    </form>
  );
}

function SchedulesEditor({ schedules, error, onChange, onAdd, onRemove }: {
  schedules: ScheduleValues[];
  error: UiError | null;
  onChange: (i: number, patch: Partial<ScheduleValues>) => void;
  onAdd: () => void;
  onRemove: (i: number) => void;
}) {
  const all = violationAt(error, "schedules");
  return (
    <fieldset className="schedules" data-testid="schedules">
      <legend>Schedules</legend>
      <p className="muted small">
        Recurring windows whose min/max replace the policy's while active, e.g. <code>0 8 * * 1-5</code> in Europe/Berlin for
        600 minutes with min 4. Empty min or max: keep the policy's.
      </p>
      {all && (
        <p className="field__error" role="alert" data-testid="field-error-schedules">
          {all}
        </p>
      )}
      {schedules.map((s, i) => {
        const err = (f: string) => violationAt(error, `schedules[${i}].${f}`);
        const path = (f: string) => `schedules[${i}].${f}`;
        return (
          <div className="form__row schedule-row" key={i} data-testid="schedule-row" data-index={i}>
            <Field label="Cron (5 fields)" name={path("cron")} error={err("cron")}>
              <input value={s.cron} placeholder="0 8 * * 1-5" onChange={(e) => onChange(i, { cron: e.target.value })} data-testid="schedule-cron" />
            </Field>
            <Field label="Time zone" name={path("time_zone")} error={err("time_zone")} hint="Empty: UTC">
              <input
                value={s.timeZone}
                placeholder="Europe/Berlin"
                onChange={(e) => onChange(i, { timeZone: e.target.value })}
                data-testid="schedule-time-zone"
              />
            </Field>
            <Field label="Lasts (minutes)" name={path("duration")} error={err("duration")} hint="1 min – 7 days">
              <input
                type="number"
                step="any"
                value={s.duration}
                onChange={(e) => onChange(i, { duration: e.target.value })}
                data-testid="schedule-duration"
              />
            </Field>
            <Field label="Min" name={path("min_droplets")} error={err("min_droplets")}>
              <input type="number" value={s.min} onChange={(e) => onChange(i, { min: e.target.value })} data-testid="schedule-min" />
            </Field>
            <Field label="Max" name={path("max_droplets")} error={err("max_droplets")}>
              <input type="number" value={s.max} onChange={(e) => onChange(i, { max: e.target.value })} data-testid="schedule-max" />
            </Field>
            <div className="form__submit">
              <button type="button" className="danger" onClick={() => onRemove(i)} data-testid="schedule-remove">
                Remove
              </button>
            </div>
          </div>
        );
      })}
      {schedules.length < 10 && (
        <button type="button" onClick={onAdd} data-testid="schedule-add">
          Add schedule
        </button>
      )}
    </fieldset>
  );
}
