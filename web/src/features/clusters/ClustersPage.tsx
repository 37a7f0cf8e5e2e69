import { useState } from "react";
import { useQuery } from "@connectrpc/connect-query";
import { keepPreviousData } from "@tanstack/react-query";
import { Link } from "wouter";
import { ClusterService, ClusterStatus, type Cluster } from "../../gen/clustergenie/provisioning/v1/provisioning_pb";
import { Role } from "../../lib/auth";
import { clusterStatusLabel, HEALTH_POLL_MS, monthlyCost } from "../../lib/format";
import { usePages } from "../../lib/pages";
import { uiError } from "../../lib/query";
import { ErrorBanner } from "../../components/ErrorBanner";
import { HealthBadge } from "../../components/HealthBadge";
import { Badge, Can, Loading, PageHeader, Pager, ReadOnlyNote } from "../../components/ui";
import { CreateClusterForm } from "./CreateClusterForm";

export function ClustersPage() {
  const pages = usePages();
  const list = useQuery(
    ClusterService.method.listClusters,
    { pageSize: 50, pageToken: pages.token },
    // The health column follows monitoring's checks: look again now and then.
    { placeholderData: keepPreviousData, refetchInterval: HEALTH_POLL_MS },
  );
  const [created, setCreated] = useState<Cluster | null>(null);

  return (
    <>
      <PageHeader title="Clusters">
        <button type="button" onClick={() => void list.refetch()} disabled={list.isFetching} data-testid="clusters-refresh">
          Refresh
        </button>
      </PageHeader>
      <Can role={Role.OPERATOR} otherwise={<ReadOnlyNote what="creating clusters" />}>
        <CreateClusterForm onCreated={setCreated} />
      </Can>
      {created && (
        <div className="banner banner--ok" data-testid="cluster-created">
          Created cluster{" "}
          <Link href={`/clusters/${created.id}`} data-testid="cluster-created-link">
            {created.name}
          </Link>
          .
        </div>
      )}
      <ErrorBanner error={uiError(list.error)} />
      <section className="card">
        {list.isPending ? (
          <Loading />
        ) : list.error && !list.data ? (
          // Nothing loaded yet: the banner above says why; "no clusters" would be wrong.
          <p className="muted">Clusters could not be loaded.</p>
        ) : (
          <ClusterTable clusters={list.data?.clusters ?? []} />
        )}
        <Pager
          testid="clusters-pager"
          page={pages.index}
          hasNext={!!list.data?.nextPageToken}
          onPrev={pages.prev}
          onNext={() => pages.next(list.data?.nextPageToken ?? "")}
        />
      </section>
    </>
  );
}

function ClusterTable({ clusters }: { clusters: Cluster[] }) {
  if (clusters.length === 0) return <p className="muted" data-testid="clusters-empty">No clusters yet.</p>;
  return (
    <table className="table" data-testid="clusters-table">
      <thead>
        <tr>
          <th>Name</th>
          <th>Region</th>
          <th>Status</th>
          <th>Health</th>
          <th className="num">Droplets</th>
          <th className="num">Monthly cost</th>
          <th>Description</th>
        </tr>
      </thead>
      <tbody>
        {clusters.map((c) => (
          <tr key={c.id} data-testid="cluster-row" data-cluster-id={c.id} data-cluster-name={c.name}>
            <td>
              <Link href={`/clusters/${c.id}`} data-testid="cluster-link">
                {c.name}
              </Link>
            </td>
            <td>{c.region}</td>
            <td>
              <Badge tone={c.status === ClusterStatus.ACTIVE ? "ok" : "warn"}>{clusterStatusLabel(c.status)}</Badge>
            </td>
            <td>
              <HealthBadge health={c.health} />
            </td>
            <td className="num">{c.dropletCount}</td>
            <td className="num">{monthlyCost(c.cost)}</td>
            <td className="muted">{c.description}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
