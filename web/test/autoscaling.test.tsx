// The autoscaling page: policies (create with the server's field violations,
// edit by field mask, the enable toggle, a dry run), the monthly cost cap,
// and the decisions timeline, listed and live.
import { Code, ConnectError } from "@connectrpc/connect";
import { act, configure, screen, waitFor, within } from "@testing-library/react";
import { beforeAll, describe, expect, it } from "vitest";
import { MetricKind } from "../src/gen/clustergenie/monitoring/v1/monitoring_pb";
import { DecisionReason, ScaleAction, type WatchDecisionsResponse } from "../src/gen/clustergenie/scaler/v1/scaler_pb";
import { DECISIONS_PAGE_SIZE } from "../src/lib/decisions";
import { SESSIONS } from "./harness";
import { decision, openAutoscaling, policy, scalerFake } from "./autoscaling-fixtures";
import { ts } from "./monitoring-fixtures";

// The section is loaded lazily; its first import can take a moment.
beforeAll(() => configure({ asyncUtilTimeout: 4000 }));

const secs = (d: { seconds: bigint } | undefined) => (d ? Number(d.seconds) : undefined);
const row = (name: string) => screen.getAllByTestId("policy-row").find((r) => r.dataset.policyName === name)!;
const decisionIds = () => screen.getAllByTestId("decision-row").map((r) => r.dataset.decisionId);

describe("autoscaling: navigation", () => {
  it("links Autoscaling in the nav, picks the first cluster into the URL, and shows its droplets against the latest decision", async () => {
    const fake = scalerFake();
    fake.decisions.push(decision(1, { desiredDroplets: 4 }), decision(2, { desiredDroplets: 5, action: ScaleAction.SCALE_UP, jobId: "j2" }));
    fake.policies.push(policy({ id: "p9", clusterId: "c2", name: "db-cpu" }));
    const { user, location } = openAutoscaling("/autoscaling", SESSIONS.operator, fake);
    const nav = screen.getByTestId("nav-autoscaling");
    expect(nav).not.toHaveTextContent("soon");
    expect(nav).toHaveAttribute("href", "/autoscaling");
    await waitFor(() => expect(location.history!.at(-1)).toBe("/autoscaling?cluster=c1"));
    await waitFor(() => expect(screen.getByTestId("autoscaling-current")).toHaveTextContent("3"));
    await waitFor(() => expect(screen.getByTestId("autoscaling-desired")).toHaveTextContent("5"));
    expect(screen.getByTestId("autoscaling-current")).toHaveAttribute("data-count", "3");

    await user.selectOptions(screen.getByTestId("autoscaling-cluster"), "c2");
    await waitFor(() => expect(location.history!.at(-1)).toBe("/autoscaling?cluster=c2"));
    expect(await screen.findByTestId("policy-row")).toHaveAttribute("data-policy-name", "db-cpu");
    expect(screen.getByTestId("autoscaling-current")).toHaveTextContent("1");
    expect(screen.getByTestId("autoscaling-desired")).toHaveTextContent("—");
    await waitFor(() => expect(fake.calls.watchDecisions.at(-1)?.clusterId).toBe("c2"));
  });
});

describe("autoscaling: policies", () => {
  it("shows the server's field violations next to their fields (a schedule's on its row), then creates the policy disabled", async () => {
    const { fake, user } = openAutoscaling();
    const form = await screen.findByTestId("policy-form");
    await waitFor(() => expect(within(form).getByTestId("policy-size")).toHaveValue("s-1vcpu-1gb"));
    await user.selectOptions(within(form).getByTestId("policy-metric"), String(MetricKind.CPU_PERCENT));
    await user.type(within(form).getByTestId("policy-target"), "60");
    await user.type(within(form).getByTestId("policy-min"), "3");
    await user.type(within(form).getByTestId("policy-max"), "6");
    await user.type(within(form).getByTestId("policy-down-window"), "8");
    await user.click(within(form).getByTestId("schedule-add"));
    const sched = within(form).getByTestId("schedule-row");
    await user.type(within(sched).getByTestId("schedule-cron"), "0 8 * * 1-5");
    await user.type(within(sched).getByTestId("schedule-time-zone"), "Mars/Olympus");
    await user.type(within(sched).getByTestId("schedule-duration"), "600");
    await user.type(within(sched).getByTestId("schedule-min"), "-1");
    await user.click(within(form).getByTestId("policy-submit"));

    // No name; the schedule's zone and min are wrong: each shows where it belongs.
    expect(await within(form).findByTestId("field-error-name")).toHaveTextContent("must be 1–63 characters");
    expect(within(sched).getByTestId("field-error-schedules[0].time_zone")).toHaveTextContent('unknown time zone "Mars/Olympus"');
    expect(within(sched).getByTestId("field-error-schedules[0].min_droplets")).toHaveTextContent("must not be negative");
    // `schedules[0].min_droplets` is not the policy's own min.
    expect(within(form).queryByTestId("field-error-min_droplets")).not.toBeInTheDocument();
    expect(screen.queryByTestId("policy-row")).not.toBeInTheDocument();

    await user.type(within(form).getByTestId("policy-name"), "cpu");
    await user.clear(within(sched).getByTestId("schedule-time-zone"));
    await user.type(within(sched).getByTestId("schedule-time-zone"), "Europe/Berlin");
    await user.clear(within(sched).getByTestId("schedule-min"));
    await user.type(within(sched).getByTestId("schedule-min"), "4");
    await user.click(within(form).getByTestId("policy-submit"));

    await waitFor(() => expect(row("cpu")).toHaveAttribute("data-enabled", "false"));
    expect(fake.calls.createPolicy).toHaveLength(2);
    const req = fake.calls.createPolicy[1]!;
    expect(req).toMatchObject({
      clusterId: "c1",
      name: "cpu",
      metric: MetricKind.CPU_PERCENT,
      targetValue: 60,
      minDroplets: 3,
      maxDroplets: 6,
      size: "s-1vcpu-1gb",
      image: "ubuntu-24-04-x64",
      enabled: false,
    });
    // Empty scale-up window: unset (the server's 0 s default); the scale-down one in seconds.
    expect(req.scaleUpStabilization).toBeUndefined();
    expect(secs(req.scaleDownStabilization)).toBe(8);
    expect(req.schedules).toHaveLength(1);
    expect(req.schedules[0]).toMatchObject({ cron: "0 8 * * 1-5", timeZone: "Europe/Berlin", minDroplets: 4, maxDroplets: 0 });
    expect(secs(req.schedules[0]!.duration)).toBe(36_000);
    // A new logical attempt (the request changed after a definite failure): a fresh idempotency key.
    expect(req.requestId).not.toBe("");
    expect(req.requestId).not.toBe(fake.calls.createPolicy[0]!.requestId);
    // The form starts over and the errors are gone.
    await waitFor(() => expect(within(form).getByTestId("policy-name")).toHaveValue(""));
    expect(within(form).queryByTestId("schedule-row")).not.toBeInTheDocument();
    expect(within(form).queryByRole("alert")).not.toBeInTheDocument();
  });

  it("says so when the name is taken (ALREADY_EXISTS)", async () => {
    const fake = scalerFake();
    fake.policies.push(policy({ id: "p1", name: "cpu" }));
    const { user } = openAutoscaling(undefined, SESSIONS.operator, fake);
    const form = await screen.findByTestId("policy-form");
    await waitFor(() => expect(within(form).getByTestId("policy-size")).toHaveValue("s-1vcpu-1gb"));
    await user.type(within(form).getByTestId("policy-name"), "cpu");
    await user.type(within(form).getByTestId("policy-target"), "60");
    await user.type(within(form).getByTestId("policy-min"), "1");
    await user.type(within(form).getByTestId("policy-max"), "2");
    await user.click(within(form).getByTestId("policy-submit"));
    expect(await within(form).findByTestId("error-message")).toHaveTextContent("a policy named cpu exists in this cluster");
  });

  it("an edit sends only the changed paths in update_mask", async () => {
    const fake = scalerFake();
    fake.policies.push(
      policy({
        id: "p1",
        name: "cpu",
        schedules: [{ cron: "0 8 * * 1-5", timeZone: "Europe/Berlin", duration: { seconds: 36_000n }, minDroplets: 4 }],
      }),
    );
    const { user } = openAutoscaling(undefined, SESSIONS.operator, fake);
    await waitFor(() => expect(row("cpu")).toBeInTheDocument());
    await user.click(within(row("cpu")).getByTestId("policy-edit"));
    const form = await screen.findByTestId("policy-form");
    await waitFor(() => expect(form).toHaveAttribute("data-mode", "edit"));
    // The form holds the policy as stored.
    expect(within(form).getByTestId("policy-target")).toHaveValue(60);
    expect(within(form).getByTestId("policy-down-window")).toHaveValue(300);
    expect(within(within(form).getByTestId("schedule-row")).getByTestId("schedule-duration")).toHaveValue(600);

    await user.clear(within(form).getByTestId("policy-target"));
    await user.type(within(form).getByTestId("policy-target"), "70");
    await user.clear(within(form).getByTestId("policy-down-window"));
    await user.type(within(form).getByTestId("policy-down-window"), "8");
    await user.click(within(form).getByTestId("policy-submit"));

    await waitFor(() => expect(fake.calls.updatePolicy).toHaveLength(1));
    const req = fake.calls.updatePolicy[0]!;
    expect(req.updateMask?.paths).toEqual(["target_value", "scale_down_stabilization"]);
    expect(req.policy?.id).toBe("p1");
    expect(req.policy?.targetValue).toBe(70);
    expect(secs(req.policy?.scaleDownStabilization)).toBe(8);
    // Back to the create form; the row shows the new values.
    await waitFor(() => expect(screen.getByTestId("policy-form")).toHaveAttribute("data-mode", "create"));
    await waitFor(() => expect(row("cpu")).toHaveTextContent("CPU at 70.0 %"));
    expect(row("cpu")).toHaveTextContent("down 8 s");

    // Editing a schedule sends `schedules` alone; a server violation shows on its row.
    await user.click(within(row("cpu")).getByTestId("policy-edit"));
    const sched = within(await screen.findByTestId("policy-form")).getByTestId("schedule-row");
    await user.clear(within(sched).getByTestId("schedule-cron"));
    await user.type(within(sched).getByTestId("schedule-cron"), "every morning");
    await user.click(within(screen.getByTestId("policy-form")).getByTestId("policy-submit"));
    expect(await within(sched).findByTestId("field-error-schedules[0].cron")).toHaveTextContent("must have 5 fields");
    expect(fake.calls.updatePolicy[1]!.updateMask?.paths).toEqual(["schedules"]);

    // Nothing changed: nothing sent.
    await user.click(within(screen.getByTestId("policy-form")).getByTestId("policy-cancel"));
    await user.click(within(row("cpu")).getByTestId("policy-edit"));
    await user.click(within(await screen.findByTestId("policy-form")).getByTestId("policy-submit"));
    await waitFor(() => expect(screen.getByTestId("policy-form")).toHaveAttribute("data-mode", "create"));
    expect(fake.calls.updatePolicy).toHaveLength(2);
  });

  it("the enable toggle sends update_mask [\"enabled\"] and flips the row", async () => {
    const fake = scalerFake();
    fake.policies.push(policy({ id: "p1", name: "cpu", enabled: false }));
    const { user } = openAutoscaling(undefined, SESSIONS.operator, fake);
    await waitFor(() => expect(row("cpu")).toHaveAttribute("data-enabled", "false"));
    const toggle = within(row("cpu")).getByTestId("policy-toggle");
    expect(toggle).toHaveTextContent("Enable");
    await user.click(toggle);
    await waitFor(() => expect(row("cpu")).toHaveAttribute("data-enabled", "true"));
    expect(fake.calls.updatePolicy[0]!.updateMask?.paths).toEqual(["enabled"]);
    expect(fake.calls.updatePolicy[0]!.policy).toMatchObject({ id: "p1", enabled: true });
    expect(fake.policies[0]!.targetValue).toBe(60);

    await user.click(within(row("cpu")).getByTestId("policy-toggle"));
    await waitFor(() => expect(row("cpu")).toHaveAttribute("data-enabled", "false"));
    expect(fake.calls.updatePolicy[1]!.updateMask?.paths).toEqual(["enabled"]);
    expect(fake.calls.updatePolicy[1]!.policy?.enabled).toBe(false);
  });

  it("deletes a policy after a confirmation", async () => {
    const fake = scalerFake();
    fake.policies.push(policy({ id: "p1", name: "cpu" }));
    const { user } = openAutoscaling(undefined, SESSIONS.operator, fake);
    await waitFor(() => expect(row("cpu")).toBeInTheDocument());
    await user.click(within(row("cpu")).getByTestId("policy-delete"));
    expect(fake.calls.deletePolicy).toHaveLength(0);
    await user.click(within(row("cpu")).getByTestId("policy-delete-confirm"));
    await waitFor(() => expect(screen.queryByTestId("policy-row")).not.toBeInTheDocument());
    expect(fake.calls.deletePolicy).toEqual(["p1"]);
  });

  it("a dry run shows the explanation, reasons and current → desired, also for a disabled policy; without any policy it says why", async () => {
    const fake = scalerFake();
    fake.setDryRun(
      decision(0, {
        id: "",
        dryRun: true,
        currentDroplets: 3,
        desiredDroplets: 5,
        action: ScaleAction.SCALE_UP,
        explanation: "cpu 95% vs target 60% → ceil(3×95/60)=5",
        reasons: [DecisionReason.DRY_RUN, DecisionReason.SCALE_UP_RATE_LIMITED],
        winningPolicyId: "p1",
        recommendations: [{ policyId: "p1", metric: MetricKind.CPU_PERCENT, currentValue: 95, targetValue: 60, rawDesired: 5, desired: 5 }],
      }),
    );
    // No policy at all: FAILED_PRECONDITION, explained.
    const empty = openAutoscaling(undefined, SESSIONS.operator, fake);
    await empty.user.click(await screen.findByTestId("policy-dry-run"));
    const err = await screen.findByTestId("dry-run-error");
    expect(err).toHaveTextContent("cluster c1 has no scaling policy");
    expect(err).toHaveTextContent("Create a policy");
    expect(screen.queryByTestId("dry-run-result")).not.toBeInTheDocument();
    empty.unmount();

    // A disabled policy can be tried before it acts.
    fake.policies.push(policy({ id: "p1", name: "cpu", enabled: false }));
    const { user } = openAutoscaling(undefined, SESSIONS.operator, fake);
    await waitFor(() => expect(row("cpu")).toHaveAttribute("data-enabled", "false"));
    await user.click(screen.getByTestId("policy-dry-run"));
    const result = await screen.findByTestId("dry-run-result");
    expect(result).toHaveAttribute("data-action", "scale_up");
    expect(result).toHaveAttribute("data-desired", "5");
    expect(within(result).getByTestId("dry-run-counts")).toHaveTextContent("3 → 5 droplets");
    expect(within(result).getByTestId("dry-run-explanation")).toHaveTextContent("cpu 95% vs target 60% → ceil(3×95/60)=5");
    expect(within(result).getAllByTestId("decision-reason").map((r) => r.dataset.reason)).toEqual(["dry_run", "scale_up_rate_limited"]);
    expect(within(result).getByTestId("dry-run-recommendations")).toHaveTextContent("cpu (wins): CPU 95.0 % vs target 60.0 %");
    expect(screen.queryByTestId("dry-run-error")).not.toBeInTheDocument();
    expect(fake.calls.evaluateNow.map((r) => [r.clusterId, r.dryRun])).toEqual([
      ["c1", true],
      ["c1", true],
    ]);
    // Nothing was recorded.
    expect(screen.queryByTestId("decision-row")).not.toBeInTheDocument();
  });
});

describe("autoscaling: cost cap", () => {
  it("shows the cap in dollars and saves it in cents; empty means no cap; a violation shows at the field", async () => {
    const fake = scalerFake();
    fake.scaling.set("c1", { $typeName: "clustergenie.scaler.v1.ClusterScaling", clusterId: "c1", monthlyCostCapCents: 5000n });
    const { user } = openAutoscaling(undefined, SESSIONS.operator, fake);
    const input = await screen.findByTestId("cost-cap");
    expect(input).toHaveValue(50);
    expect(screen.getByTestId("cluster-monthly-cost")).toHaveTextContent("$18.00");

    await user.clear(input);
    await user.type(input, "123.45");
    await user.click(screen.getByTestId("cost-cap-save"));
    expect(await screen.findByTestId("cost-cap-saved")).toHaveTextContent("$123.45 a month");
    expect(fake.calls.updateClusterScaling[0]!.scaling).toMatchObject({ clusterId: "c1", monthlyCostCapCents: 12_345n });
    expect(screen.getByTestId("cost-cap-form")).toHaveAttribute("data-cents", "12345");

    await user.clear(input);
    await user.click(screen.getByTestId("cost-cap-save"));
    await waitFor(() => expect(screen.getByTestId("cost-cap-saved")).toHaveTextContent("no cap"));
    expect(fake.calls.updateClusterScaling[1]!.scaling?.monthlyCostCapCents).toBe(0n);

    await user.type(input, "-5");
    await user.click(screen.getByTestId("cost-cap-save"));
    expect(await screen.findByTestId("field-error-monthly_cost_cap_cents")).toHaveTextContent("must not be negative");
    expect(fake.calls.updateClusterScaling[2]!.scaling?.monthlyCostCapCents).toBe(-500n);
  });
});

describe("autoscaling: decisions timeline", () => {
  it("lists decisions newest first with 'more'; a streamed one prepends live; a reconnection lists again without duplicates", async () => {
    const fake = scalerFake();
    const total = DECISIONS_PAGE_SIZE + 5;
    for (let i = 1; i <= total; i++) fake.decisions.push(decision(i, { desiredDroplets: 3 }));
    fake.decisions.push(decision(999, { clusterId: "c2" }));
    const { user } = openAutoscaling(undefined, SESSIONS.viewer, fake);
    await waitFor(() => expect(decisionIds()).toHaveLength(DECISIONS_PAGE_SIZE));
    expect(decisionIds()[0]).toBe(`dec${total}`);
    await user.click(screen.getByTestId("decisions-more"));
    await waitFor(() => expect(decisionIds()).toHaveLength(total));
    expect(decisionIds().at(-1)).toBe("dec1");
    expect(fake.calls.listDecisions.at(-1)).toMatchObject({ clusterId: "c1", pageToken: String(DECISIONS_PAGE_SIZE) });
    expect(screen.queryByTestId("decisions-more")).not.toBeInTheDocument();

    await waitFor(() => expect(fake.open()).toHaveLength(1));
    expect(screen.getByTestId("decisions-live")).toHaveAttribute("data-status", "open");
    const lists = fake.calls.listDecisions.length;
    act(() => fake.record(decision(100, { desiredDroplets: 4, reasons: [DecisionReason.STABILIZATION_WINDOW] })));
    await waitFor(() => expect(decisionIds()[0]).toBe("dec100"));
    expect(decisionIds()).toHaveLength(total + 1);
    // Live, not reloaded.
    expect(fake.calls.listDecisions.length).toBe(lists);
    expect(screen.getByTestId("autoscaling-desired")).toHaveTextContent("4");
    const first = screen.getAllByTestId("decision-row")[0]!;
    expect(first).toHaveAttribute("data-desired", "4");
    expect(first).toHaveAttribute("data-current", "3");
    expect(within(first).getByTestId("decision-reason")).toHaveTextContent("stabilization window");

    // The stream drops; meanwhile dec101 is recorded (and nobody is watching).
    act(() => fake.open()[0]!.fail(new ConnectError("connection reset", Code.Unavailable)));
    await waitFor(() => expect(screen.getByTestId("decisions-live")).toHaveAttribute("data-status", "retrying"));
    fake.decisions.push(decision(101, { desiredDroplets: 5 }));
    // Reopened with backoff: the first page is listed again to fill the gap.
    await waitFor(() => expect(fake.open()).toHaveLength(1));
    await waitFor(() => expect(decisionIds()[0]).toBe("dec101"));
    expect(fake.calls.listDecisions.length).toBeGreaterThan(lists);
    expect(fake.calls.watchDecisions).toHaveLength(2);
    // A decision the list already gave, streamed again, still shows once.
    act(() => fake.open()[0]!.push({ decision: fake.decisions.find((d) => d.id === "dec100")! } as WatchDecisionsResponse));
    act(() => fake.record(decision(102, { desiredDroplets: 5 })));
    await waitFor(() => expect(decisionIds()[0]).toBe("dec102"));
    const ids = decisionIds();
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.slice(0, 3)).toEqual(["dec102", "dec101", "dec100"]);
    expect(ids).toHaveLength(total + 3);
    expect(ids).not.toContain("dec999");
    await waitFor(() => expect(screen.getByTestId("decisions-live")).toHaveAttribute("data-status", "open"));
  });

  it("a row links to its job and to the cluster's CPU chart; a scale-down names the droplets it removes", async () => {
    const fake = scalerFake();
    fake.decisions.push(
      decision(1, {
        action: ScaleAction.SCALE_UP,
        currentDroplets: 3,
        desiredDroplets: 5,
        jobId: "job-up",
        explanation: "cpu 95% vs target 60% → ceil(3×95/60)=5",
      }),
      decision(2, {
        action: ScaleAction.SCALE_DOWN,
        currentDroplets: 5,
        desiredDroplets: 3,
        jobId: "job-down",
        reasons: [DecisionReason.AT_MIN_DROPLETS],
        removedDropletIds: ["drop-4", "drop-5"],
      }),
    );
    const { user, location } = openAutoscaling(undefined, SESSIONS.viewer, fake);
    await waitFor(() => expect(decisionIds()).toEqual(["dec2", "dec1"]));
    const [down, up] = screen.getAllByTestId("decision-row") as [HTMLElement, HTMLElement];
    expect(up).toHaveAttribute("data-action", "scale_up");
    expect(within(up).getByTestId("decision-counts")).toHaveTextContent("3 → 5");
    expect(within(up).getByTestId("decision-explanation")).toHaveTextContent("ceil(3×95/60)=5");
    expect(within(up).getByTestId("decision-job-link")).toHaveAttribute("href", "/jobs/job-up");
    expect(within(up).getByTestId("decision-metrics-link")).toHaveAttribute("href", "/monitoring?cluster=c1&range=1h");
    expect(within(up).queryByTestId("decision-removed")).not.toBeInTheDocument();
    expect(down).toHaveAttribute("data-action", "scale_down");
    expect(within(down).getByTestId("decision-removed")).toHaveTextContent("drop-4, drop-5");
    expect(within(down).getByTestId("decision-reason")).toHaveTextContent("at min droplets");

    await user.click(within(down).getByTestId("decision-job-link"));
    await waitFor(() => expect(location.history!.at(-1)).toBe("/jobs/job-down"));
  });

  it("a scaling decision streamed before its job was attached gets its job link from the next listing", async () => {
    const fake = scalerFake();
    const { user, location } = openAutoscaling(undefined, SESSIONS.viewer, fake);
    await screen.findByTestId("decisions-empty");
    await waitFor(() => expect(fake.open()).toHaveLength(1));
    const d = decision(5, { action: ScaleAction.SCALE_UP, desiredDroplets: 5, createTime: ts(Date.now()) });
    // Recorded and streamed without a job; the job is attached right after.
    act(() => fake.record(d));
    fake.decisions[0] = { ...d, jobId: "job-5" };
    const row5 = await screen.findByTestId("decision-row");
    expect(row5).toHaveAttribute("data-action", "scale_up");
    await waitFor(() => expect(within(row5).getByTestId("decision-job-link")).toHaveAttribute("href", "/jobs/job-5"));
    expect(screen.getAllByTestId("decision-row")).toHaveLength(1);
    await user.click(within(row5).getByTestId("decision-job-link"));
    await waitFor(() => expect(location.history!.at(-1)).toBe("/jobs/job-5"));
  });
});

describe("autoscaling: roles", () => {
  it("a viewer sees policies, the cap and decisions, but no control that changes them", async () => {
    const fake = scalerFake();
    fake.policies.push(policy({ id: "p1", name: "cpu", enabled: true }));
    fake.scaling.set("c1", { $typeName: "clustergenie.scaler.v1.ClusterScaling", clusterId: "c1", monthlyCostCapCents: 5000n });
    fake.decisions.push(decision(1));
    openAutoscaling(undefined, SESSIONS.viewer, fake);
    await waitFor(() => expect(row("cpu")).toHaveAttribute("data-enabled", "true"));
    expect(await screen.findByTestId("cost-cap-value")).toHaveTextContent("$50.00 a month");
    await waitFor(() => expect(decisionIds()).toEqual(["dec1"]));
    expect(screen.getByTestId("read-only-note")).toHaveTextContent("changing scaling policies needs an operator token");
    for (const id of [
      "policy-form",
      "policy-submit",
      "policy-toggle",
      "policy-edit",
      "policy-delete",
      "policy-dry-run",
      "cost-cap",
      "cost-cap-save",
      "schedule-add",
    ]) {
      expect(screen.queryByTestId(id), id).not.toBeInTheDocument();
    }
  });
});
