// The monitoring pages keep up with the fleet: the raw table follows the
// picker, live metrics notice dropped batches, the activity stream recovers
// from an expired cursor without looping, and the health badges, probe
// history and alerts stay current (polled, paged).
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { act, configure, screen, waitFor, within } from "@testing-library/react";
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import {
  AlertState,
  HealthCheckKind,
  HealthState,
  MetricKind,
  WatchMetricsResponseSchema,
} from "../src/gen/clustergenie/monitoring/v1/monitoring_pb";
import { ClusterHealth } from "../src/gen/clustergenie/provisioning/v1/provisioning_pb";
import { ALERTS_PAGE_SIZE } from "../src/features/monitoring/AlertsPage";
import { HEALTH_POLL_MS } from "../src/lib/format";
import { SESSIONS } from "./harness";
import { cursorOf, entry, monitoringFake, openMonitoring, ts } from "./monitoring-fixtures";

// The monitoring section is loaded lazily; its first import can take a moment.
beforeAll(() => configure({ asyncUtilTimeout: 4000 }));

const latest = (slug: string) =>
  within(screen.getAllByTestId("metric-chart").find((c) => c.dataset.metric === slug)!).getByTestId("metric-latest");

describe("monitoring: metrics follow the selection and the stream", () => {
  it("the raw samples follow the droplet and cluster picked above", async () => {
    const { user } = openMonitoring("/monitoring?cluster=c1&droplet=d1");
    const owners = () => [...new Set(screen.getAllByTestId("raw-row").map((r) => r.dataset.dropletId))];
    await waitFor(() => expect(owners()).toEqual(["d1"]));

    await user.selectOptions(screen.getByTestId("monitoring-droplet"), "d2");
    await waitFor(() => expect(owners()).toEqual(["d2"]));
    expect(screen.getByTestId("raw-droplet")).toHaveValue("d2");

    await user.selectOptions(screen.getByTestId("monitoring-droplet"), "");
    await waitFor(() => expect(screen.getByTestId("raw-droplet")).toHaveValue(""));

    await user.selectOptions(screen.getByTestId("monitoring-cluster"), "c2");
    await waitFor(() => expect(owners()).toEqual(["d3"]));
  });

  it("queries the range again when a series' live samples jump past a gap (the server dropped batches)", async () => {
    const { fake } = openMonitoring("/monitoring?cluster=c1&droplet=d1");
    await waitFor(() => expect(screen.getAllByTestId("metric-chart")).toHaveLength(6));
    await waitFor(() => expect(fake.metricStreams).toHaveLength(1));
    const ranged = () => fake.calls.queryMetrics.filter((r) => r.step);
    const before = ranged().length;
    const t0 = Date.now();
    const push = (offsetMs: number, value: number) =>
      fake.metricStreams[0]!.push(
        create(WatchMetricsResponseSchema, {
          series: [{ dropletId: "d1", metric: MetricKind.CPU_PERCENT, points: [{ time: ts(t0 + offsetMs), value }] }],
        }),
      );

    // Samples every 2 s: no gap, nothing queried again.
    push(1000, 50);
    push(3000, 60);
    push(5000, 70);
    await waitFor(() => expect(latest("cpu")).toHaveTextContent("70.0 %"));
    expect(ranged()).toHaveLength(before);

    // The next batch comes 20 s on (more than two intervals): the range is queried again,
    // on the same stream.
    push(25_000, 80);
    await waitFor(() => expect(ranged().length).toBeGreaterThan(before));
    expect(fake.metricStreams).toHaveLength(1);
    await waitFor(() => expect(latest("cpu")).toHaveTextContent("80.0 %"));
  });
});

describe("monitoring: activity stream", () => {
  it("after an expired cursor, waits (longer each time), lists again and streams from the newest entry", async () => {
    const fake = monitoringFake();
    fake.activity.push(entry(1, { source: "jobs", kind: "job.succeeded" }));
    fake.activity.push(entry(2));
    const { user } = openMonitoring("/monitoring/activity?cluster=c1", SESSIONS.operator, fake);
    const ids = () => screen.getAllByTestId("activity-row").map((r) => r.dataset.id);
    await waitFor(() => expect(ids()).toEqual(["e2", "e1"]));
    await user.selectOptions(screen.getByTestId("activity-source"), "jobs");
    await waitFor(() => expect(ids()).toEqual(["e1"]));
    await waitFor(() => expect(fake.activityStreams.filter((s) => s.open)).toHaveLength(1));
    expect(fake.calls.streamActivity.at(-1)!.since).toBe(cursorOf(2));
    const heads = () => fake.calls.listActivity.filter((r) => r.pageSize === 1).length;
    const headsBefore = heads();

    // Meanwhile e3 is stored, and the stream says its cursor is past retention.
    fake.activity.push(entry(3, { source: "jobs", kind: "job.failed" }));
    const opened = fake.activityStreams.length;
    const expire = () => fake.activityStreams.at(-1)!.fail(new ConnectError("cursor expired", Code.FailedPrecondition));
    let t = performance.now();
    expire();
    await waitFor(() => expect(fake.activityStreams).toHaveLength(opened + 1));
    // The first backoff step (125–250 ms), not an immediate reopening.
    expect(performance.now() - t).toBeGreaterThanOrEqual(100);
    expect(heads()).toBeGreaterThan(headsBefore);
    expect(fake.calls.streamActivity.at(-1)!.since).toBe(cursorOf(3));
    await waitFor(() => expect(ids()).toEqual(["e3", "e1"]));
    expect(screen.getByTestId("activity-live")).toHaveAttribute("data-status", "open");

    // Expiring again at once: the wait grows (250–500 ms) instead of looping.
    t = performance.now();
    expire();
    await waitFor(() => expect(fake.activityStreams).toHaveLength(opened + 2));
    expect(performance.now() - t).toBeGreaterThanOrEqual(200);
  });
});

describe("monitoring: alerts", () => {
  it("pages the alerts with page_token", async () => {
    const fake = monitoringFake();
    for (let i = 0; i < ALERTS_PAGE_SIZE + 5; i++) {
      fake.addAlert({ ruleId: "r0", ruleName: `rule-${i}`, dropletId: "d1", state: i < 3 ? AlertState.RESOLVED : AlertState.FIRING, value: i });
    }
    const { user } = openMonitoring("/monitoring/alerts?cluster=c1", SESSIONS.viewer, fake);
    const rows = () => screen.getAllByTestId("alert-row");
    await waitFor(() => expect(rows()).toHaveLength(ALERTS_PAGE_SIZE));
    expect(screen.getByTestId("alerts-pager-prev")).toBeDisabled();

    await user.click(screen.getByTestId("alerts-pager-next"));
    await waitFor(() => expect(rows()).toHaveLength(5));
    expect(rows()[0]).toHaveAttribute("data-rule-name", `rule-${ALERTS_PAGE_SIZE}`);
    expect(screen.getByTestId("alerts-pager-next")).toBeDisabled();
    await user.click(screen.getByTestId("alerts-pager-prev"));
    await waitFor(() => expect(rows()).toHaveLength(ALERTS_PAGE_SIZE));

    // A state filter starts from the first page.
    await user.click(screen.getByTestId("alerts-pager-next"));
    await waitFor(() => expect(rows()).toHaveLength(5));
    await user.selectOptions(screen.getByTestId("alert-state-filter"), String(AlertState.RESOLVED));
    await waitFor(() => expect(rows().map((r) => r.dataset.ruleName)).toEqual(["rule-0", "rule-1", "rule-2"]));
    expect(screen.getByTestId("alerts-pager")).toHaveTextContent("Page 1");
  });
});

describe("monitoring: polling", () => {
  // Real time still passes (the lazy section loads, waitFor polls); the poll interval is skipped ahead.
  beforeEach(() => vi.useFakeTimers({ shouldAdvanceTime: true }));
  afterEach(() => vi.useRealTimers());
  const poll = () => act(() => vi.advanceTimersByTimeAsync(HEALTH_POLL_MS));

  it("the section header's health badge follows the cluster's health", async () => {
    const fake = monitoringFake();
    openMonitoring("/monitoring?cluster=c1", SESSIONS.viewer, fake);
    await waitFor(() => expect(screen.getByTestId("cluster-health")).toHaveAttribute("data-health", "degraded"));
    fake.clusters[0]!.health = ClusterHealth.UNHEALTHY;
    await poll();
    await waitFor(() => expect(screen.getByTestId("cluster-health")).toHaveAttribute("data-health", "unhealthy"));
  });

  it("the clusters list's health column follows the clusters' health", async () => {
    const fake = monitoringFake();
    openMonitoring("/clusters", SESSIONS.viewer, fake);
    const badge = () =>
      within(screen.getAllByTestId("cluster-row").find((r) => r.dataset.clusterId === "c2")!).getByTestId("cluster-health");
    await waitFor(() => expect(badge()).toHaveAttribute("data-health", "healthy"));
    fake.clusters[1]!.health = ClusterHealth.DEGRADED;
    await poll();
    await waitFor(() => expect(badge()).toHaveAttribute("data-health", "degraded"));
  });

  it("a check's probe history says which droplet it shows, and polls", async () => {
    const fake = monitoringFake();
    fake.addCheck({
      id: "hc-api",
      name: "api",
      kind: HealthCheckKind.TCP,
      droplets: [
        { dropletId: "d1", state: HealthState.HEALTHY },
        { dropletId: "d2", state: HealthState.HEALTHY },
      ],
    });
    fake.addResult({ checkId: "hc-api", dropletId: "d1", healthy: true, message: "d1 ok" });
    fake.addResult({ checkId: "hc-api", dropletId: "d2", healthy: true, message: "d2 ok" });
    const { user } = openMonitoring("/monitoring/checks?cluster=c1&droplet=d2", SESSIONS.viewer, fake);
    await user.click(await screen.findByTestId("check-history"));
    await waitFor(() => expect(screen.getAllByTestId("health-result-row")).toHaveLength(1));
    expect(screen.getByTestId("health-result-row")).toHaveTextContent("d2 ok");
    await waitFor(() => expect(screen.getByTestId("results-scope")).toHaveTextContent("on web-2"));

    fake.addResult({ checkId: "hc-api", dropletId: "d2", healthy: false, message: "d2 refused" });
    await poll();
    await waitFor(() => expect(screen.getAllByTestId("health-result-row")).toHaveLength(2));
    expect(screen.getAllByTestId("health-result-row").map((r) => r.dataset.healthy)).toEqual(["true", "false"]);
  });
});
