// The cluster the autoscaling page shows, kept in the URL query (`?cluster=…`)
// so a link shares the view; the first cluster when the URL names none.
import { useCallback, useEffect } from "react";
import { useSearchParams } from "wouter";

export function useClusterParam(first: string | undefined): [string, (id: string) => void] {
  const [params, setParams] = useSearchParams();
  const cluster = params.get("cluster") ?? "";
  const set = useCallback(
    (id: string, replace = false) =>
      setParams(
        (prev) => {
          const next = new URLSearchParams(prev);
          if (id) next.set("cluster", id);
          else next.delete("cluster");
          return next;
        },
        { replace },
      ),
    [setParams],
  );
  useEffect(() => {
    if (!cluster && first) set(first, true);
  }, [cluster, first, set]);
  return [cluster, set];
}
