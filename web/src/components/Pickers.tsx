// Pickers the forms and list filters share: sizes, images, clusters.
import type { Image, Size } from "../gen/clustergenie/provisioning/v1/provisioning_pb";
import { sizeLabel } from "../lib/catalog";

interface Props<T> {
  options: T[];
  value: string;
  onChange: (slug: string) => void;
  testid: string;
}

export function SizeSelect({ options, value, onChange, testid }: Props<Size>) {
  return (
    <select value={value} onChange={(e) => onChange(e.target.value)} data-testid={testid}>
      {options.map((s) => (
        <option key={s.slug} value={s.slug}>
          {sizeLabel(s)}
        </option>
      ))}
    </select>
  );
}

export function ImageSelect({ options, value, onChange, testid }: Props<Image>) {
  return (
    <select value={value} onChange={(e) => onChange(e.target.value)} data-testid={testid}>
      {options.map((i) => (
        <option key={i.slug} value={i.slug}>
          {i.name || i.slug}
        </option>
      ))}
    </select>
  );
}

/** A list filter by cluster ("All" is the empty value). */
export function ClusterFilter({
  clusters,
  value,
  onChange,
  testid,
}: {
  clusters: { id: string; name: string }[];
  value: string;
  onChange: (id: string) => void;
  testid: string;
}) {
  return (
    <label>
      Cluster{" "}
      <select value={value} onChange={(e) => onChange(e.target.value)} data-testid={testid}>
        <option value="">All</option>
        {clusters.map((c) => (
          <option key={c.id} value={c.id}>
            {c.name}
          </option>
        ))}
      </select>
    </label>
  );
}
