// The cluster / droplet (and other view state) a page shows (monitoring,
// diagnosis), kept in the URL query (`?cluster=…&droplet=…`) so a link
// shares the view.
import { useCallback } from "react";
import { useSearchParams } from "wouter";

export interface Selection {
  cluster: string;
  droplet: string;
  params: URLSearchParams;
  /** Sets (non-empty) or removes (empty / undefined) query parameters, keeping the others. */
  set: (patch: Record<string, string | undefined>, opts?: { replace?: boolean }) => void;
}

export function useSelection(): Selection {
  const [params, setParams] = useSearchParams();
  const set = useCallback(
    (patch: Record<string, string | undefined>, opts?: { replace?: boolean }) =>
      setParams((prev) => {
        const next = new URLSearchParams(prev);
        for (const [k, v] of Object.entries(patch)) {
          if (v) next.set(k, v);
          else next.delete(k);
        }
        return next;
      }, opts),
    [setParams],
  );
  return { cluster: params.get("cluster") ?? "", droplet: params.get("droplet") ?? "", params, set };
}

/** `?cluster=…&droplet=…` for links between the monitoring pages. */
export function selectionQuery(s: { cluster: string; droplet: string }): string {
  const q = new URLSearchParams();
  if (s.cluster) q.set("cluster", s.cluster);
  if (s.droplet) q.set("droplet", s.droplet);
  const str = q.toString();
  return str ? `?${str}` : "";
}
