// What the simulated cloud offers (regions, sizes, images), fetched once per
// transport: every create form needs it and it rarely changes.
import { createClient, type Transport } from "@connectrpc/connect";
import {
  CatalogService,
  type Image,
  type Region,
  type Size,
} from "../gen/clustergenie/provisioning/v1/provisioning_pb";
import { useTransport } from "./context";
import { useRpc, type RpcState } from "./hooks";

export interface Catalog {
  regions: Region[];
  sizes: Size[];
  images: Image[];
}

const cache = new WeakMap<Transport, Promise<Catalog>>();

export function loadCatalog(transport: Transport): Promise<Catalog> {
  let p = cache.get(transport);
  if (!p) {
    const c = createClient(CatalogService, transport);
    p = Promise.all([c.listRegions({}), c.listSizes({}), c.listImages({})]).then(([r, s, i]) => ({
      regions: r.regions,
      sizes: s.sizes,
      images: i.images,
    }));
    p.catch(() => cache.delete(transport));
    cache.set(transport, p);
  }
  return p;
}

export function useCatalog(): RpcState<Catalog> {
  const transport = useTransport();
  return useRpc(() => loadCatalog(transport), [transport]);
}

/** Sizes offered in a region (from Region.sizes, else Size.regions); all sizes without a region. */
export function sizesForRegion(catalog: Catalog | undefined, region: string | undefined): Size[] {
  if (!catalog) return [];
  if (!region) return catalog.sizes;
  const r = catalog.regions.find((x) => x.slug === region);
  if (r && r.sizes.length > 0) return catalog.sizes.filter((s) => r.sizes.includes(s.slug));
  const byRegions = catalog.sizes.filter((s) => s.regions.length === 0 || s.regions.includes(region));
  return byRegions;
}

export function sizeLabel(s: Size): string {
  const mem = s.memoryMb >= 1024 ? `${s.memoryMb / 1024} GB` : `${s.memoryMb} MB`;
  return `${s.slug} — ${s.vcpus} vCPU, ${mem}, $${(Number(s.priceMonthlyCents) / 100).toFixed(2)}/mo`;
}
