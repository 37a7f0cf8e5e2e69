import { useQuery } from "@connectrpc/connect-query";
import { Link } from "wouter";
import { DropletActionService, DropletService } from "../../gen/clustergenie/provisioning/v1/provisioning_pb";
import { Role } from "../../lib/auth";
import { POLL_MS, actionStatusLabel, actionTypeLabel, dropletStatusLabel, isDropletChanging, memory, time } from "../../lib/format";
import { uiError } from "../../lib/query";
import { ErrorBanner } from "../../components/ErrorBanner";
import { ResizeJobForm } from "../../components/ResizeJobForm";
import { Badge, Can, Loading, PageHeader } from "../../components/ui";
import { DropletActions } from "./DropletActions";
import { dropletTone } from "../../components/dropletTone";

export function DropletDetailPage({ id }: { id: string }) {
  const droplet = useQuery(
    DropletService.method.getDroplet,
    { id },
    { refetchInterval: (q) => (q.state.data?.droplet && isDropletChanging(q.state.data.droplet) ? POLL_MS : false) },
  );
  const history = useQuery(DropletActionService.method.listDropletActions, { dropletId: id, pageSize: 20 });
  const d = droplet.data?.droplet;
  const reload = () => {
    void droplet.refetch();
    void history.refetch();
  };

  return (
    <>
      <PageHeader title={d ? `Droplet ${d.name}` : "Droplet"}>
        <button type="button" onClick={reload} data-testid="droplet-refresh">
          Refresh
        </button>
      </PageHeader>
      <ErrorBanner error={uiError(droplet.error, history.error)} />
      {!d ? (
        droplet.isPending && <Loading />
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
                <DropletActions droplet={d} expanded />
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
          <p className="muted">{history.isPending ? "Loading…" : "No actions yet."}</p>
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
