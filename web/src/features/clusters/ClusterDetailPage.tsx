import { useState, type FormEvent } from "react";
import { useMutation, useQuery } from "@connectrpc/connect-query";
import { Link, useLocation } from "wouter";
import {
  ClusterService,
  DropletService,
  type Cluster,
} from "../../gen/clustergenie/provisioning/v1/provisioning_pb";
import { JobService } from "../../gen/clustergenie/jobs/v1/jobs_pb";
import { Role } from "../../lib/auth";
import { sizesForRegion, useCatalog } from "../../lib/catalog";
import { fieldError } from "../../lib/errors";
import { HEALTH_POLL_MS, POLL_MS, clusterStatusLabel, dropletStatusLabel, hourlyCost, isDropletChanging, monthlyCost, time } from "../../lib/format";
import { uiError, useIdempotentMutation, useInvalidate } from "../../lib/query";
import { ErrorBanner } from "../../components/ErrorBanner";
import { HealthBadge } from "../../components/HealthBadge";
import { Field } from "../../components/Field";
import { ImageSelect, SizeSelect } from "../../components/Pickers";
import { Badge, Can, Loading, PageHeader } from "../../components/ui";

export function ClusterDetailPage({ id }: { id: string }) {
  // Health follows the checks monitoring runs: look again now and then.
  const cluster = useQuery(ClusterService.method.getCluster, { id }, { refetchInterval: HEALTH_POLL_MS });
  // A droplet booting or locked by an action changes soon: look again.
  const members = useQuery(
    DropletService.method.listDroplets,
    { clusterId: id, pageSize: 200 },
    { refetchInterval: (q) => (q.state.data?.droplets.some(isDropletChanging) ? POLL_MS : false) },
  );
  const c = cluster.data?.cluster;
  const reload = () => {
    void cluster.refetch();
    void members.refetch();
  };

  return (
    <>
      <PageHeader title={c ? `Cluster ${c.name}` : "Cluster"}>
        <button type="button" onClick={reload} data-testid="cluster-refresh">
          Refresh
        </button>
      </PageHeader>
      <ErrorBanner error={uiError(cluster.error, members.error)} />
      {!c ? (
        cluster.isPending && <Loading />
      ) : (
        <>
          <section className="card grid-2" data-testid="cluster-detail" data-cluster-id={c.id}>
            <dl className="facts">
              <dt>Region</dt>
              <dd>{c.region}</dd>
              <dt>Status</dt>
              <dd>
                <Badge>{clusterStatusLabel(c.status)}</Badge>
              </dd>
              <dt>Health</dt>
              <dd>
                <Link href={`/monitoring/checks?cluster=${c.id}`}>
                  <HealthBadge health={c.health} />
                </Link>
              </dd>
              <dt>Droplets</dt>
              <dd data-testid="cluster-droplet-count">{c.dropletCount}</dd>
              <dt>Tags</dt>
              <dd>{c.tags.length ? c.tags.join(", ") : "—"}</dd>
              <dt>Created</dt>
              <dd>{time(c.createTime)}</dd>
            </dl>
            <div className="cost" data-testid="cluster-cost">
              <div className="cost__big">{monthlyCost(c.cost)}</div>
              <div className="muted">per month · {hourlyCost(c.cost)}</div>
              {c.description && <p>{c.description}</p>}
            </div>
          </section>
          <Can role={Role.OPERATOR}>
            <div className="grid-2">
              <ScaleClusterForm cluster={c} />
              <DeleteCluster cluster={c} />
            </div>
          </Can>
        </>
      )}
      <section className="card">
        <h2>Droplets in this cluster</h2>
        {(members.data?.droplets.length ?? 0) === 0 ? (
          <p className="muted">{members.isPending ? "Loading…" : "None yet."}</p>
        ) : (
          <table className="table" data-testid="cluster-droplets">
            <thead>
              <tr>
                <th>Name</th>
                <th>Status</th>
                <th>Size</th>
                <th>IPv4</th>
              </tr>
            </thead>
            <tbody>
              {members.data?.droplets.map((d) => (
                <tr key={d.id} data-testid="cluster-droplet-row">
                  <td>
                    <Link href={`/droplets/${d.id}`}>{d.name}</Link>
                  </td>
                  <td>{dropletStatusLabel(d.status)}</td>
                  <td>{d.size}</td>
                  <td>{d.publicIpv4 || "—"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </>
  );
}

/** "Scale to N": a JOB_KIND_SCALE_CLUSTER job, then its live progress. */
function ScaleClusterForm({ cluster }: { cluster: Cluster }) {
  const catalog = useCatalog();
  const invalidate = useInvalidate();
  const [, navigate] = useLocation();
  const [count, setCount] = useState(String(Math.max(1, cluster.dropletCount + 1)));
  const [size, setSize] = useState("");
  const [image, setImage] = useState("");
  const sizes = sizesForRegion(catalog.data, cluster.region);
  const images = catalog.data?.images ?? [];
  const chosenSize = size || sizes[0]?.slug || "";
  const chosenImage = image || images[0]?.slug || "";
  const scale = useIdempotentMutation(JobService.method.createJob, {
    onSuccess: () => invalidate(JobService.method.listJobs),
  });
  const error = uiError(scale.error);

  function submit(e: FormEvent) {
    e.preventDefault();
    scale.mutate(
      {
        clusterId: cluster.id,
        action: {
          action: {
            case: "scaleCluster",
            value: { targetCount: Number.parseInt(count, 10) || 0, size: chosenSize, image: chosenImage },
          },
        },
      },
      { onSuccess: (res) => res.job && navigate(`/jobs/${res.job.id}`) },
    );
  }

  return (
    <form className="card form" onSubmit={submit} data-testid="scale-form">
      <h2>Scale</h2>
      <ErrorBanner error={error} shownFields={["target_count", "size", "image"]} />
      <Field label="Target droplet count" name="target_count" error={fieldError(error, "target_count")}>
        <input
          type="number"
          min={0}
          max={100}
          value={count}
          onChange={(e) => setCount(e.target.value)}
          data-testid="scale-count"
        />
      </Field>
      <div className="form__row">
        <Field label="Size for new droplets" name="size" error={fieldError(error, "size")}>
          <SizeSelect options={sizes} value={chosenSize} onChange={setSize} testid="scale-size" />
        </Field>
        <Field label="Image for new droplets" name="image" error={fieldError(error, "image")}>
          <ImageSelect options={images} value={chosenImage} onChange={setImage} testid="scale-image" />
        </Field>
      </div>
      <button type="submit" className="primary" disabled={scale.isPending} data-testid="scale-submit">
        {scale.isPending ? "Queuing…" : "Scale cluster"}
      </button>
    </form>
  );
}

function DeleteCluster({ cluster }: { cluster: Cluster }) {
  const invalidate = useInvalidate();
  const [, navigate] = useLocation();
  const [confirming, setConfirming] = useState(false);
  const [force, setForce] = useState(false);
  const del = useMutation(ClusterService.method.deleteCluster, {
    onSuccess: () => invalidate(ClusterService.method.listClusters, DropletService),
  });
  const hasDroplets = cluster.dropletCount > 0;

  function confirm() {
    del.mutate({ id: cluster.id, force }, { onSuccess: () => navigate("/clusters") });
  }

  return (
    <div className="card form danger-zone">
      <h2>Delete</h2>
      <ErrorBanner error={uiError(del.error)} />
      {hasDroplets && (
        <label className="check">
          <input type="checkbox" checked={force} onChange={(e) => setForce(e.target.checked)} data-testid="cluster-delete-force" />
          Also destroy its {cluster.dropletCount} droplet(s) (force)
        </label>
      )}
      {!confirming ? (
        <button type="button" className="danger" onClick={() => setConfirming(true)} data-testid="cluster-delete">
          Delete cluster…
        </button>
      ) : (
        <div className="row">
          <button type="button" className="danger" onClick={confirm} disabled={del.isPending || (hasDroplets && !force)} data-testid="cluster-delete-confirm">
            {del.isPending ? "Deleting…" : `Really delete ${cluster.name}`}
          </button>
          <button type="button" onClick={() => setConfirming(false)}>
            Cancel
          </button>
        </div>
      )}
      {hasDroplets && !force && <p className="muted small">A cluster with droplets can only be deleted with force.</p>}
    </div>
  );
}
