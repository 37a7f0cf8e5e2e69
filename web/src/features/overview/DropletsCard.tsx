// The fleet's droplets (archived ones left out, as ListDroplets does) counted by status.
import { Link } from "wouter";
import { DropletStatus } from "../../gen/clustergenie/provisioning/v1/provisioning_pb";
import { HEALTH_POLL_MS, dropletStatusLabel } from "../../lib/format";
import { uiError } from "../../lib/query";
import { dropletTone } from "../../components/dropletTone";
import { ErrorBanner } from "../../components/ErrorBanner";
import { Badge, Loading } from "../../components/ui";
import { useAllDroplets } from "./fleet";

/** The statuses a live droplet has. */
const LIVE_STATUSES = [DropletStatus.NEW, DropletStatus.ACTIVE, DropletStatus.OFF] as const;

export function DropletsCard() {
  const droplets = useAllDroplets(HEALTH_POLL_MS);
  const items = droplets.data?.items ?? [];
  const counts = new Map<DropletStatus, number>();
  for (const d of items) counts.set(d.status, (counts.get(d.status) ?? 0) + 1);
  const more = droplets.data?.truncated ? "+" : "";
  return (
    <section className="card" data-testid="overview-droplets">
      <div className="card__head">
        <h2>
          <Link href="/droplets">Droplets</Link>
        </h2>
        {droplets.data && (
          <span className="muted" data-testid="overview-droplets-total" data-count={items.length}>
            {items.length}
            {more} in total
          </span>
        )}
      </div>
      <ErrorBanner error={uiError(droplets.error)} />
      {droplets.isPending ? (
        <Loading />
      ) : (
        droplets.data && (
          <div className="status-counts">
            {LIVE_STATUSES.map((s) => (
              <div key={s} className="status-count" data-testid={`overview-droplets-${dropletStatusLabel(s)}`} data-count={counts.get(s) ?? 0}>
                <Badge tone={dropletTone(s)}>{dropletStatusLabel(s)}</Badge>
                <span className="status-count__n">{counts.get(s) ?? 0}</span>
              </div>
            ))}
          </div>
        )
      )}
    </section>
  );
}
