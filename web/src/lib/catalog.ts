// What the simulated cloud offers (regions, sizes, images): every create form
// needs it and it rarely changes, so it is cached for an hour.
import { useQuery } from "@connectrpc/connect-query";
import type { ConnectError } from "@connectrpc/connect";
import { CatalogService, type Image, type Region, type Size } from "../gen/clustergenie/provisioning/v1/provisioning_pb";

export interface Catalog {
  regions: Region[];
  sizes: Size[];
  images: Image[];
}

const CATALOG_STALE_MS = 60 * 60 * 1000;

export function useCatalog(): { data: Catalog | undefined; error: ConnectError | null; isPending: boolean } {
  const opts = { staleTime: CATALOG_STALE_MS };
  const regions = useQuery(CatalogService.method.listRegions, {}, opts);
  const sizes = useQuery(CatalogService.method.listSizes, {}, opts);
  const images = useQuery(CatalogService.method.listImages, {}, opts);
  const data =
    regions.data && sizes.data && images.data
      ? { regions: regions.data.regions, sizes: sizes.data.sizes, images: images.data.images }
      : undefined;
  return {
    data,
    error: regions.error ?? sizes.error ?? images.error,
    isPending: regions.isPending || sizes.isPending || images.isPending,
  };
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
