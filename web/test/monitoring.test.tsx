// The monitoring pages on the whole app: metrics (charts, live stream,
// ranges, raw rows, faults), health checks, activity, alerts and roles.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { configure, render, screen, waitFor, within } from "@testing-library/react";
import { beforeAll, describe, expect, it } from "vitest";
import {
  ActivitySeverity,
  AlertComparison,
  AlertState,
  HealthCheckKind,
  HealthState,
  MetricKind,
  WatchMetricsResponseSchema,
} from "../src/gen/clustergenie/monitoring/v1/monitoring_pb";
import { ClusterHealth, FaultKind, FaultSchema } from "../src/gen/clustergenie/provisioning/v1/provisioning_pb";
import { HealthBadge } from "../src/components/HealthBadge";
import { SESSIONS } from "./harness";
import { cursorOf, entry, monitoringFake, openMonitoring as open, ts } from "./monitoring-fixtures";

// The monitoring section is loaded lazily; its first import can take a moment.
beforeAll(() => configure({ asyncUtilTimeout: 4000 }));

const chart = (slug: string) => screen.getAllByTestId("metric-chart").find((c) => c.dataset.metric === slug)!;
const latest = (slug: string) => within(chart(slug)).getByTestId("metric-latest");
const secs = (t: { seconds: bigint } | undefined) => Number(t?.seconds ?? 0n);

describe("monitoring: metrics", () => {
  it("charts each metric's summary from QueryMetrics and folds WatchMetrics samples in live", async () => {
    const { fake } = open("/monitoring?cluster=c1");
    await waitFor(() => expect(screen.getAllByTestId("metric-chart")).toHaveLength(6));
    expect(screen.getAllByTestId("metric-chart").map((c) => c.dataset.metric)).toEqual([
      "cpu",
      "memory",
      "disk",
      "network_in",
      "network_out",
      "load_1m",
    ]);
    expect(latest("cpu")).toHaveTextContent("55.0 %");
    expect(within(chart("cpu")).getByTestId("metric-min")).toHaveTextContent("40.0 %");
    expect(within(chart("cpu")).getByTestId("metric-max")).toHaveTextContent("70.0 %");
    expect(latest("network_in")).toHaveTextContent("8.0 Mbps");
    expect(latest("load_1m")).toHaveTextContent("0.75");
    // The cluster view asks for the cluster average, one hour in 15 s buckets.
    const q = fake.calls.queryMetrics.find((r) => r.step)!;
    expect(q).toMatchObject({ clusterId: "c1", dropletId: "", clusterAverage: true });
    expect(secs(q.step)).toBe(15);
    // One step short of the hour, so a 7-day range stays inside the 7-day retention.
    expect(secs(q.endTime) - secs(q.startTime)).toBe(3600 - 15);

    // Live: one batch with both droplets' CPU; the cluster view averages them.
    await waitFor(() => expect(fake.metricStreams).toHaveLength(1));
    expect(fake.calls.watchMetrics[0]).toMatchObject({ clusterId: "c1", dropletId: "" });
    const at = ts(Date.now() + 2000);
    fake.metricStreams[0]!.push(
      create(WatchMetricsResponseSchema, {
        series: [
          { dropletId: "d1", metric: MetricKind.CPU_PERCENT, points: [{ time: at, value: 90 }] },
          { dropletId: "d2", metric: MetricKind.CPU_PERCENT, points: [{ time: at, value: 100 }] },
        ],
      }),
    );
    await waitFor(() => expect(latest("cpu")).toHaveTextContent("95.0 %"));
    expect(within(chart("cpu")).getByTestId("metric-max")).toHaveTextContent("95.0 %");
    expect(latest("memory")).toHaveTextContent("63.0 %");
    expect(screen.getByTestId("metrics-live")).toHaveAttribute("data-status", "open");

    // The stream drops: it is reopened, and the range queried again to fill the gap.
    const queries = fake.calls.queryMetrics.filter((r) => r.step).length;
    fake.metricStreams[0]!.fail(new ConnectError("reset", Code.Unavailable));
    await waitFor(() => expect(fake.metricStreams).toHaveLength(2));
    await waitFor(() => expect(fake.calls.queryMetrics.filter((r) => r.step).length).toBeGreaterThan(queries));
  });

  it("the range picker changes the queried range and step, and keeps it in the URL", async () => {
    const { fake, user, location } = open("/monitoring?cluster=c1");
    await waitFor(() => expect(screen.getAllByTestId("metric-chart")).toHaveLength(6));
    expect(screen.getByTestId("range-1h")).toHaveAttribute("aria-pressed", "true");

    for (const [id, range, step] of [
      ["6h", 6 * 3600, 90],
      ["24h", 86_400, 300],
      ["7d", 7 * 86_400, 3600],
    ] as const) {
      await user.click(screen.getByTestId(`range-${id}`));
      await waitFor(() => expect(secs(fake.calls.queryMetrics.filter((r) => r.step).at(-1)!.step)).toBe(step));
      const q = fake.calls.queryMetrics.filter((r) => r.step).at(-1)!;
      expect(secs(q.endTime) - secs(q.startTime)).toBe(range - step);
      expect(screen.getByTestId(`range-${id}`)).toHaveAttribute("aria-pressed", "true");
      expect(location.history!.at(-1)).toContain(`range=${id}`);
      // What was asked for comes back as at most a few hundred points per chart.
      expect((secs(q.endTime) - secs(q.startTime)) / secs(q.step)).toBeLessThanOrEqual(300);
    }
    await waitFor(() => expect(latest("cpu")).toHaveTextContent("55.0 %"));
  });

  it("a droplet view queries that droplet, pages the raw samples, and lets an operator inject and clear a fault", async () => {
    const { fake, user } = open("/monitoring?cluster=c1&droplet=d1");
    await waitFor(() => expect(screen.getAllByTestId("metric-chart")).toHaveLength(6));
    expect(fake.calls.queryMetrics.find((r) => r.step)).toMatchObject({ dropletId: "d1", clusterAverage: false });
    await waitFor(() => expect(fake.calls.watchMetrics[0]).toMatchObject({ clusterId: "c1", dropletId: "d1" }));

    // Raw samples: no step, two series a page, newest sample first.
    const rows = () => screen.getAllByTestId("raw-row");
    await waitFor(() => expect(rows()).toHaveLength(4));
    const raw = fake.calls.queryMetrics.filter((r) => !r.step);
    expect(raw[0]).toMatchObject({ clusterId: "c1", dropletId: "d1", pageToken: "" });
    expect(rows().map((r) => r.dataset.metric)).toEqual(["cpu", "cpu", "memory", "memory"]);
    expect(rows()[0]).toHaveTextContent("12.0 %");
    expect(rows()[1]).toHaveTextContent("11.0 %");
    await user.click(screen.getByTestId("raw-pager-next"));
    await waitFor(() => expect(rows().map((r) => r.dataset.metric)).toEqual(["disk", "disk", "network_in", "network_in"]));
    expect(fake.calls.queryMetrics.filter((r) => !r.step).at(-1)!.pageToken).toBe("2");
    await user.click(screen.getByTestId("raw-pager-prev"));
    await waitFor(() => expect(rows()[0]!.dataset.metric).toBe("cpu"));
    // The metric filter goes to the server and starts from the first page.
    await user.selectOptions(screen.getByTestId("raw-metric"), String(MetricKind.LOAD_1M));
    await waitFor(() => expect(rows().map((r) => r.dataset.metric)).toEqual(["load_1m", "load_1m"]));
    expect(fake.calls.queryMetrics.filter((r) => !r.step).at(-1)).toMatchObject({ metrics: [MetricKind.LOAD_1M], pageToken: "" });
    expect(screen.getByTestId("raw-pager-next")).toBeDisabled();

    // Faults.
    expect(await screen.findByTestId("faults-empty")).toBeInTheDocument();
    await user.selectOptions(screen.getByTestId("fault-kind"), String(FaultKind.CRASH));
    await user.clear(screen.getByTestId("fault-duration"));
    await user.type(screen.getByTestId("fault-duration"), "2");
    await user.click(screen.getByTestId("fault-inject"));
    const row = await screen.findByTestId("fault-row");
    expect(row).toHaveTextContent("crash");
    const faultId = row.dataset.faultId;
    expect(fake.calls.injectFault[0]).toMatchObject({ dropletId: "d1", kind: FaultKind.CRASH });
    expect(secs(fake.calls.injectFault[0]!.duration)).toBe(120);
    expect(fake.calls.injectFault[0]!.requestId).toMatch(/^[0-9a-f-]{36}$/);
    await user.click(within(row).getByTestId("fault-clear"));
    await waitFor(() => expect(screen.queryByTestId("fault-row")).not.toBeInTheDocument());
    expect(fake.calls.clearFault).toEqual([faultId]);
  });
});

describe("monitoring: health checks", () => {
  it("shows a server field violation next to its field, then creates the check once fixed", async () => {
    const { fake, user } = open("/monitoring/checks?cluster=c1");
    expect(await screen.findByTestId("checks-empty")).toBeInTheDocument();
    await user.type(screen.getByTestId("check-name"), "web-http");
    await user.type(screen.getByTestId("check-path"), "/healthz");
    await user.type(screen.getByTestId("check-interval"), "1");
    await user.click(screen.getByTestId("check-submit"));

    expect(await screen.findByTestId("field-error-interval")).toHaveTextContent("must be between 5s and 5m");
    expect(screen.queryByTestId("field-error-name")).not.toBeInTheDocument();
    expect(screen.queryByTestId("check-row")).not.toBeInTheDocument();

    await user.clear(screen.getByTestId("check-interval"));
    await user.type(screen.getByTestId("check-interval"), "15");
    await user.click(screen.getByTestId("check-submit"));
    const row = await screen.findByTestId("check-row");
    expect(row).toHaveAttribute("data-check-name", "web-http");
    expect(row).toHaveAttribute("data-state", "unknown");
    expect(row).toHaveTextContent("HTTP :80/healthz");
    expect(screen.queryByTestId("field-error-interval")).not.toBeInTheDocument();
    expect(fake.calls.createHealthCheck).toHaveLength(2);
    expect(fake.calls.createHealthCheck[1]).toMatchObject({
      clusterId: "c1",
      name: "web-http",
      kind: HealthCheckKind.HTTP,
      path: "/healthz",
    });
    expect(secs(fake.calls.createHealthCheck[1]!.interval)).toBe(15);
    // A rejected request is not the same request: a new idempotency key.
    expect(fake.calls.createHealthCheck[1]!.requestId).not.toBe(fake.calls.createHealthCheck[0]!.requestId);
    // The form is cleared for the next one.
    expect(screen.getByTestId("check-name")).toHaveValue("");
  });

  it("shows each droplet's state and the results history, edits only the changed fields, and deletes", async () => {
    const fake = monitoringFake();
    fake.addCheck({
      id: "hc-api",
      name: "api",
      kind: HealthCheckKind.TCP,
      port: 8080,
      droplets: [
        { dropletId: "d1", state: HealthState.HEALTHY },
        { dropletId: "d2", state: HealthState.UNHEALTHY, lastMessage: "connection refused" },
      ],
    });
    fake.addCheck({ id: "hc-ping", name: "ping", kind: HealthCheckKind.PING, droplets: [{ dropletId: "d1", state: HealthState.HEALTHY }] });
    fake.addResult({ checkId: "hc-api", dropletId: "d2", healthy: false, message: "connection refused", latency: { nanos: 4_000_000 } });
    fake.addResult({ checkId: "hc-api", dropletId: "d1", healthy: true, latency: { nanos: 2_000_000 } });
    const { user } = open("/monitoring/checks?cluster=c1", SESSIONS.operator, fake);

    await waitFor(() => expect(screen.getAllByTestId("check-row")).toHaveLength(2));
    const [api, ping] = screen.getAllByTestId("check-row");
    expect(api).toHaveAttribute("data-state", "unhealthy");
    expect(ping).toHaveAttribute("data-state", "healthy");
    await waitFor(() => expect(within(api!).getAllByTestId("check-droplet")[0]).toHaveTextContent("web-1: healthy"));
    expect(within(api!).getAllByTestId("check-droplet").map((d) => d.dataset.state)).toEqual(["healthy", "unhealthy"]);

    await user.click(within(api!).getByTestId("check-history"));
    const results = await screen.findAllByTestId("health-result-row");
    expect(results.map((r) => r.dataset.healthy)).toEqual(["false", "true"]);
    expect(results[0]).toHaveTextContent("connection refused");
    expect(results[0]).toHaveTextContent("4 ms");
    expect(fake.calls.listHealthResults).toContain("hc-api");

    await user.click(within(api!).getByTestId("check-edit"));
    expect(screen.getByTestId("check-kind")).toBeDisabled();
    expect(screen.getByTestId("check-port")).toHaveValue(8080);
    await user.clear(screen.getByTestId("check-interval"));
    await user.type(screen.getByTestId("check-interval"), "30");
    await user.click(screen.getByTestId("check-submit"));
    await waitFor(() => expect(fake.calls.updateHealthCheck).toHaveLength(1));
    expect(fake.calls.updateHealthCheck[0]!.updateMask?.paths).toEqual(["interval"]);
    expect(fake.calls.updateHealthCheck[0]!.healthCheck).toMatchObject({ id: "hc-api" });
    await waitFor(() => expect(screen.getAllByTestId("check-row")[0]).toHaveTextContent("30 s"));
    expect(screen.queryByTestId("check-edit-form")).not.toBeInTheDocument();

    await user.click(within(screen.getAllByTestId("check-row")[1]!).getByTestId("check-delete"));
    await user.click(screen.getByTestId("check-delete-confirm"));
    await waitFor(() => expect(screen.getAllByTestId("check-row")).toHaveLength(1));
    expect(fake.calls.deleteHealthCheck).toEqual(["hc-ping"]);
    expect(screen.getByTestId("check-row")).toHaveAttribute("data-check-name", "api");
  });
});

describe("monitoring: activity", () => {
  it("lists the newest page, streams from its cursor, and after a failure resumes from the last cursor without duplicates", async () => {
    const fake = monitoringFake();
    for (const n of [1, 2, 3]) fake.activity.push(entry(n));
    open("/monitoring/activity", SESSIONS.operator, fake);

    const ids = () => screen.getAllByTestId("activity-row").map((r) => r.dataset.id);
    await waitFor(() => expect(ids()).toEqual(["e3", "e2", "e1"]));
    await waitFor(() => expect(fake.activityStreams).toHaveLength(1));
    expect(fake.calls.streamActivity[0]).toMatchObject({ since: cursorOf(3), clusterId: "" });

    fake.appendActivity(entry(4, { kind: "job.failed", severity: ActivitySeverity.ERROR, message: "scale failed" }));
    await waitFor(() => expect(ids()).toEqual(["e4", "e3", "e2", "e1"]));
    expect(screen.getAllByTestId("activity-row")[0]).toHaveAttribute("data-kind", "job.failed");
    expect(screen.getAllByTestId("activity-row")[0]).toHaveTextContent("scale failed");

    // The stream fails; meanwhile e5 is stored. The reopened stream asks from e4's cursor,
    // gets e5 replayed, and a redelivered e4 is shown once.
    fake.activityStreams[0]!.fail(new ConnectError("upstream reset", Code.Unavailable));
    fake.activity.push(entry(5, { kind: "droplet.destroyed" }));
    await waitFor(() => expect(fake.activityStreams).toHaveLength(2));
    expect(fake.calls.streamActivity[1]!.since).toBe(cursorOf(4));
    await waitFor(() => expect(ids()).toEqual(["e5", "e4", "e3", "e2", "e1"]));
    fake.activityStreams[1]!.push({ entry: entry(4) } as never);
    fake.appendActivity(entry(6));
    await waitFor(() => expect(ids()).toEqual(["e6", "e5", "e4", "e3", "e2", "e1"]));
    expect(screen.getByTestId("activity-live")).toHaveAttribute("data-status", "open");
    // One list call: the stream, not a reload, brought the new entries.
    expect(fake.calls.listActivity).toHaveLength(1);
  });

  it("filters on the server for the list and on the client for live entries", async () => {
    const fake = monitoringFake();
    fake.activity.push(entry(1, { source: "jobs", kind: "job.succeeded", message: "Scale done" }));
    fake.activity.push(entry(2, { source: "provisioning", kind: "droplet.created" }));
    const { user } = open("/monitoring/activity?cluster=c1", SESSIONS.operator, fake);
    await waitFor(() => expect(screen.getAllByTestId("activity-row")).toHaveLength(2));

    await user.selectOptions(screen.getByTestId("activity-source"), "jobs");
    await user.type(screen.getByTestId("activity-kind"), "job.");
    await waitFor(() => expect(fake.calls.listActivity.at(-1)).toMatchObject({ clusterId: "c1", source: "jobs", kind: "job." }));
    await waitFor(() => expect(screen.getAllByTestId("activity-row").map((r) => r.dataset.id)).toEqual(["e1"]));
    await waitFor(() => expect(fake.activityStreams.filter((s) => s.open)).toHaveLength(1));
    // The stream filters by cluster and severity only: it starts from the newest entry
    // those allow (e2, from a one-entry list without the other filters), not from the
    // filtered list's newest (e1), which would replay everything stored since.
    expect(fake.calls.listActivity.find((r) => r.pageSize === 1)).toMatchObject({ clusterId: "c1", source: "", kind: "", text: "" });
    expect(fake.calls.streamActivity.at(-1)).toMatchObject({ clusterId: "c1", since: cursorOf(2) });

    fake.appendActivity(entry(3, { source: "provisioning", kind: "droplet.created" }));
    fake.appendActivity(entry(4, { source: "jobs", kind: "job.failed", message: "boom" }));
    await waitFor(() => expect(screen.getAllByTestId("activity-row").map((r) => r.dataset.id)).toEqual(["e4", "e1"]));
  });
});

describe("monitoring: alerts", () => {
  it("lists alerts with their state and creates a rule after fixing a rejected threshold", async () => {
    const fake = monitoringFake();
    fake.addAlert({ ruleId: "r0", ruleName: "cpu-hot", dropletId: "d1", state: AlertState.FIRING, value: 97, fireTime: ts(Date.now() - 30_000) });
    fake.addAlert({ ruleId: "r0", ruleName: "cpu-hot", dropletId: "d2", state: AlertState.PENDING, value: 91 });
    fake.addAlert({ ruleId: "r0", ruleName: "cpu-hot", dropletId: "d2", state: AlertState.RESOLVED, value: 40, resolveTime: ts(Date.now()) });
    const { user } = open("/monitoring/alerts?cluster=c1", SESSIONS.operator, fake);

    await waitFor(() => expect(screen.getAllByTestId("alert-row")).toHaveLength(3));
    expect(screen.getAllByTestId("alert-row").map((r) => r.dataset.state)).toEqual(["firing", "pending", "resolved"]);
    expect(screen.getAllByTestId("alert-row")[0]).toHaveTextContent("web-1");
    await user.selectOptions(screen.getByTestId("alert-state-filter"), String(AlertState.FIRING));
    await waitFor(() => expect(screen.getAllByTestId("alert-row")).toHaveLength(1));

    expect(screen.getByTestId("rules-empty")).toBeInTheDocument();
    await user.type(screen.getByTestId("rule-name"), "cpu-high");
    await user.clear(screen.getByTestId("rule-threshold"));
    await user.type(screen.getByTestId("rule-threshold"), "150");
    await user.clear(screen.getByTestId("rule-for"));
    await user.type(screen.getByTestId("rule-for"), "120");
    await user.selectOptions(screen.getByTestId("rule-severity"), String(ActivitySeverity.ERROR));
    await user.click(screen.getByTestId("rule-submit"));
    expect(await screen.findByTestId("field-error-threshold")).toHaveTextContent("0–100");

    await user.clear(screen.getByTestId("rule-threshold"));
    await user.type(screen.getByTestId("rule-threshold"), "95");
    await user.click(screen.getByTestId("rule-submit"));
    const rule = await screen.findByTestId("alert-rule-row");
    expect(rule).toHaveAttribute("data-rule-name", "cpu-high");
    expect(rule).toHaveTextContent("CPU above 95.0 % for 120 s");
    expect(rule).toHaveTextContent("error");
    expect(fake.calls.createAlertRule.at(-1)).toMatchObject({
      clusterId: "c1",
      name: "cpu-high",
      metric: MetricKind.CPU_PERCENT,
      comparison: AlertComparison.ABOVE,
      threshold: 95,
      severity: ActivitySeverity.ERROR,
    });
    expect(secs(fake.calls.createAlertRule.at(-1)!.for)).toBe(120);
    expect(screen.queryByTestId("field-error-threshold")).not.toBeInTheDocument();

    // Deleting the rule also refreshes the alerts it resolved.
    const before = fake.calls.listAlerts;
    await user.click(within(rule).getByTestId("alert-rule-delete"));
    await waitFor(() => expect(screen.queryByTestId("alert-rule-row")).not.toBeInTheDocument());
    expect(fake.calls.deleteAlertRule).toHaveLength(1);
    await waitFor(() => expect(fake.calls.listAlerts).toBeGreaterThan(before));
  });
});

describe("monitoring: navigation and roles", () => {
  it("links Monitoring in the nav, keeps the selection in the URL across tabs, and shows the cluster's health", async () => {
    const { user, location } = open("/monitoring");
    const nav = screen.getByTestId("nav-monitoring");
    expect(nav).not.toHaveTextContent("soon");
    expect(nav).toHaveAttribute("href", "/monitoring");
    // No cluster in the URL: the first one is picked (replacing the entry).
    await waitFor(() => expect(location.history!.at(-1)).toBe("/monitoring?cluster=c1"));
    expect(await screen.findByTestId("cluster-health")).toHaveAttribute("data-health", "degraded");
    await waitFor(() => expect(screen.getAllByTestId("metric-chart")).toHaveLength(6));

    await user.selectOptions(screen.getByTestId("monitoring-droplet"), "d2");
    await waitFor(() => expect(location.history!.at(-1)).toBe("/monitoring?cluster=c1&droplet=d2"));
    expect(await screen.findByTestId("faults-panel")).toBeInTheDocument();
    expect(screen.getByTestId("monitoring-tab-checks")).toHaveAttribute("href", "/monitoring/checks?cluster=c1&droplet=d2");
    await user.click(screen.getByTestId("monitoring-tab-alerts"));
    expect(location.history!.at(-1)).toBe("/monitoring/alerts?cluster=c1&droplet=d2");
    expect(screen.getByTestId("monitoring-tab-alerts")).toHaveAttribute("aria-current", "page");
    expect(await screen.findByTestId("rule-form")).toBeInTheDocument();

    await user.selectOptions(screen.getByTestId("monitoring-cluster"), "c2");
    await waitFor(() => expect(location.history!.at(-1)).toBe("/monitoring/alerts?cluster=c2"));
    await waitFor(() => expect(screen.getByTestId("cluster-health")).toHaveAttribute("data-health", "healthy"));
  });

  it("a viewer sees the data but no mutation controls", async () => {
    const fake = monitoringFake();
    fake.addCheck({ id: "hc1", name: "api", kind: HealthCheckKind.TCP, droplets: [{ dropletId: "d1", state: HealthState.HEALTHY }] });
    const { user } = open("/monitoring/checks?cluster=c1&droplet=d1", SESSIONS.viewer, fake);

    expect(await screen.findByTestId("check-row")).toHaveAttribute("data-state", "healthy");
    expect(screen.getByTestId("read-only-note")).toBeInTheDocument();
    expect(screen.queryByTestId("check-create-form")).not.toBeInTheDocument();
    expect(screen.queryByTestId("check-edit")).not.toBeInTheDocument();
    expect(screen.queryByTestId("check-delete")).not.toBeInTheDocument();
    // History is reading, not changing.
    expect(screen.getByTestId("check-history")).toBeInTheDocument();

    await user.click(screen.getByTestId("monitoring-tab-alerts"));
    await screen.findByTestId("rules-empty");
    expect(screen.queryByTestId("rule-form")).not.toBeInTheDocument();
    expect(screen.getByTestId("read-only-note")).toHaveTextContent("alert rules");

    fake.faults.push(create(FaultSchema, { id: "f9", dropletId: "d1", clusterId: "c1", kind: FaultKind.CPU_SPIKE }));
    await user.click(screen.getByTestId("monitoring-tab-metrics"));
    expect(await screen.findByTestId("fault-row")).toBeInTheDocument();
    expect(screen.queryByTestId("fault-inject")).not.toBeInTheDocument();
    expect(screen.queryByTestId("fault-clear")).not.toBeInTheDocument();
    expect(within(screen.getByTestId("faults-panel")).getByTestId("read-only-note")).toBeInTheDocument();
  });
});

describe("HealthBadge", () => {
  it("shows a cluster's health as a lowercase state", () => {
    const states = [
      [ClusterHealth.HEALTHY, "healthy"],
      [ClusterHealth.DEGRADED, "degraded"],
      [ClusterHealth.UNHEALTHY, "unhealthy"],
      [ClusterHealth.UNKNOWN, "unknown"],
      [ClusterHealth.UNSPECIFIED, "unknown"],
    ] as const;
    for (const [health, state] of states) {
      const { unmount } = render(<HealthBadge health={health} />);
      expect(screen.getByTestId("cluster-health")).toHaveAttribute("data-health", state);
      expect(screen.getByTestId("cluster-health")).toHaveTextContent(state);
      unmount();
    }
  });
});
