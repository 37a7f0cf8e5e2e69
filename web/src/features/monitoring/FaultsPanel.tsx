// A droplet's injected faults: operators inject one (a CPU spike, say) and
// clear it; viewers see the list.
import { useMutation, useQuery } from "@connectrpc/connect-query";
import { useState, type FormEvent } from "react";
import { FaultKind, FaultService } from "../../gen/clustergenie/provisioning/v1/provisioning_pb";
import { Role } from "../../lib/auth";
import { useAuth } from "../../lib/context";
import { fieldError, toUiError } from "../../lib/errors";
import { time } from "../../lib/format";
import { ErrorBanner } from "../../components/ErrorBanner";
import { Field } from "../../components/Field";
import { ReadOnlyNote } from "../../components/ui";
import { useIdempotentMutation, useInvalidate } from "../../lib/query";
import { FAULT_KINDS, faultKindLabel } from "./labels";

export function FaultsPanel({ dropletId }: { dropletId: string }) {
  const { can } = useAuth();
  const operator = can(Role.OPERATOR);
  const invalidate = useInvalidate();
  // Faults end by themselves: look again now and then.
  const list = useQuery(FaultService.method.listFaults, { dropletId, pageSize: 100 }, { refetchInterval: 10_000 });
  const [kind, setKind] = useState<FaultKind>(FaultKind.CPU_SPIKE);
  const [minutes, setMinutes] = useState("5");
  const inject = useIdempotentMutation(FaultService.method.injectFault, {
    onSuccess: () => invalidate(FaultService.method.listFaults),
  });
  const clear = useMutation(FaultService.method.clearFault, {
    onSuccess: () => invalidate(FaultService.method.listFaults),
  });
  const error = inject.error ? toUiError(inject.error) : null;

  function submit(e: FormEvent) {
    e.preventDefault();
    const secs = Math.round(Number(minutes) * 60);
    inject.mutate({
      dropletId,
      kind,
      duration: Number.isFinite(secs) ? { seconds: BigInt(secs) } : undefined,
    });
  }

  const faults = list.data?.faults ?? [];
  return (
    <section className="card" data-testid="faults-panel">
      <h2>Faults</h2>
      {operator ? (
        <form className="form" onSubmit={submit} data-testid="fault-form">
          <div className="form__row">
          <Field label="Fault" name="kind" error={fieldError(error, "kind")}>
            <select value={kind} onChange={(e) => setKind(Number(e.target.value) as FaultKind)} data-testid="fault-kind">
              {FAULT_KINDS.map((k) => (
                <option key={k} value={k}>
                  {faultKindLabel(k)}
                </option>
              ))}
            </select>
          </Field>
          <Field label="For (minutes)" name="duration" error={fieldError(error, "duration")}>
            <input
              type="number"
              min="0.1"
              step="any"
              value={minutes}
              onChange={(e) => setMinutes(e.target.value)}
              data-testid="fault-duration"
            />
          </Field>
            <div className="form__submit">
              <button type="submit" className="primary" disabled={inject.isPending} data-testid="fault-inject">
                Inject fault
              </button>
            </div>
          </div>
        </form>
      ) : (
        <ReadOnlyNote what="injecting faults" />
      )}
      <ErrorBanner error={error} shownFields={["kind", "duration"]} />
      <ErrorBanner error={clear.error ? toUiError(clear.error) : null} />
      <ErrorBanner error={list.error ? toUiError(list.error) : null} />
      {faults.length === 0 ? (
        <p className="muted" data-testid="faults-empty">
          {list.isPending ? "Loading…" : "No active faults."}
        </p>
      ) : (
        <table className="table" data-testid="faults-table">
          <thead>
            <tr>
              <th>Fault</th>
              <th>Started</th>
              <th>Ends</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {faults.map((f) => (
              <tr key={f.id} data-testid="fault-row" data-fault-id={f.id} data-kind={faultKindLabel(f.kind).replace(/ /g, "_")}>
                <td>{faultKindLabel(f.kind)}</td>
                <td>{time(f.startTime)}</td>
                <td>{time(f.endTime)}</td>
                <td className="num">
                  {operator && (
                    <button
                      type="button"
                      className="danger"
                      onClick={() => clear.mutate({ id: f.id })}
                      disabled={clear.isPending}
                      data-testid="fault-clear"
                    >
                      Clear
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
