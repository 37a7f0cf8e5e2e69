// The clusters and droplets the pickers offer (monitoring, diagnosis).
import { skipToken, useQuery } from "@connectrpc/connect-query";
import { useEffect } from "react";
import { ClusterService, DropletService } from "../gen/clustergenie/provisioning/v1/provisioning_pb";
import { HEALTH_POLL_MS } from "./format";
import type { Selection } from "./selection";

/** Every cluster, polled: the section header shows the selected one's health. */
export function useClusters() {
  return useQuery(ClusterService.method.listClusters, { pageSize: 1000 }, { refetchInterval: HEALTH_POLL_MS });
}

export function useDroplets(clusterId: string) {
  return useQuery(DropletService.method.listDroplets, clusterId ? { clusterId, pageSize: 1000 } : skipToken);
}

/** Pages that need a cluster pick the first one when the URL names none (replacing the history entry). */
export function useDefaultCluster(sel: Selection): void {
  const clusters = useClusters();
  const first = clusters.data?.clusters[0]?.id;
  const { cluster, set } = sel;
  useEffect(() => {
    if (!cluster && first) set({ cluster: first, droplet: undefined }, { replace: true });
  }, [cluster, first, set]);
}
