import { useState } from "react";
import { Link } from "wouter";
import {
  ClusterService,
  DropletService,
  DropletStatus,
  type Droplet,
} from "../../gen/clustergenie/provisioning/v1/provisioning_pb";
import { Role } from "../../lib/auth";
import { useCatalog } from "../../lib/catalog";
import { useAuth, useClient } from "../../lib/context";
import { DROPLET_STATUSES, dropletStatusLabel, memory } from "../../lib/format";
import { useRefreshWhile, useRpc } from "../../lib/hooks";
import { usePages } from "../../lib/pages";
import { ErrorBanner } from "../../components/ErrorBanner";
import { Badge, Can, Loading, PageHeader, Pager, ReadOnlyNote } from "../../components/ui";
import { CreateDropletForm } from "./CreateDropletForm";
import { DropletActions } from "./DropletActions";
import { ClusterFilter } from "../../components/Pickers";

export const PAGE_SIZE = 20;

export function dropletTone(s: DropletStatus) {
  return s === DropletStatus.ACTIVE ? "ok" : s === DropletStatus.NEW ? "info" : s === DropletStatus.OFF ? "warn" : "neutral";
}

export function DropletsPage() {
  const droplets = useClient(DropletService);
  const clustersClient = useClient(ClusterService);
  const catalog = useCatalog();
  const pages = usePages();
  const [clusterId, setClusterId] = useState("");
  const [status, setStatus] = useState<DropletStatus>(DropletStatus.UNSPECIFIED);
  const [region, setRegion] = useState("");
  const clusters = useRpc((signal) => clustersClient.listClusters({ pageSize: 1000 }, { signal }), [clustersClient]);
  const list = useRpc(
    (signal) =>
      droplets.listDroplets({ pageSize: PAGE_SIZE, pageToken: pages.token, clusterId, status, region }, { signal }),
    [droplets, pages.token, clusterId, status, region],
  );
  // A droplet booting or locked by an action changes soon: look again.
  useRefreshWhile(
    !!list.data?.droplets.some((d) => d.status === DropletStatus.NEW || d.locked),
    list.reload,
    3000,
    list.data,
  );
  const filter = (f: () => void) => {
    f();
    pages.reset();
  };

  return (
    <>
      <PageHeader title="Droplets">
        <button type="button" onClick={list.reload} disabled={list.loading} data-testid="droplets-refresh">
          Refresh
        </button>
      </PageHeader>
      <Can role={Role.OPERATOR} otherwise={<ReadOnlyNote what="creating droplets" />}>
        <CreateDropletForm clusters={clusters.data?.clusters ?? []} onCreated={() => list.reload()} />
      </Can>
      <ErrorBanner error={list.error ?? clusters.error} />
      <section className="card">
        <div className="filters">
          <ClusterFilter
            clusters={clusters.data?.clusters ?? []}
            value={clusterId}
            onChange={(id) => filter(() => setClusterId(id))}
            testid="droplets-filter-cluster"
          />
          <label>
            Status{" "}
            <select value={status} onChange={(e) => filter(() => setStatus(Number(e.target.value)))} data-testid="droplets-filter-status">
              <option value={DropletStatus.UNSPECIFIED}>Any (live)</option>
              {DROPLET_STATUSES.map((s) => (
                <option key={s} value={s}>
                  {dropletStatusLabel(s)}
                </option>
              ))}
            </select>
          </label>
          <label>
            Region{" "}
            <select value={region} onChange={(e) => filter(() => setRegion(e.target.value))} data-testid="droplets-filter-region">
              <option value="">All</option>
              {catalog.data?.regions.map((r) => (
                <option key={r.slug} value={r.slug}>
                  {r.slug}
                </option>
              ))}
            </select>
          </label>
        </div>
        {list.loading && !list.data ? (
          <Loading />
        ) : list.error && !list.data ? (
          <p className="muted">Droplets could not be loaded.</p>
        ) : (
          <DropletTable droplets={list.data?.droplets ?? []} onChanged={list.reload} />
        )}
        <Pager
          testid="droplets-pager"
          page={pages.index}
          hasNext={!!list.data?.nextPageToken}
          onPrev={pages.prev}
          onNext={() => pages.next(list.data?.nextPageToken ?? "")}
        />
      </section>
    </>
  );
}

function DropletTable({ droplets, onChanged }: { droplets: Droplet[]; onChanged: () => void }) {
  const { can } = useAuth();
  const [open, setOpen] = useState<string | null>(null);
  if (droplets.length === 0) return <p className="muted" data-testid="droplets-empty">No droplets match.</p>;
  return (
    <table className="table" data-testid="droplets-table">
      <thead>
        <tr>
          <th>Name</th>
          <th>Cluster</th>
          <th>Region</th>
          <th>Size</th>
          <th>Status</th>
          <th>IPv4</th>
          {can(Role.OPERATOR) && <th>Actions</th>}
        </tr>
      </thead>
      <tbody>
        {droplets.map((d) => (
          <tr key={d.id} data-testid="droplet-row" data-droplet-id={d.id} data-droplet-name={d.name}>
            <td>
              <Link href={`/droplets/${d.id}`} data-testid="droplet-link">
                {d.name}
              </Link>
            </td>
            <td>
              <Link href={`/clusters/${d.clusterId}`}>
                <Badge tone="info" testid="droplet-cluster-badge" title={d.clusterId}>
                  {d.clusterName || d.clusterId}
                </Badge>
              </Link>
            </td>
            <td>{d.region}</td>
            <td data-testid="droplet-size-cell" title={`${d.vcpus} vCPU, ${memory(d.memoryMb)}, ${d.diskGb} GB disk`}>
              {d.size}
            </td>
            <td>
              <Badge tone={dropletTone(d.status)} testid="droplet-status">
                {dropletStatusLabel(d.status)}
              </Badge>
              {d.locked && <span className="muted small" title="An action is in progress"> 🔒</span>}
            </td>
            <td>{d.publicIpv4 || "—"}</td>
            {can(Role.OPERATOR) && (
              <td>
                <DropletActions droplet={d} expanded={open === d.id} onSettled={onChanged} />
                <button type="button" className="link small" onClick={() => setOpen(open === d.id ? null : d.id)} data-testid="droplet-more">
                  {open === d.id ? "Fewer actions" : "More actions…"}
                </button>
              </td>
            )}
          </tr>
        ))}
      </tbody>
    </table>
  );
}
