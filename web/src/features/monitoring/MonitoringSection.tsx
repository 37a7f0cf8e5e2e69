// /monitoring/*: the cluster / droplet picker (kept in the URL query), the
// tabs, and the page under each.
import type { ReactNode } from "react";
import { Link, Route, Switch, useRoute } from "wouter";
import { FleetPicker } from "../../components/FleetPicker";
import { HealthBadge } from "../../components/HealthBadge";
import { PageHeader } from "../../components/ui";
import { useClusters, useDroplets } from "../../lib/fleet";
import { selectionQuery, useSelection } from "../../lib/selection";
import { ActivityPage } from "./ActivityPage";
import { AlertsPage } from "./AlertsPage";
import { HealthChecksPage } from "./HealthChecksPage";
import { MetricsPage } from "./MetricsPage";

export const MONITORING_TABS = [
  { path: "/monitoring", label: "Metrics", testid: "monitoring-tab-metrics" },
  { path: "/monitoring/checks", label: "Health checks", testid: "monitoring-tab-checks" },
  { path: "/monitoring/activity", label: "Activity", testid: "monitoring-tab-activity" },
  { path: "/monitoring/alerts", label: "Alerts", testid: "monitoring-tab-alerts" },
] as const;

export function MonitoringSection() {
  const sel = useSelection();
  const [onActivity] = useRoute("/monitoring/activity");
  const clusters = useClusters();
  const droplets = useDroplets(sel.cluster);
  const cluster = clusters.data?.clusters.find((c) => c.id === sel.cluster);
  const query = selectionQuery(sel);

  return (
    <>
      <PageHeader title="Monitoring">
        {cluster && (
          <span className="muted">
            {cluster.name} <HealthBadge health={cluster.health} />
          </span>
        )}
      </PageHeader>
      <FleetPicker
        clusters={clusters.data?.clusters ?? []}
        droplets={droplets.data?.droplets ?? []}
        cluster={sel.cluster}
        droplet={sel.droplet}
        onCluster={(id) => sel.set({ cluster: id, droplet: undefined })}
        onDroplet={(id) => sel.set({ droplet: id })}
        // Only the activity log spans the fleet; the other pages need a cluster.
        emptyCluster={onActivity ? "All clusters" : !sel.cluster ? "Choose…" : undefined}
        testid="monitoring"
      />
      <nav className="tabs" aria-label="Monitoring">
        {MONITORING_TABS.map((t) => (
          <Tab key={t.path} href={t.path} query={query} testid={t.testid}>
            {t.label}
          </Tab>
        ))}
      </nav>
      <Switch>
        <Route path="/monitoring" component={MetricsPage} />
        <Route path="/monitoring/checks" component={HealthChecksPage} />
        <Route path="/monitoring/activity" component={ActivityPage} />
        <Route path="/monitoring/alerts" component={AlertsPage} />
        <Route>
          <p className="muted" data-testid="not-found">
            No monitoring page lives here.
          </p>
        </Route>
      </Switch>
    </>
  );
}

function Tab({ href, query, testid, children }: { href: string; query: string; testid: string; children: ReactNode }) {
  const [active] = useRoute(href);
  return (
    <Link
      href={href + query}
      className={`tabs__tab${active ? " tabs__tab--active" : ""}`}
      aria-current={active ? "page" : undefined}
      data-testid={testid}
    >
      {children}
    </Link>
  );
}
