import { useState, type FormEvent } from "react";
import { useLocation } from "wouter";
import { JobService } from "../../gen/clustergenie/jobs/v1/jobs_pb";
import { ClusterService, DropletService, type Droplet } from "../../gen/clustergenie/provisioning/v1/provisioning_pb";
import { sizesForRegion, useCatalog } from "../../lib/catalog";
import { useClient } from "../../lib/context";
import { fieldError } from "../../lib/errors";
import { useMutation, useRpc } from "../../lib/hooks";
import { ErrorBanner } from "../../components/ErrorBanner";
import { Field } from "../../components/Field";
import { SizeSelect } from "../../components/Pickers";

/**
 * Queues a JOB_KIND_RESIZE_DROPLET job (the job road, with retries and
 * progress), then opens the job. With `fixedDroplet` the droplet is given.
 */
export function ResizeJobForm({ fixedDroplet }: { fixedDroplet?: Droplet }) {
  const jobs = useClient(JobService);
  const catalog = useCatalog();
  const [, navigate] = useLocation();
  const [clusterId, setClusterId] = useState(fixedDroplet?.clusterId ?? "");
  const [dropletId, setDropletId] = useState(fixedDroplet?.id ?? "");
  const [size, setSize] = useState("");
  const clustersClient = useClient(ClusterService);
  const dropletsClient = useClient(DropletService);
  const clusters = useRpc(
    (signal) => (fixedDroplet ? Promise.resolve(undefined) : clustersClient.listClusters({ pageSize: 1000 }, { signal })),
    [clustersClient, fixedDroplet],
  );
  const members = useRpc(
    (signal) =>
      fixedDroplet || !clusterId
        ? Promise.resolve(undefined)
        : dropletsClient.listDroplets({ clusterId, pageSize: 1000 }, { signal }),
    [dropletsClient, clusterId, fixedDroplet],
  );
  const droplet = fixedDroplet ?? members.data?.droplets.find((d) => d.id === dropletId);
  const sizes = sizesForRegion(catalog.data, droplet?.region).filter((s) => s.slug !== droplet?.size);
  const chosenSize = sizes.some((s) => s.slug === size) ? size : (sizes[0]?.slug ?? "");
  const resize = useMutation((_: void, requestId: string) =>
    jobs.createJob({
      clusterId,
      requestId,
      action: { action: { case: "resizeDroplet", value: { dropletId, size: chosenSize } } },
    }),
  );

  async function submit(e: FormEvent) {
    e.preventDefault();
    const res = await resize.run();
    if (res?.job) navigate(`/jobs/${res.job.id}`);
  }

  return (
    <form className="card form" onSubmit={submit} data-testid="resize-job-form">
      <h2>Resize job</h2>
      <ErrorBanner error={resize.error ?? clusters.error ?? members.error} shownFields={["cluster_id", "droplet_id", "size"]} />
      {!fixedDroplet && (
        <div className="form__row">
          <Field label="Cluster" name="cluster_id" error={fieldError(resize.error, "cluster_id")}>
            <select
              value={clusterId}
              onChange={(e) => {
                setClusterId(e.target.value);
                setDropletId("");
              }}
              data-testid="resize-job-cluster"
            >
              <option value="">Choose a cluster</option>
              {clusters.data?.clusters.map((c) => (
                <option key={c.id} value={c.id}>
                  {c.name}
                </option>
              ))}
            </select>
          </Field>
          <Field label="Droplet" name="droplet_id" error={fieldError(resize.error, "droplet_id")}>
            <select value={dropletId} onChange={(e) => setDropletId(e.target.value)} data-testid="resize-job-droplet">
              <option value="">Choose a droplet</option>
              {members.data?.droplets.map((d) => (
                <option key={d.id} value={d.id}>
                  {d.name} ({d.size})
                </option>
              ))}
            </select>
          </Field>
        </div>
      )}
      <Field label="New size" name="size" error={fieldError(resize.error, "size")}>
        <SizeSelect options={sizes} value={chosenSize} onChange={setSize} testid="resize-job-size" />
      </Field>
      <button type="submit" className="primary" disabled={resize.pending} data-testid="resize-job-submit">
        {resize.pending ? "Queuing…" : "Queue resize job"}
      </button>
    </form>
  );
}
