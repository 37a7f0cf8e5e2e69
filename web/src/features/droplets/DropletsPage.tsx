import { useState } from "react";
import { useQuery } from "@connectrpc/connect-query";
import { keepPreviousData } from "@tanstack/react-query";
import { Link } from "wouter";
import {
  ClusterService,
  DropletService,
  DropletStatus,
  type Droplet,
} from "../../gen/clustergenie/provisioning/v1/provisioning_pb";
import { Role } from "../../lib/auth";
import { useCatalog } from "../../lib/catalog";
import { useAuth } from "../../lib/context";
import { DROPLET_STATUSES, POLL_MS, dropletStatusLabel, isDropletChanging, memory } from "../../lib/format";
import { usePages } from "../../lib/pages";
import { uiError } from "../../lib/query";
import { ErrorBanner } from "../../components/ErrorBanner";
import { dropletTone } from "../../components/dropletTone";
import { Badge, Can, Loading, PageHeader, Pager, ReadOnlyNote } from "../../components/ui";
import { ClusterFilter } from "../../components/Pickers";
import { CreateDropletForm } from "./CreateDropletForm";
import { DropletActions } from "./DropletActions";

export const PAGE_SIZE = 20;

export function DropletsPage() {
  const catalog = useCatalog();
  const pages = usePages();
  const [clusterId, setClusterId] = useState("");
  const [status, setStatus] = useState<DropletStatus>(DropletStatus.UNSPECIFIED);
  const [region, setRegion] = useState("");
  const clusters = useQuery(ClusterService.method.listClusters, { pageSize: 1000 });
  const list = useQuery(
    DropletService.method.listDroplets,
    { pageSize: PAGE_SIZE, pageToken: pages.token, clusterId, status, region },
    {
      placeholderData: keepPreviousData,
      // A droplet booting or locked by an action changes soon: look again.
      refetchInterval: (q) => (q.state.data?.droplets.some(isDropletChanging) ? POLL_MS : false),
    },
  );
  const filter = (f: () => void) => {
    f();
    pages.reset();
  };

  return (
    <>
      <PageHeader title="Droplets">
        <button type="button" onClick={() => void list.refetch()} disabled={list.isFetching} data-testid="droplets-refresh">
          Refresh
        </button>
      </PageHeader>
      <Can role={Role.OPERATOR} otherwise={<ReadOnlyNote what="creating droplets" />}>
        <CreateDropletForm clusters={clusters.data?.clusters ?? []} />
      </Can>
      <ErrorBanner error={uiError(list.error, clusters.error)} />
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
        {list.isPending ? (
          <Loading />
        ) : list.error && !list.data ? (
          <p className="muted">Droplets could not be loaded.</p>
        ) : (
          <DropletTable droplets={list.data?.droplets ?? []} />
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

function DropletTable({ droplets }: { droplets: Droplet[] }) {
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
                <DropletActions droplet={d} expanded={open === d.id} />
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
