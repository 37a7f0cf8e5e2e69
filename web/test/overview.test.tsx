// The overview: every section from its service's answer, one failing service
// leaving the others on view, the activity and decisions arriving live, and
// the running jobs (unfinished only) following the activity stream.
import { Code, ConnectError } from "@connectrpc/connect";
import type { DescService } from "@bufbuild/protobuf";
import { act, screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { DiagnosisService } from "../src/gen/clustergenie/diagnosis/v1/diagnosis_pb";
import { JobService, JobStatus } from "../src/gen/clustergenie/jobs/v1/jobs_pb";
import { ActivityService, ActivitySeverity } from "../src/gen/clustergenie/monitoring/v1/monitoring_pb";
import { ClusterService, DropletService } from "../src/gen/clustergenie/provisioning/v1/provisioning_pb";
import { ScaleAction, ScalerService } from "../src/gen/clustergenie/scaler/v1/scaler_pb";
import { cursorOf } from "./monitoring-fixtures";
import { decision, entry, openOverview, overviewFake } from "./overview-fixtures";

const section = (id: string) => screen.getByTestId(`overview-${id}`);
const rows = (list: string, row: string, attr: string) =>
  within(screen.getByTestId(`overview-${list}-list`)).getAllByTestId(`overview-${row}`).map((r) => r.getAttribute(attr));
const activityIds = () => within(screen.getByTestId("overview-activity-list")).getAllByTestId("activity-row").map((r) => r.dataset.id);

describe("overview: the fleet at a glance", () => {
  it("renders every section from its service's answer", async () => {
    const { fake } = openOverview();

    // Clusters: health badge, droplet count and cost per cluster, linked to its page; the fleet's total cost.
    const web = await screen.findByTestId("overview-cluster-web");
    expect(within(web).getByTestId("cluster-health")).toHaveAttribute("data-health", "healthy");
    expect(within(web).getByTestId("overview-cluster-droplets")).toHaveTextContent("3");
    expect(within(web).getByTestId("overview-cluster-cost")).toHaveTextContent("$18.00");
    expect(within(web).getByTestId("overview-cluster-link")).toHaveAttribute("href", "/clusters/c1");
    const db = screen.getByTestId("overview-cluster-db");
    expect(within(db).getByTestId("cluster-health")).toHaveAttribute("data-health", "degraded");
    expect(within(db).getByTestId("overview-cluster-cost")).toHaveTextContent("$6.00");
    expect(screen.getByTestId("overview-total-cost")).toHaveTextContent("$24.00/mo");
    expect(screen.getByTestId("overview-total-cost")).toHaveAttribute("data-cents", "2400");
    expect(screen.getByTestId("overview-cluster-count")).toHaveAttribute("data-count", "2");

    // Droplets by status.
    await waitFor(() => expect(screen.getByTestId("overview-droplets-total")).toHaveAttribute("data-count", "4"));
    expect(screen.getByTestId("overview-droplets-active")).toHaveAttribute("data-count", "2");
    expect(screen.getByTestId("overview-droplets-new")).toHaveAttribute("data-count", "1");
    expect(screen.getByTestId("overview-droplets-off")).toHaveAttribute("data-count", "1");

    // Running jobs, with progress, linked to the job page.
    await waitFor(() => expect(rows("jobs", "job", "data-job-id")).toEqual(["j-running", "j-queued"]));
    const running = within(section("jobs")).getAllByTestId("overview-job")[0]!;
    expect(within(running).getByTestId("overview-job-progress")).toHaveAttribute("aria-valuenow", "40");
    expect(within(running).getByTestId("overview-job-link")).toHaveAttribute("href", "/jobs/j-running");
    expect(running).toHaveTextContent("web");
    expect(running).toHaveTextContent("created 1 of 2 droplets");

    // The scaler's latest decisions, fleet-wide, newest first.
    await waitFor(() => expect(rows("decisions", "decision", "data-decision-id")).toEqual(["dec2", "dec1"]));
    const up = within(section("decisions")).getAllByTestId("overview-decision")[0]!;
    expect(up).toHaveAttribute("data-action", "scale_up");
    expect(up).toHaveTextContent("3 → 5");
    expect(within(up).getByTestId("overview-decision-cluster")).toHaveTextContent("web");
    expect(within(up).getByTestId("overview-decision-cluster")).toHaveAttribute("href", "/autoscaling?cluster=c1");
    expect(fake.calls.listDecisions[0]).toMatchObject({ clusterId: "", pageSize: 5 });
    await waitFor(() => expect(fake.calls.watchDecisions[0]).toMatchObject({ clusterId: "" }));

    // The latest diagnoses, each opening on the diagnosis page.
    await waitFor(() => expect(rows("diagnoses", "diagnosis", "data-diagnosis-id")).toEqual(["dg2", "dg1"]));
    const dg2 = within(section("diagnoses")).getAllByTestId("overview-diagnosis")[0]!;
    expect(dg2).toHaveAttribute("data-severity", "warning");
    expect(within(dg2).getByTestId("overview-diagnosis-link")).toHaveAttribute("href", "/diagnosis?cluster=c1&diagnosis=dg2");
    expect(within(dg2).getByTestId("overview-diagnosis-link")).toHaveTextContent("memory grows on web-1");
    expect(within(section("diagnoses")).getAllByTestId("overview-diagnosis")[1]).toHaveTextContent("db · db-1");

    // The activity stream: the newest entries, then live from the newest cursor.
    await waitFor(() => expect(activityIds()).toEqual(["e3", "e2", "e1"]));
    await waitFor(() => expect(fake.calls.streamActivity[0]).toMatchObject({ since: cursorOf(3), clusterId: "" }));

    // Nothing failed.
    expect(screen.queryByTestId("error-message")).not.toBeInTheDocument();
  });

  it.each<[string, DescService, string]>([
    ["ClusterService", ClusterService, "clusters"],
    ["DropletService", DropletService, "droplets"],
    ["JobService", JobService, "jobs"],
    ["ScalerService", ScalerService, "decisions"],
    ["DiagnosisService", DiagnosisService, "diagnoses"],
    ["ActivityService", ActivityService, "activity"],
  ])("with %s failing, shows its error in its section and the other sections still render", async (_name, service, failed) => {
    const fake = overviewFake();
    fake.fail(service, new ConnectError("the service is on fire", Code.Internal));
    openOverview(fake);

    const broken = section(failed);
    await waitFor(() => expect(within(broken).getByTestId("error-message")).toHaveTextContent("the service is on fire"));
    const shown: Record<string, () => void> = {
      clusters: () => within(section("clusters")).getByTestId("overview-cluster-web"),
      droplets: () => expect(screen.getByTestId("overview-droplets-total")).toHaveAttribute("data-count", "4"),
      jobs: () => expect(rows("jobs", "job", "data-job-id")).toEqual(["j-running", "j-queued"]),
      decisions: () => expect(rows("decisions", "decision", "data-decision-id")).toEqual(["dec2", "dec1"]),
      diagnoses: () => expect(rows("diagnoses", "diagnosis", "data-diagnosis-id")).toEqual(["dg2", "dg1"]),
      activity: () => expect(activityIds()).toEqual(["e3", "e2", "e1"]),
    };
    for (const [id, check] of Object.entries(shown)) {
      if (id === failed) continue;
      await waitFor(check);
      expect(within(section(id)).queryByTestId("error-message")).not.toBeInTheDocument();
    }
    expect(screen.getAllByTestId("error-message")).toHaveLength(1);
  });
});

describe("overview: live", () => {
  it("a new activity entry arriving on the stream appears at the top, once", async () => {
    const { fake } = openOverview();
    await waitFor(() => expect(activityIds()).toEqual(["e3", "e2", "e1"]));
    await waitFor(() => expect(fake.activityStreams).toHaveLength(1));
    expect(screen.getByTestId("overview-activity-live")).toHaveAttribute("data-status", "open");

    act(() => fake.appendActivity(entry(4, { kind: "alert.fired", severity: ActivitySeverity.ERROR, message: "cpu-hot is firing" })));
    await waitFor(() => expect(activityIds()).toEqual(["e4", "e3", "e2", "e1"]));
    const row = within(screen.getByTestId("overview-activity-list")).getAllByTestId("activity-row")[0]!;
    expect(row).toHaveAttribute("data-kind", "alert.fired");
    expect(row).toHaveTextContent("cpu-hot is firing");
    // A redelivered entry shows once; the stream, not a reload, brought it.
    act(() => fake.activityStreams[0]!.push({ entry: entry(4) } as never));
    act(() => fake.appendActivity(entry(5)));
    await waitFor(() => expect(activityIds()).toEqual(["e5", "e4", "e3", "e2", "e1"]));
    expect(fake.calls.listActivity).toHaveLength(1);
    expect(fake.calls.listActivity[0]).toMatchObject({ clusterId: "", pageSize: 15 });
  });

  it("a decision the scaler records streams in above the listed ones", async () => {
    const { fake } = openOverview();
    await waitFor(() => expect(rows("decisions", "decision", "data-decision-id")).toEqual(["dec2", "dec1"]));
    await waitFor(() => expect(fake.decisionStreams).toHaveLength(1));
    act(() => fake.record(decision(3, { clusterId: "c2", action: ScaleAction.SCALE_DOWN, currentDroplets: 2, desiredDroplets: 1, jobId: "j9" })));
    await waitFor(() => expect(rows("decisions", "decision", "data-decision-id")).toEqual(["dec3", "dec2", "dec1"]));
    const down = within(section("decisions")).getAllByTestId("overview-decision")[0]!;
    expect(down).toHaveAttribute("data-action", "scale_down");
    expect(within(down).getByTestId("overview-decision-cluster")).toHaveTextContent("db");
  });
});

describe("overview: running jobs", () => {
  it("lists only unfinished jobs (queued and running), and drops one once its job entry says it finished", async () => {
    const { fake } = openOverview();
    await waitFor(() => expect(rows("jobs", "job", "data-job-id")).toEqual(["j-running", "j-queued"]));
    expect(rows("jobs", "job", "data-status")).toEqual(["running", "queued"]);
    // Asked by status, so finished jobs are never fetched.
    const statuses = fake.calls.listJobs.map((r) => r.status).sort();
    expect(statuses.slice(0, 2)).toEqual([JobStatus.QUEUED, JobStatus.RUNNING]);
    for (const id of ["j-done", "j-failed", "j-cancelled"]) {
      expect(within(section("jobs")).queryByText((_, el) => el?.getAttribute("data-job-id") === id)).toBeNull();
    }

    // The running job succeeds and the queued one starts: the job entries on the
    // activity stream refresh the list at once, without waiting for its poll.
    await waitFor(() => expect(fake.activityStreams).toHaveLength(1));
    fake.updateJob("j-running", { status: JobStatus.SUCCEEDED, progress: 100 });
    fake.updateJob("j-queued", { status: JobStatus.RUNNING, progress: 10 });
    act(() => fake.appendActivity(entry(4, { source: "jobs", kind: "job.succeeded", jobId: "j-running" })));
    await waitFor(() => expect(rows("jobs", "job", "data-job-id")).toEqual(["j-queued"]));
    expect(rows("jobs", "job", "data-status")).toEqual(["running"]);

    fake.updateJob("j-queued", { status: JobStatus.FAILED });
    act(() => fake.appendActivity(entry(5, { source: "jobs", kind: "job.failed", jobId: "j-queued" })));
    expect(await screen.findByTestId("overview-jobs-empty")).toHaveTextContent("No job is queued or running.");
  });
});
