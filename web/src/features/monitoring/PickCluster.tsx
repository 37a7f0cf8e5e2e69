/** What a page that needs a cluster shows until one is picked. */
export function PickCluster() {
  return (
    <p className="card muted" data-testid="monitoring-pick-cluster">
      Pick a cluster above.
    </p>
  );
}
