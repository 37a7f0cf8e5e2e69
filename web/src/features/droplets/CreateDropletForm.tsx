import { useState, type FormEvent } from "react";
import { ClusterService, DropletService, type Cluster } from "../../gen/clustergenie/provisioning/v1/provisioning_pb";
import { sizesForRegion, useCatalog } from "../../lib/catalog";
import { fieldError } from "../../lib/errors";
import { uiError, useIdempotentMutation, useInvalidate } from "../../lib/query";
import { ErrorBanner } from "../../components/ErrorBanner";
import { Field } from "../../components/Field";
import { ImageSelect, SizeSelect } from "../../components/Pickers";

const FIELDS = ["cluster_id", "name", "size", "image"] as const;

/** A droplet lives in its cluster's region, so sizes are those the region offers. */
export function CreateDropletForm({ clusters }: { clusters: Cluster[] }) {
  const catalog = useCatalog();
  const invalidate = useInvalidate();
  const [clusterId, setClusterId] = useState("");
  const [name, setName] = useState("");
  const [size, setSize] = useState("");
  const [image, setImage] = useState("");
  const cluster = clusters.find((c) => c.id === clusterId);
  const sizes = sizesForRegion(catalog.data, cluster?.region);
  const images = catalog.data?.images ?? [];
  const chosenSize = sizes.some((s) => s.slug === size) ? size : (sizes[0]?.slug ?? "");
  const chosenImage = image || images[0]?.slug || "";
  // A new droplet shows in the lists, and in its cluster's droplet count.
  const create = useIdempotentMutation(DropletService.method.createDroplet, {
    onSuccess: () => invalidate(DropletService.method.listDroplets, ClusterService),
  });
  const error = uiError(create.error);

  function submit(e: FormEvent) {
    e.preventDefault();
    create.mutate(
      { clusterId, name: name.trim(), size: chosenSize, image: chosenImage },
      { onSuccess: () => setName("") },
    );
  }

  return (
    <form className="card form" onSubmit={submit} data-testid="create-droplet-form">
      <h2>New droplet</h2>
      <ErrorBanner error={error ?? uiError(catalog.error)} shownFields={FIELDS} />
      <div className="form__row">
        <Field label="Cluster" name="cluster_id" error={fieldError(error, "cluster_id")}>
          <select value={clusterId} onChange={(e) => setClusterId(e.target.value)} data-testid="droplet-cluster">
            <option value="">Choose a cluster</option>
            {clusters.map((c) => (
              <option key={c.id} value={c.id}>
                {c.name}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Name" name="name" error={fieldError(error, "name")}>
          <input value={name} onChange={(e) => setName(e.target.value)} placeholder="web-1" data-testid="droplet-name" />
        </Field>
      </div>
      <div className="form__row">
        <Field label="Region" name="region" hint="the cluster's region">
          <input value={cluster?.region ?? ""} readOnly data-testid="droplet-region" />
        </Field>
        <Field label="Size" name="size" error={fieldError(error, "size")}>
          <SizeSelect options={sizes} value={chosenSize} onChange={setSize} testid="droplet-size" />
        </Field>
        <Field label="Image" name="image" error={fieldError(error, "image")}>
          <ImageSelect options={images} value={chosenImage} onChange={setImage} testid="droplet-image" />
        </Field>
      </div>
      <button type="submit" className="primary" disabled={create.isPending} data-testid="droplet-submit">
        {create.isPending ? "Creating…" : "Create droplet"}
      </button>
    </form>
  );
}
