// /diagnosis: pick a cluster (and optionally one of its droplets, both kept
// in the URL query), diagnose it, optionally with the LLM, and read the
// answer as it streams in; the cluster's past diagnoses below. The diagnosis
// on view is `?diagnosis=<id>`, so a link shares it.
import { useState, type FormEvent } from "react";
import { FleetPicker } from "../../components/FleetPicker";
import { ErrorBanner } from "../../components/ErrorBanner";
import { PageHeader, ReadOnlyNote } from "../../components/ui";
import { Role } from "../../lib/auth";
import { useAuth } from "../../lib/context";
import { useClusters, useDefaultCluster, useDroplets } from "../../lib/fleet";
import { uiError } from "../../lib/query";
import { useSelection } from "../../lib/selection";
import { DiagnosisView } from "./DiagnosisView";
import { History } from "./History";
import { useDiagnose } from "./useDiagnose";

export function DiagnosisSection() {
  const sel = useSelection();
  useDefaultCluster(sel);
  const clusters = useClusters();
  const droplets = useDroplets(sel.cluster);
  const names = new Map(droplets.data?.droplets.map((d) => [d.id, d.name]));
  return (
    <>
      <PageHeader title="Diagnosis" />
      <ErrorBanner error={uiError(clusters.error, droplets.error)} />
      <FleetPicker
        clusters={clusters.data?.clusters ?? []}
        droplets={droplets.data?.droplets ?? []}
        cluster={sel.cluster}
        droplet={sel.droplet}
        onCluster={(id) => sel.set({ cluster: id, droplet: undefined, diagnosis: undefined })}
        onDroplet={(id) => sel.set({ droplet: id })}
        emptyCluster={sel.cluster ? undefined : "Choose…"}
        testid="diagnosis"
      />
      {sel.cluster ? (
        <ClusterDiagnosis
          key={sel.cluster}
          clusterId={sel.cluster}
          dropletId={sel.droplet}
          selected={sel.params.get("diagnosis") ?? ""}
          onSelect={(id) => sel.set({ diagnosis: id || undefined })}
          names={names}
        />
      ) : (
        <p className="card muted" data-testid="diagnosis-pick-cluster">
          {clusters.isPending ? "Loading…" : "No cluster yet: create one on the Clusters page."}
        </p>
      )}
    </>
  );
}

function ClusterDiagnosis({ clusterId, dropletId, selected, onSelect, names }: {
  clusterId: string;
  dropletId: string;
  selected: string;
  onSelect: (id: string) => void;
  names: ReadonlyMap<string, string>;
}) {
  const { can } = useAuth();
  const operator = can(Role.OPERATOR);
  const [useLlm, setUseLlm] = useState(false);
  // The rules' answer opens at once; the LLM's replaces it when it arrives.
  const run = useDiagnose((d) => onSelect(d.id));

  function submit(e: FormEvent) {
    e.preventDefault();
    onSelect("");
    run.start({ clusterId, dropletId, useLlm });
  }

  return (
    <>
      <form className="card form" onSubmit={submit} data-testid="diagnose-form">
        <div className="toolbar">
          <label className="check">
            <input type="checkbox" checked={useLlm} onChange={(e) => setUseLlm(e.target.checked)} data-testid="diagnose-use-llm" />
            Use LLM <span className="muted small">(explains and ranks the findings; recommendations always come from the rules)</span>
          </label>
          <button
            type="submit"
            className="primary"
            disabled={!operator || run.running}
            title={operator ? undefined : "Diagnosing needs an operator token"}
            data-testid="diagnose-button"
          >
            {run.running ? "Diagnosing…" : dropletId ? `Diagnose ${names.get(dropletId) ?? "droplet"}` : "Diagnose cluster"}
          </button>
          {run.reconnecting && (
            <span className="muted small" role="status" data-testid="diagnose-reconnecting">
              reconnecting…
            </span>
          )}
        </div>
        {!operator && <ReadOnlyNote what="diagnosing" />}
        <ErrorBanner error={run.error} />
      </form>
      {run.running && !run.diagnosisId && (
        <p className="card muted" role="status" data-testid="diagnosis-running">
          The analyzers are reading the metrics, health checks and events…
        </p>
      )}
      {selected && <DiagnosisView key={selected} id={selected} streaming={run.running && run.diagnosisId === selected} names={names} />}
      <History clusterId={clusterId} selected={selected} onSelect={onSelect} names={names} />
    </>
  );
}
