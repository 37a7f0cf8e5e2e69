import { useState, type FormEvent } from "react";
import { ClusterService, type Cluster } from "../../gen/clustergenie/provisioning/v1/provisioning_pb";
import { useCatalog } from "../../lib/catalog";
import { fieldError } from "../../lib/errors";
import { uiError, useIdempotentMutation, useInvalidate } from "../../lib/query";
import { ErrorBanner } from "../../components/ErrorBanner";
import { Field } from "../../components/Field";

const FIELDS = ["name", "region", "description", "tags"] as const;

export function CreateClusterForm({ onCreated }: { onCreated: (c: Cluster) => void }) {
  const catalog = useCatalog();
  const invalidate = useInvalidate();
  const [name, setName] = useState("");
  const [region, setRegion] = useState("");
  const [description, setDescription] = useState("");
  const [tags, setTags] = useState("");
  const create = useIdempotentMutation(ClusterService.method.createCluster, {
    onSuccess: () => invalidate(ClusterService.method.listClusters),
  });
  const error = uiError(create.error);
  const regions = catalog.data?.regions ?? [];

  function submit(e: FormEvent) {
    e.preventDefault();
    create.mutate(
      {
        name: name.trim(),
        region,
        description: description.trim(),
        tags: tags.split(",").map((t) => t.trim()).filter(Boolean),
      },
      {
        onSuccess: (res) => {
          if (!res.cluster) return;
          setName("");
          setDescription("");
          setTags("");
          onCreated(res.cluster);
        },
      },
    );
  }

  return (
    <form className="card form" onSubmit={submit} data-testid="create-cluster-form">
      <h2>New cluster</h2>
      <ErrorBanner error={error ?? uiError(catalog.error)} shownFields={FIELDS} />
      <div className="form__row">
        <Field label="Name" name="name" error={fieldError(error, "name")} hint="lowercase letters, digits and '-'">
          <input value={name} onChange={(e) => setName(e.target.value)} data-testid="cluster-name" placeholder="web" />
        </Field>
        <Field label="Region" name="region" error={fieldError(error, "region")}>
          <select value={region} onChange={(e) => setRegion(e.target.value)} data-testid="cluster-region">
            <option value="">{catalog.isPending ? "Loading…" : "Choose a region"}</option>
            {regions.map((r) => (
              <option key={r.slug} value={r.slug} disabled={!r.available}>
                {r.name ? `${r.name} (${r.slug})` : r.slug}
                {r.available ? "" : " — unavailable"}
              </option>
            ))}
          </select>
        </Field>
      </div>
      <Field label="Description" name="description" error={fieldError(error, "description")}>
        <input value={description} onChange={(e) => setDescription(e.target.value)} data-testid="cluster-description" />
      </Field>
      <Field label="Tags" name="tags" error={fieldError(error, "tags")} hint="comma-separated, optional">
        <input value={tags} onChange={(e) => setTags(e.target.value)} data-testid="cluster-tags" />
      </Field>
      <button type="submit" className="primary" disabled={create.isPending} data-testid="cluster-submit">
        {create.isPending ? "Creating…" : "Create cluster"}
      </button>
    </form>
  );
}
