// /autoscaling: the cluster picker (kept in the URL query) with its droplet
// count against the latest decision's desired count, then the cluster's
// policies (with a dry run), its monthly cost cap and the decisions timeline.
import { useQuery } from "@connectrpc/connect-query";
import { ClusterService, type Cluster } from "../../gen/clustergenie/provisioning/v1/provisioning_pb";
import { HEALTH_POLL_MS } from "../../lib/format";
import { ErrorBanner } from "../../components/ErrorBanner";
import { PageHeader } from "../../components/ui";
import { toUiError } from "../../lib/errors";
import { useDecisions } from "../../lib/decisions";
import { CostCapCard } from "./CostCapCard";
import { DecisionsTimeline } from "./DecisionsTimeline";
import { PoliciesCard } from "./PoliciesCard";
import { useClusterParam } from "./selection";

export function AutoscalingSection() {
  // Droplet counts change as scaling jobs run: the list is polled while on screen.
  const clusters = useQuery(ClusterService.method.listClusters, { pageSize: 1000 }, { refetchInterval: HEALTH_POLL_MS });
  const [clusterId, setCluster] = useClusterParam(clusters.data?.clusters[0]?.id);
  const cluster = clusters.data?.clusters.find((c) => c.id === clusterId);

  return (
    <>
      <PageHeader title="Autoscaling" />
      <ErrorBanner error={clusters.error ? toUiError(clusters.error) : null} />
      <div className="selection">
        <label>
          Cluster{" "}
          <select value={clusterId} onChange={(e) => setCluster(e.target.value)} data-testid="autoscaling-cluster">
            {!clusterId && <option value="">Choose…</option>}
            {clusters.data?.clusters.map((c) => (
              <option key={c.id} value={c.id}>
                {c.name}
              </option>
            ))}
          </select>
        </label>
      </div>
      {clusterId ? (
        <ClusterScaling key={clusterId} clusterId={clusterId} cluster={cluster} />
      ) : (
        <p className="card muted" data-testid="autoscaling-pick-cluster">
          {clusters.isPending ? "Loading…" : "No cluster yet: create one on the Clusters page."}
        </p>
      )}
    </>
  );
}

function ClusterScaling({ clusterId, cluster }: { clusterId: string; cluster: Cluster | undefined }) {
  const { decisions, list, stream } = useDecisions(clusterId);
  const latest = decisions[0];
  return (
    <>
      <div className="stats">
        <div className="stat">
          <span className="stat__n" data-testid="autoscaling-current" data-count={cluster ? cluster.dropletCount : ""}>
            {cluster ? cluster.dropletCount : "—"}
          </span>
          <span className="stat__label">droplets now</span>
        </div>
        <div className="stat">
          <span className="stat__n" data-testid="autoscaling-desired" data-count={latest ? latest.desiredDroplets : ""}>
            {latest ? latest.desiredDroplets : "—"}
          </span>
          <span className="stat__label">desired by the latest decision</span>
        </div>
      </div>
      <PoliciesCard clusterId={clusterId} region={cluster?.region} />
      <CostCapCard clusterId={clusterId} cluster={cluster} />
      <DecisionsTimeline clusterId={clusterId} decisions={decisions} list={list} stream={stream} />
    </>
  );
}
