import { useState, type FormEvent } from "react";
import { Link, useLocation } from "wouter";
import {
  ClusterService,
  DropletService,
  DropletStatus,
  type Cluster,
} from "../../gen/clustergenie/provisioning/v1/provisioning_pb";
import { JobService } from "../../gen/clustergenie/jobs/v1/jobs_pb";
import { Role } from "../../lib/auth";
import { sizesForRegion, useCatalog } from "../../lib/catalog";
import { useClient } from "../../lib/context";
import { fieldError } from "../../lib/errors";
import { clusterStatusLabel, dropletStatusLabel, hourlyCost, monthlyCost, time } from "../../lib/format";
import { useMutation, useRefreshWhile, useRpc } from "../../lib/hooks";
import { ErrorBanner } from "../../components/ErrorBanner";
import { Field } from "../../components/Field";
import { ImageSelect, SizeSelect } from "../../components/Pickers";
import { Badge, Can, Loading, PageHeader } from "../../components/ui";

export function ClusterDetailPage({ id }: { id: string }) {
  const clusters = useClient(ClusterService);
  const droplets = useClient(DropletService);
  const cluster = useRpc((signal) => clusters.getCluster({ id }, { signal }), [clusters, id]);
  const members = useRpc(
    (signal) => droplets.listDroplets({ clusterId: id, pageSize: 200 }, { signal }),
    [droplets, id],
  );
  const c = cluster.data?.cluster;
  useRefreshWhile(
    !!members.data?.droplets.some((d) => d.status === DropletStatus.NEW || d.locked),
    members.reload,
    3000,
    members.data,
  );
  const reload = () => {
    cluster.reload();
    members.reload();
  };

  return (
    <>
      <PageHeader title={c ? `Cluster ${c.name}` : "Cluster"}>
        <button type="button" onClick={reload} data-testid="cluster-refresh">
          Refresh
        </button>
      </PageHeader>
      <ErrorBanner error={cluster.error ?? members.error} />
      {!c ? (
        cluster.loading && <Loading />
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
          <p className="muted">{members.loading ? "Loading…" : "None yet."}</p>
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
  const jobs = useClient(JobService);
  const catalog = useCatalog();
  const [, navigate] = useLocation();
  const [count, setCount] = useState(String(Math.max(1, cluster.dropletCount + 1)));
  const [size, setSize] = useState("");
  const [image, setImage] = useState("");
  const sizes = sizesForRegion(catalog.data, cluster.region);
  const images = catalog.data?.images ?? [];
  const chosenSize = size || sizes[0]?.slug || "";
  const chosenImage = image || images[0]?.slug || "";
  const scale = useMutation((_: void, requestId: string) =>
    jobs.createJob({
      clusterId: cluster.id,
      requestId,
      action: {
        action: {
          case: "scaleCluster",
          value: { targetCount: Number.parseInt(count, 10) || 0, size: chosenSize, image: chosenImage },
        },
      },
    }),
  );

  async function submit(e: FormEvent) {
    e.preventDefault();
    const res = await scale.run();
    if (res?.job) navigate(`/jobs/${res.job.id}`);
  }

  return (
    <form className="card form" onSubmit={submit} data-testid="scale-form">
      <h2>Scale</h2>
      <ErrorBanner error={scale.error} shownFields={["target_count", "size", "image"]} />
      <Field label="Target droplet count" name="target_count" error={fieldError(scale.error, "target_count")}>
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
        <Field label="Size for new droplets" name="size" error={fieldError(scale.error, "size")}>
          <SizeSelect options={sizes} value={chosenSize} onChange={setSize} testid="scale-size" />
        </Field>
        <Field label="Image for new droplets" name="image" error={fieldError(scale.error, "image")}>
          <ImageSelect options={images} value={chosenImage} onChange={setImage} testid="scale-image" />
        </Field>
      </div>
      <button type="submit" className="primary" disabled={scale.pending} data-testid="scale-submit">
        {scale.pending ? "Queuing…" : "Scale cluster"}
      </button>
    </form>
  );
}

function DeleteCluster({ cluster }: { cluster: Cluster }) {
  const clusters = useClient(ClusterService);
  const [, navigate] = useLocation();
  const [confirming, setConfirming] = useState(false);
  const [force, setForce] = useState(false);
  const del = useMutation(() => clusters.deleteCluster({ id: cluster.id, force }));
  const hasDroplets = cluster.dropletCount > 0;

  async function confirm() {
    const res = await del.run();
    if (res) navigate("/clusters");
  }

  return (
    <div className="card form danger-zone">
      <h2>Delete</h2>
      <ErrorBanner error={del.error} />
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
          <button type="button" className="danger" onClick={confirm} disabled={del.pending || (hasDroplets && !force)} data-testid="cluster-delete-confirm">
            {del.pending ? "Deleting…" : `Really delete ${cluster.name}`}
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
