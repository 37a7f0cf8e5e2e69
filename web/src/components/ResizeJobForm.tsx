import { useState, type FormEvent } from "react";
import { skipToken, useQuery } from "@connectrpc/connect-query";
import { useLocation } from "wouter";
import { JobService } from "../gen/clustergenie/jobs/v1/jobs_pb";
import { ClusterService, DropletService, type Droplet } from "../gen/clustergenie/provisioning/v1/provisioning_pb";
import { sizesForRegion, useCatalog } from "../lib/catalog";
import { fieldError } from "../lib/errors";
import { uiError, useIdempotentMutation, useInvalidate } from "../lib/query";
import { ErrorBanner } from "./ErrorBanner";
import { Field } from "./Field";
import { SizeSelect } from "./Pickers";

/**
 * Queues a JOB_KIND_RESIZE_DROPLET job (the job road, with retries and
 * progress), then opens the job. With `fixedDroplet` the droplet is given.
 * Shared by the Jobs page and a droplet's page.
 */
export function ResizeJobForm({ fixedDroplet }: { fixedDroplet?: Droplet }) {
  const catalog = useCatalog();
  const invalidate = useInvalidate();
  const [, navigate] = useLocation();
  const [clusterId, setClusterId] = useState(fixedDroplet?.clusterId ?? "");
  const [dropletId, setDropletId] = useState(fixedDroplet?.id ?? "");
  const [size, setSize] = useState("");
  const clusters = useQuery(ClusterService.method.listClusters, fixedDroplet ? skipToken : { pageSize: 1000 });
  const members = useQuery(
    DropletService.method.listDroplets,
    fixedDroplet || !clusterId ? skipToken : { clusterId, pageSize: 1000 },
  );
  const droplet = fixedDroplet ?? members.data?.droplets.find((d) => d.id === dropletId);
  const sizes = sizesForRegion(catalog.data, droplet?.region).filter((s) => s.slug !== droplet?.size);
  const chosenSize = sizes.some((s) => s.slug === size) ? size : (sizes[0]?.slug ?? "");
  const resize = useIdempotentMutation(JobService.method.createJob, {
    onSuccess: () => invalidate(JobService.method.listJobs),
  });
  const error = uiError(resize.error);

  function submit(e: FormEvent) {
    e.preventDefault();
    resize.mutate(
      { clusterId, action: { action: { case: "resizeDroplet", value: { dropletId, size: chosenSize } } } },
      { onSuccess: (res) => res.job && navigate(`/jobs/${res.job.id}`) },
    );
  }

  return (
    <form className="card form" onSubmit={submit} data-testid="resize-job-form">
      <h2>Resize job</h2>
      <ErrorBanner error={error ?? uiError(clusters.error, members.error)} shownFields={["cluster_id", "droplet_id", "size"]} />
      {!fixedDroplet && (
        <div className="form__row">
          <Field label="Cluster" name="cluster_id" error={fieldError(error, "cluster_id")}>
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
          <Field label="Droplet" name="droplet_id" error={fieldError(error, "droplet_id")}>
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
      <Field label="New size" name="size" error={fieldError(error, "size")}>
        <SizeSelect options={sizes} value={chosenSize} onChange={setSize} testid="resize-job-size" />
      </Field>
      <button type="submit" className="primary" disabled={resize.isPending} data-testid="resize-job-submit">
        {resize.isPending ? "Queuing…" : "Queue resize job"}
      </button>
    </form>
  );
}
