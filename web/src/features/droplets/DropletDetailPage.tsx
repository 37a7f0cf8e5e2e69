import { Link } from "wouter";
import {
  DropletActionService,
  DropletService,
  DropletStatus,
} from "../../gen/clustergenie/provisioning/v1/provisioning_pb";
import { Role } from "../../lib/auth";
import { useClient } from "../../lib/context";
import { actionStatusLabel, actionTypeLabel, dropletStatusLabel, memory, time } from "../../lib/format";
import { useRefreshWhile, useRpc } from "../../lib/hooks";
import { ErrorBanner } from "../../components/ErrorBanner";
import { Badge, Can, Loading, PageHeader } from "../../components/ui";
import { ResizeJobForm } from "../jobs/ResizeJobForm";
import { DropletActions } from "./DropletActions";
import { dropletTone } from "./DropletsPage";

export function DropletDetailPage({ id }: { id: string }) {
  const droplets = useClient(DropletService);
  const actions = useClient(DropletActionService);
  const droplet = useRpc((signal) => droplets.getDroplet({ id }, { signal }), [droplets, id]);
  const history = useRpc((signal) => actions.listDropletActions({ dropletId: id, pageSize: 20 }, { signal }), [actions, id]);
  const d = droplet.data?.droplet;
  useRefreshWhile(!!d && (d.status === DropletStatus.NEW || d.locked), droplet.reload, 3000, droplet.data);
  const reload = () => {
    droplet.reload();
    history.reload();
  };

  return (
    <>
      <PageHeader title={d ? `Droplet ${d.name}` : "Droplet"}>
        <button type="button" onClick={reload} data-testid="droplet-refresh">
          Refresh
        </button>
      </PageHeader>
      <ErrorBanner error={droplet.error ?? history.error} />
      {!d ? (
        droplet.loading && <Loading />
      ) : (
        <>
          <section className="card grid-2" data-testid="droplet-detail" data-droplet-id={d.id}>
            <dl className="facts">
              <dt>Cluster</dt>
              <dd>
                <Link href={`/clusters/${d.clusterId}`}>
                  <Badge tone="info" testid="droplet-cluster-badge">
                    {d.clusterName || d.clusterId}
                  </Badge>
                </Link>
              </dd>
              <dt>Status</dt>
              <dd>
                <Badge tone={dropletTone(d.status)} testid="droplet-status">
                  {dropletStatusLabel(d.status)}
                </Badge>
                {d.locked && <span className="muted small"> (locked by an action)</span>}
              </dd>
              <dt>Region</dt>
              <dd>{d.region}</dd>
              <dt>Size</dt>
              <dd data-testid="droplet-size-cell">
                {d.size} — {d.vcpus} vCPU, {memory(d.memoryMb)}, {d.diskGb} GB disk
              </dd>
              <dt>Image</dt>
              <dd>{d.image}</dd>
              <dt>IPv4</dt>
              <dd>
                {d.publicIpv4 || "—"} (private {d.privateIpv4 || "—"})
              </dd>
              <dt>Created</dt>
              <dd>{time(d.createTime)}</dd>
            </dl>
            <Can role={Role.OPERATOR}>
              <div>
                <h2>Actions</h2>
                <DropletActions droplet={d} expanded onSettled={reload} />
              </div>
            </Can>
          </section>
          <Can role={Role.OPERATOR}>
            <ResizeJobForm fixedDroplet={d} />
          </Can>
        </>
      )}
      <section className="card">
        <h2>Action history</h2>
        {(history.data?.actions.length ?? 0) === 0 ? (
          <p className="muted">{history.loading ? "Loading…" : "No actions yet."}</p>
        ) : (
          <table className="table" data-testid="droplet-action-history">
            <thead>
              <tr>
                <th>Action</th>
                <th>Status</th>
                <th>Started</th>
                <th>Completed</th>
                <th>Error</th>
              </tr>
            </thead>
            <tbody>
              {history.data?.actions.map((a) => (
                <tr key={a.id}>
                  <td>
                    {actionTypeLabel(a.type)}
                    {a.params.case === "resize" && ` → ${a.params.value.size}`}
                    {a.params.case === "rename" && ` → ${a.params.value.name}`}
                  </td>
                  <td>{actionStatusLabel(a.status)}</td>
                  <td>{time(a.startedAt)}</td>
                  <td>{time(a.completedAt)}</td>
                  <td className="muted">{a.error}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </>
  );
}
