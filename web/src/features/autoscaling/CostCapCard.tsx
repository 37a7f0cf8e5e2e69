// A cluster's monthly cost cap: dollars in the form, cents on the wire;
// 0 or empty means no cap.
import { create } from "@bufbuild/protobuf";
import { createConnectQueryKey, useMutation, useQuery, useTransport } from "@connectrpc/connect-query";
import { useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import type { Cluster } from "../../gen/clustergenie/provisioning/v1/provisioning_pb";
import { GetClusterScalingResponseSchema, ScalerService } from "../../gen/clustergenie/scaler/v1/scaler_pb";
import { Role } from "../../lib/auth";
import { useAuth } from "../../lib/context";
import { fieldError, toUiError } from "../../lib/errors";
import { money, monthlyCost } from "../../lib/format";
import { ErrorBanner } from "../../components/ErrorBanner";
import { Field } from "../../components/Field";

/** Dollars typed → cents; empty is 0 (no cap); null when not a number. */
export function dollarsToCents(s: string): bigint | null {
  if (s.trim() === "") return 0n;
  const v = Number(s);
  return Number.isFinite(v) ? BigInt(Math.round(v * 100)) : null;
}

const centsToDollars = (c: bigint) => (c === 0n ? "" : (Number(c) / 100).toFixed(2).replace(/\.00$/, ""));

export function CostCapCard({ clusterId, cluster }: { clusterId: string; cluster: Cluster | undefined }) {
  const { can } = useAuth();
  const scaling = useQuery(ScalerService.method.getClusterScaling, { clusterId });
  const cents = scaling.data?.scaling?.monthlyCostCapCents;
  return (
    <section className="card" data-testid="cost-cap-card">
      <h2>Monthly cost cap</h2>
      <ErrorBanner error={scaling.error ? toUiError(scaling.error) : null} />
      <p className="muted small">
        A scale-up that would cross it is cut to what fits; a cluster already above it is not scaled down for it. Now:{" "}
        <span data-testid="cluster-monthly-cost">{monthlyCost(cluster?.cost)}</span> a month.
      </p>
      {cents === undefined ? (
        <p className="muted">{scaling.isPending ? "Loading…" : ""}</p>
      ) : can(Role.OPERATOR) ? (
        <CostCapForm clusterId={clusterId} cents={cents} />
      ) : (
        <p data-testid="cost-cap-value" data-cents={String(cents)}>
          {cents === 0n ? "No cap" : `${money(cents)} a month`}
        </p>
      )}
    </section>
  );
}

function CostCapForm({ clusterId, cents }: { clusterId: string; cents: bigint }) {
  const [dollars, setDollars] = useState(centsToDollars(cents));
  const [saved, setSaved] = useState(false);
  const [invalid, setInvalid] = useState(false);
  const transport = useTransport();
  const queryClient = useQueryClient();
  const save = useMutation(ScalerService.method.updateClusterScaling, {
    // The answer is the settings in force: that is what GetClusterScaling says now.
    onSuccess: (res) => {
      setSaved(true);
      queryClient.setQueryData(
        createConnectQueryKey({ schema: ScalerService.method.getClusterScaling, input: { clusterId }, transport, cardinality: "finite" }),
        create(GetClusterScalingResponseSchema, { scaling: res.scaling }),
      );
    },
  });
  const error = save.error ? toUiError(save.error) : null;

  function submit(e: FormEvent) {
    e.preventDefault();
    const c = dollarsToCents(dollars);
    setInvalid(c === null);
    if (c === null) return;
    save.mutate({ scaling: { clusterId, monthlyCostCapCents: c } });
  }

  return (
    <form className="form" onSubmit={submit} data-testid="cost-cap-form" data-cents={String(cents)}>
      <ErrorBanner error={error} shownFields={["monthly_cost_cap_cents"]} />
      <div className="form__row">
        <Field
          label="Cap (USD a month)"
          name="monthly_cost_cap_cents"
          error={invalid ? "must be a number" : fieldError(error, "monthly_cost_cap_cents")}
          hint="Empty or 0: no cap"
        >
          <input
            type="number"
            step="any"
            value={dollars}
            onChange={(e) => {
              setDollars(e.target.value);
              setSaved(false);
            }}
            data-testid="cost-cap"
          />
        </Field>
        <div className="form__submit">
          <button type="submit" className="primary" disabled={save.isPending} data-testid="cost-cap-save">
            Save cap
          </button>
        </div>
      </div>
      {saved && (
        <p className="muted" role="status" data-testid="cost-cap-saved">
          Saved: {cents === 0n ? "no cap" : `${money(cents)} a month`}.
        </p>
      )}
    </form>
  );
}
