// The whole fleet's clusters and droplets, every page: the overview's cluster
// table and droplet counts poll them; the other sections read the same cached
// queries for names.
import { useMemo } from "react";
import { ClusterService, DropletService } from "../../gen/clustergenie/provisioning/v1/provisioning_pb";
import { shortId } from "../../lib/format";
import { useAllPages } from "./useAllPages";

/** `refetchInterval`: poll (only the section that shows the list does, so the others do not multiply the calls). */
export function useAllClusters(refetchInterval?: number) {
  return useAllPages(
    ClusterService.method.listClusters,
    { pageSize: 1000 },
    (r) => ({ items: r.clusters, next: r.nextPageToken }),
    { refetchInterval },
  );
}

export function useAllDroplets(refetchInterval?: number) {
  return useAllPages(
    DropletService.method.listDroplets,
    { pageSize: 1000 },
    (r) => ({ items: r.droplets, next: r.nextPageToken }),
    { refetchInterval },
  );
}

export interface Names {
  cluster: (id: string) => string;
  droplet: (id: string) => string;
}

/** Names by id, from the lists above; a short id while they load (or when they failed). */
export function useNames(): Names {
  const clusters = useAllClusters().data?.items;
  const droplets = useAllDroplets().data?.items;
  return useMemo(() => {
    const c = new Map(clusters?.map((x) => [x.id, x.name]));
    const d = new Map(droplets?.map((x) => [x.id, x.name]));
    return { cluster: (id) => c.get(id) ?? shortId(id), droplet: (id) => d.get(id) ?? shortId(id) };
  }, [clusters, droplets]);
}
