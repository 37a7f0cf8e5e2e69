// Every cluster with its health (monitoring's roll-up on Cluster.health),
// droplet count and monthly cost, and the fleet's total cost; polled, as the
// clusters page is.
import { Link } from "wouter";
import { ClusterStatus, type Cluster } from "../../gen/clustergenie/provisioning/v1/provisioning_pb";
import { HEALTH_POLL_MS, clusterStatusLabel, money, monthlyCost } from "../../lib/format";
import { uiError } from "../../lib/query";
import { ErrorBanner } from "../../components/ErrorBanner";
import { HealthBadge } from "../../components/HealthBadge";
import { Badge, Loading } from "../../components/ui";
import { useAllClusters } from "./fleet";

export function ClustersCard() {
  const clusters = useAllClusters(HEALTH_POLL_MS);
  const items = clusters.data?.items ?? [];
  const cents = items.reduce((sum, c) => sum + (c.cost?.monthlyCents ?? 0n), 0n);
  const currency = items.find((c) => c.cost?.currency)?.cost?.currency ?? "USD";
  const more = clusters.data?.truncated ? "+" : "";
  return (
    <section className="card" data-testid="overview-clusters">
      <div className="card__head">
        <h2>
          <Link href="/clusters">Clusters</Link>
        </h2>
        {clusters.data && (
          <span className="muted">
            <span data-testid="overview-cluster-count" data-count={items.length}>
              {items.length}
              {more} cluster{items.length === 1 ? "" : "s"}
            </span>
            {" · "}
            <b data-testid="overview-total-cost" data-cents={String(cents)}>
              {money(cents, currency)}
              {more}/mo
            </b>{" "}
            in total
          </span>
        )}
      </div>
      <ErrorBanner error={uiError(clusters.error)} />
      {clusters.isPending ? (
        <Loading />
      ) : (
        clusters.data &&
        (items.length === 0 ? (
          <p className="muted" data-testid="overview-clusters-empty">
            No clusters yet: create one on the <Link href="/clusters">Clusters</Link> page.
          </p>
        ) : (
          <ClusterTable clusters={items} />
        ))
      )}
    </section>
  );
}

function ClusterTable({ clusters }: { clusters: Cluster[] }) {
  return (
    <table className="table" data-testid="overview-clusters-table">
      <thead>
        <tr>
          <th>Name</th>
          <th>Health</th>
          <th>Region</th>
          <th className="num">Droplets</th>
          <th className="num">Monthly cost</th>
        </tr>
      </thead>
      <tbody>
        {clusters.map((c) => (
          <tr key={c.id} data-testid={`overview-cluster-${c.name}`} data-cluster-id={c.id} data-cluster-name={c.name}>
            <td>
              <Link href={`/clusters/${c.id}`} data-testid="overview-cluster-link">
                {c.name}
              </Link>
              {c.status !== ClusterStatus.ACTIVE && (
                <>
                  {" "}
                  <Badge tone="warn">{clusterStatusLabel(c.status)}</Badge>
                </>
              )}
            </td>
            <td>
              <HealthBadge health={c.health} />
            </td>
            <td>{c.region}</td>
            <td className="num" data-testid="overview-cluster-droplets" data-count={c.dropletCount}>
              {c.dropletCount}
            </td>
            <td className="num" data-testid="overview-cluster-cost">
              {monthlyCost(c.cost)}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
