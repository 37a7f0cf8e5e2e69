// Links into the monitoring pages from elsewhere (a diagnosis's evidence):
// the metric charts on a fixed window, a health check's results opened, an
// activity entry marked.
import { configure, screen, waitFor, within } from "@testing-library/react";
import { beforeAll, describe, expect, it } from "vitest";
import { HealthState } from "../src/gen/clustergenie/monitoring/v1/monitoring_pb";
import { SESSIONS } from "./harness";
import { entry, monitoringFake, openMonitoring } from "./monitoring-fixtures";

// The monitoring section is loaded lazily; its first import can take a moment.
beforeAll(() => configure({ asyncUtilTimeout: 4000 }));

const secs = (t: { seconds: bigint } | undefined) => Number(t?.seconds ?? 0n);
const END = 1_714_564_800; // 2024-05-01T12:00:00Z

describe("monitoring links", () => {
  it("a metrics link with from and to charts that window without streaming, marks the named chart, and the range picker goes back to live", async () => {
    const { fake, user, location } = openMonitoring(
      "/monitoring?cluster=c1&droplet=d1&from=2024-05-01T11%3A50%3A00Z&to=2024-05-01T12%3A00%3A00Z&metric=memory",
      SESSIONS.viewer,
    );
    await waitFor(() => expect(screen.getAllByTestId("metric-chart")).toHaveLength(6));
    const q = fake.calls.queryMetrics.find((r) => r.step)!;
    expect(q).toMatchObject({ clusterId: "c1", dropletId: "d1" });
    expect([secs(q.startTime), secs(q.endTime), secs(q.step)]).toEqual([END - 600, END, 10]);
    const charts = screen.getByTestId("metric-charts");
    expect(charts).toHaveAttribute("data-fixed", "true");
    expect(screen.getByTestId("metrics-window")).toHaveAttribute("data-from", String(END - 600));
    expect(screen.getAllByTestId("metric-chart").filter((c) => c.dataset.focused).map((c) => c.dataset.metric)).toEqual(["memory"]);
    expect(within(screen.getByTestId("range-picker")).queryByRole("button", { pressed: true })).not.toBeInTheDocument();
    // A window in the past: nothing to stream.
    expect(fake.calls.watchMetrics).toHaveLength(0);

    await user.click(screen.getByTestId("range-1h"));
    await waitFor(() => expect(location.history!.at(-1)).toBe("/monitoring?cluster=c1&droplet=d1&metric=memory"));
    await waitFor(() => expect(fake.calls.watchMetrics).toHaveLength(1));
    expect(screen.queryByTestId("metrics-window")).not.toBeInTheDocument();
    expect(screen.getByTestId("range-1h")).toHaveAttribute("aria-pressed", "true");
  });

  it("a checks link opens the named check's results, on the droplet it names", async () => {
    const fake = monitoringFake();
    fake.addCheck({ id: "hc1", name: "web", droplets: [{ dropletId: "d1", state: HealthState.UNHEALTHY }] });
    fake.addCheck({ id: "hc2", name: "api", droplets: [{ dropletId: "d1", state: HealthState.HEALTHY }] });
    fake.addResult({ checkId: "hc1", dropletId: "d1", healthy: false, message: "connection refused" });
    openMonitoring("/monitoring/checks?cluster=c1&droplet=d1&check=hc1", SESSIONS.viewer, fake);
    const results = await screen.findByTestId("check-results");
    expect(results).toHaveAttribute("data-check-id", "hc1");
    expect(within(results).getByTestId("results-scope")).toHaveAttribute("data-droplet-id", "d1");
    expect(await within(results).findByTestId("health-result-row")).toHaveTextContent("connection refused");
  });

  it("an activity link marks the named entry", async () => {
    const fake = monitoringFake();
    fake.activity.push(entry(1), entry(2, { kind: "fault.injected" }), entry(3));
    openMonitoring("/monitoring/activity?cluster=c1&entry=e2", SESSIONS.viewer, fake);
    await waitFor(() => expect(screen.getAllByTestId("activity-row")).toHaveLength(3));
    const marked = screen.getAllByTestId("activity-row").filter((r) => r.dataset.marked);
    expect(marked.map((r) => r.dataset.id)).toEqual(["e2"]);
  });
});
