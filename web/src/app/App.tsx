import type { Transport } from "@connectrpc/connect";
import { lazy, Suspense, type ReactNode } from "react";
import { Link, Route, Router, Switch, useRoute, type BaseLocationHook } from "wouter";
import { Role, roleLabel, type AuthStore } from "../lib/auth";
import { AppProvider, useAuth, useAuthStore } from "../lib/context";
import type { QuotaStore } from "../lib/ratelimit";
import { QuotaIndicator } from "../components/QuotaIndicator";
import { SignInPage } from "../features/auth/SignInPage";
import { OverviewPage } from "../features/overview/OverviewPage";
import { ClustersPage } from "../features/clusters/ClustersPage";
import { ClusterDetailPage } from "../features/clusters/ClusterDetailPage";
import { DropletsPage } from "../features/droplets/DropletsPage";
import { DropletDetailPage } from "../features/droplets/DropletDetailPage";
import { JobsPage } from "../features/jobs/JobsPage";
import { JobDetailPage } from "../features/jobs/JobDetailPage";
import { TokensPage } from "../features/admin/TokensPage";
import { RateLimitsPage } from "../features/admin/RateLimitsPage";

// Monitoring (and its chart library) loads on first visit.
const MonitoringSection = lazy(() =>
  import("../features/monitoring/MonitoringSection").then((m) => ({ default: m.MonitoringSection })),
);
// So do autoscaling and diagnosis.
const AutoscalingSection = lazy(() =>
  import("../features/autoscaling/AutoscalingSection").then((m) => ({ default: m.AutoscalingSection })),
);
const DiagnosisSection = lazy(() =>
  import("../features/diagnosis/DiagnosisSection").then((m) => ({ default: m.DiagnosisSection })),
);
const SystemPage = lazy(() => import("../features/system/SystemPage").then((m) => ({ default: m.SystemPage })));

export interface AppProps {
  transport: Transport;
  auth: AuthStore;
  quota: QuotaStore;
  /** Routing; the browser's real paths by default (the gateway answers unknown paths with the app). Tests pass memoryLocation. */
  location?: BaseLocationHook;
}

export function App({ transport, auth, quota, location }: AppProps) {
  return (
    <AppProvider transport={transport} auth={auth} quota={quota}>
      <Router {...(location ? { hook: location } : {})}>
        <Shell />
      </Router>
    </AppProvider>
  );
}

function Shell() {
  const { session } = useAuth();
  if (!session) return <SignInPage />;
  return (
    <Layout>
      <Switch>
        <Route path="/" component={OverviewPage} />
        <Route path="/clusters" component={ClustersPage} />
        <Route path="/clusters/:id">{(p) => <ClusterDetailPage key={p.id} id={p.id} />}</Route>
        <Route path="/droplets" component={DropletsPage} />
        <Route path="/droplets/:id">{(p) => <DropletDetailPage key={p.id} id={p.id} />}</Route>
        <Route path="/jobs" component={JobsPage} />
        <Route path="/jobs/:id">{(p) => <JobDetailPage key={p.id} id={p.id} />}</Route>
        <Route path="/monitoring/*?">
          <Suspense fallback={<p className="muted">Loading…</p>}>
            <MonitoringSection />
          </Suspense>
        </Route>
        <Route path="/diagnosis">
          <Suspense fallback={<p className="muted">Loading…</p>}>
            <DiagnosisSection />
          </Suspense>
        </Route>
        <Route path="/autoscaling">
          <Suspense fallback={<p className="muted">Loading…</p>}>
            <AutoscalingSection />
          </Suspense>
        </Route>
        <Route path="/system">
          <Suspense fallback={<p className="muted">Loading…</p>}>
            <SystemPage />
          </Suspense>
        </Route>
        <Route path="/admin/tokens">
          <AdminOnly>
            <TokensPage />
          </AdminOnly>
        </Route>
        <Route path="/admin/rate-limits">
          <AdminOnly>
            <RateLimitsPage />
          </AdminOnly>
        </Route>
        <Route component={NotFoundPage} />
      </Switch>
    </Layout>
  );
}

function NotFoundPage() {
  return (
    <section>
      <h1>Page not found</h1>
      <p className="muted" data-testid="not-found">
        Nothing lives at this address. <Link href="/">Go to the overview</Link>.
      </p>
    </section>
  );
}

function AdminOnly({ children }: { children: ReactNode }) {
  const { can } = useAuth();
  return can(Role.ADMIN) ? <>{children}</> : <div className="banner banner--warn">This page is for admins.</div>;
}

function NavLink({ href, children, testid }: { href: string; children: ReactNode; testid: string }) {
  const [exact] = useRoute(href);
  const [nested] = useRoute(`${href}/*`);
  const active = exact || (href !== "/" && nested);
  return (
    <Link href={href} className={`nav__link${active ? " nav__link--active" : ""}`} data-testid={testid}>
      {children}
    </Link>
  );
}

function Layout({ children }: { children: ReactNode }) {
  const { session, can } = useAuth();
  const auth = useAuthStore();
  return (
    <div className="app">
      <header className="header">
        <Link href="/" className="brand">
          ClusterGenie
        </Link>
        <QuotaIndicator />
        <span className="whoami" data-testid="whoami" data-role={session ? roleLabel(session.role) : ""}>
          {session?.name || "signed in"} · <b>{session ? roleLabel(session.role) : ""}</b>
        </span>
        <button type="button" className="link" onClick={() => auth.signOut()} data-testid="signout">
          Sign out
        </button>
      </header>
      <div className="body">
        <nav className="nav" aria-label="Main">
          <NavLink href="/" testid="nav-overview">Overview</NavLink>
          <NavLink href="/clusters" testid="nav-clusters">Clusters</NavLink>
          <NavLink href="/droplets" testid="nav-droplets">Droplets</NavLink>
          <NavLink href="/jobs" testid="nav-jobs">Jobs</NavLink>
          <NavLink href="/monitoring" testid="nav-monitoring">Monitoring</NavLink>
          <NavLink href="/autoscaling" testid="nav-autoscaling">Autoscaling</NavLink>
          <NavLink href="/diagnosis" testid="nav-diagnosis">Diagnosis</NavLink>
          <NavLink href="/system" testid="nav-system">System</NavLink>
          {can(Role.ADMIN) && (
            <>
              <div className="nav__group">Admin</div>
              <NavLink href="/admin/tokens" testid="nav-tokens">Tokens</NavLink>
              <NavLink href="/admin/rate-limits" testid="nav-rate-limits">Rate limits</NavLink>
            </>
          )}
        </nav>
        <main className="main">
          {children}
        </main>
      </div>
    </div>
  );
}
