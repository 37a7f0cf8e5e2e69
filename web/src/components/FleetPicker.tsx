// The cluster / droplet picker at the top of the monitoring and diagnosis
// pages: a cluster, then one of its droplets or the whole cluster.
import type { Cluster, Droplet } from "../gen/clustergenie/provisioning/v1/provisioning_pb";
import { dropletStatusLabel } from "../lib/format";

export function FleetPicker({
  clusters,
  droplets,
  cluster,
  droplet,
  onCluster,
  onDroplet,
  emptyCluster,
  testid,
}: {
  clusters: readonly Cluster[];
  droplets: readonly Droplet[];
  cluster: string;
  droplet: string;
  onCluster: (id: string) => void;
  onDroplet: (id: string) => void;
  /** The label of an empty cluster choice ("All clusters", "Choose…"); none when undefined. */
  emptyCluster?: string | undefined;
  /** Prefix of the test ids: `<testid>-cluster`, `<testid>-droplet`. */
  testid: string;
}) {
  return (
    <div className="selection" data-testid={`${testid}-selection`}>
      <label>
        Cluster{" "}
        <select value={cluster} onChange={(e) => onCluster(e.target.value)} data-testid={`${testid}-cluster`}>
          {emptyCluster !== undefined && <option value="">{emptyCluster}</option>}
          {clusters.map((c) => (
            <option key={c.id} value={c.id}>
              {c.name}
            </option>
          ))}
        </select>
      </label>
      <label>
        Droplet{" "}
        <select value={droplet} disabled={!cluster} onChange={(e) => onDroplet(e.target.value)} data-testid={`${testid}-droplet`}>
          <option value="">Whole cluster</option>
          {droplets.map((d) => (
            <option key={d.id} value={d.id}>
              {d.name} ({dropletStatusLabel(d.status)})
            </option>
          ))}
        </select>
      </label>
    </div>
  );
}
