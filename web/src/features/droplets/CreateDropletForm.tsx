import { useState, type FormEvent } from "react";
import { DropletService, type Cluster, type Droplet } from "../../gen/clustergenie/provisioning/v1/provisioning_pb";
import { sizesForRegion, useCatalog } from "../../lib/catalog";
import { useClient } from "../../lib/context";
import { fieldError } from "../../lib/errors";
import { useMutation } from "../../lib/hooks";
import { ErrorBanner } from "../../components/ErrorBanner";
import { Field } from "../../components/Field";
import { ImageSelect, SizeSelect } from "../../components/Pickers";

const FIELDS = ["cluster_id", "name", "size", "image"] as const;

/** A droplet lives in its cluster's region, so sizes are those the region offers. */
export function CreateDropletForm({ clusters, onCreated }: { clusters: Cluster[]; onCreated: (d: Droplet) => void }) {
  const client = useClient(DropletService);
  const catalog = useCatalog();
  const [clusterId, setClusterId] = useState("");
  const [name, setName] = useState("");
  const [size, setSize] = useState("");
  const [image, setImage] = useState("");
  const cluster = clusters.find((c) => c.id === clusterId);
  const sizes = sizesForRegion(catalog.data, cluster?.region);
  const images = catalog.data?.images ?? [];
  const chosenSize = sizes.some((s) => s.slug === size) ? size : (sizes[0]?.slug ?? "");
  const chosenImage = image || images[0]?.slug || "";
  const create = useMutation((_: void, requestId: string) =>
    client.createDroplet({ clusterId, name: name.trim(), size: chosenSize, image: chosenImage, requestId }),
  );

  async function submit(e: FormEvent) {
    e.preventDefault();
    const res = await create.run();
    if (res?.droplet) {
      setName("");
      onCreated(res.droplet);
    }
  }

  return (
    <form className="card form" onSubmit={submit} data-testid="create-droplet-form">
      <h2>New droplet</h2>
      <ErrorBanner error={create.error ?? catalog.error} shownFields={FIELDS} />
      <div className="form__row">
        <Field label="Cluster" name="cluster_id" error={fieldError(create.error, "cluster_id")}>
          <select value={clusterId} onChange={(e) => setClusterId(e.target.value)} data-testid="droplet-cluster">
            <option value="">Choose a cluster</option>
            {clusters.map((c) => (
              <option key={c.id} value={c.id}>
                {c.name}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Name" name="name" error={fieldError(create.error, "name")}>
          <input value={name} onChange={(e) => setName(e.target.value)} placeholder="web-1" data-testid="droplet-name" />
        </Field>
      </div>
      <div className="form__row">
        <Field label="Region" name="region" hint="the cluster's region">
          <input value={cluster?.region ?? ""} readOnly data-testid="droplet-region" />
        </Field>
        <Field label="Size" name="size" error={fieldError(create.error, "size")}>
          <SizeSelect options={sizes} value={chosenSize} onChange={setSize} testid="droplet-size" />
        </Field>
        <Field label="Image" name="image" error={fieldError(create.error, "image")}>
          <ImageSelect options={images} value={chosenImage} onChange={setImage} testid="droplet-image" />
        </Field>
      </div>
      <button type="submit" className="primary" disabled={create.pending} data-testid="droplet-submit">
        {create.pending ? "Creating…" : "Create droplet"}
      </button>
    </form>
  );
}
