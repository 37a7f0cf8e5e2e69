import { Code, ConnectError } from "@connectrpc/connect";
import { screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import {
  JobKind,
  JobService,
  JobStatus,
  type CreateJobRequest,
  type Job,
  type ListJobsRequest,
} from "../src/gen/clustergenie/jobs/v1/jobs_pb";
import { ClusterService, DropletService } from "../src/gen/clustergenie/provisioning/v1/provisioning_pb";
import { catalog, cluster, droplet, gate, job, renderApp, SESSIONS } from "./harness";

const scale = (init: Partial<Pick<Job, "id" | "status" | "progress" | "message" | "error" | "cancelRequested">>) =>
  job({
    id: "j1",
    kind: JobKind.SCALE_CLUSTER,
    action: { action: { case: "scaleCluster", value: { targetCount: 3, size: "s-1vcpu-1gb", image: "ubuntu-24-04-x64" } } },
    ...init,
  });

describe("job detail", () => {
  it("renders WatchJob progress updates until the final status", async () => {
    const steps = [gate(), gate(), gate()];
    const { container } = renderApp({
      session: SESSIONS.operator,
      path: "/jobs/j1",
      routes: (router) => {
        catalog(router);
        router.service(JobService, {
          async *watchJob(req, ctx) {
            expect(req.id).toBe("j1");
            yield { job: scale({ status: JobStatus.QUEUED, progress: 0 }) };
            await Promise.race([steps[0]!.p, gate(ctx.signal).p]);
            yield { job: scale({ status: JobStatus.RUNNING, progress: 33, message: "created 1 of 3 droplets" }) };
            await Promise.race([steps[1]!.p, gate(ctx.signal).p]);
            yield { job: scale({ status: JobStatus.RUNNING, progress: 66, message: "created 2 of 3 droplets" }) };
            await Promise.race([steps[2]!.p, gate(ctx.signal).p]);
            yield { job: scale({ status: JobStatus.SUCCEEDED, progress: 100, message: "cluster has 3 droplets" }) };
          },
        });
      },
    });

    const bar = await screen.findByTestId("job-progress");
    expect(bar).toHaveAttribute("aria-valuenow", "0");
    expect(screen.getByTestId("job-status")).toHaveTextContent("queued");
    expect(screen.getByTestId("job-cancel")).toBeEnabled();

    steps[0]!.open();
    await waitFor(() => expect(screen.getByTestId("job-progress")).toHaveAttribute("aria-valuenow", "33"));
    expect(screen.getByTestId("job-status")).toHaveTextContent("running");
    expect(screen.getByTestId("job-message")).toHaveTextContent("created 1 of 3 droplets");

    steps[1]!.open();
    await waitFor(() => expect(screen.getByTestId("job-progress")).toHaveAttribute("aria-valuenow", "66"));

    steps[2]!.open();
    await waitFor(() => expect(screen.getByTestId("job-status")).toHaveTextContent("succeeded"));
    expect(screen.getByTestId("job-progress")).toHaveAttribute("aria-valuenow", "100");
    expect(screen.getByTestId("job-action")).toHaveTextContent("scale cluster to 3 droplet(s)");
    // Terminal: no cancel, no retry, no live marker.
    expect(screen.queryByTestId("job-cancel")).toBeNull();
    expect(screen.queryByTestId("job-retry")).toBeNull();
    await waitFor(() => expect(screen.queryByTestId("job-live")).toBeNull());
    expect(container.querySelector(".progress__fill")).toHaveStyle({ width: "100%" });
  });

  it("cancel calls CancelJob and shows the cancel request", async () => {
    const cancelled: string[] = [];
    const { user } = renderApp({
      session: SESSIONS.operator,
      path: "/jobs/j1",
      routes: (router) => {
        catalog(router);
        router.service(JobService, {
          async *watchJob(_req, ctx) {
            yield { job: scale({ status: JobStatus.RUNNING, progress: 40 }) };
            await gate(ctx.signal).p;
          },
          cancelJob(req) {
            cancelled.push(req.id);
            return { job: scale({ status: JobStatus.RUNNING, progress: 40, cancelRequested: true }) };
          },
        });
      },
    });
    await user.click(await screen.findByTestId("job-cancel"));
    await waitFor(() => expect(cancelled).toEqual(["j1"]));
    expect(await screen.findByTestId("job-status")).toHaveTextContent("running (cancel requested)");
    expect(screen.getByTestId("job-cancel")).toBeDisabled();
  });

  it("retries a failed job and follows it again", async () => {
    let watches = 0;
    const retried: string[] = [];
    const { user } = renderApp({
      session: SESSIONS.operator,
      path: "/jobs/j1",
      routes: (router) => {
        catalog(router);
        router.service(JobService, {
          async *watchJob() {
            watches++;
            yield {
              job:
                watches === 1
                  ? scale({ status: JobStatus.FAILED, progress: 50, error: "region full" })
                  : scale({ status: JobStatus.SUCCEEDED, progress: 100 }),
            };
          },
          retryJob(req) {
            retried.push(req.id);
            return { job: scale({ status: JobStatus.QUEUED, progress: 0 }) };
          },
        });
      },
    });
    expect(await screen.findByTestId("job-error")).toHaveTextContent("region full");
    await user.click(screen.getByTestId("job-retry"));
    await waitFor(() => expect(screen.getByTestId("job-status")).toHaveTextContent("succeeded"));
    expect(retried).toEqual(["j1"]);
    expect(watches).toBe(2);
  });

  it("falls back to polling GetJob when the stream is unavailable", async () => {
    let polls = 0;
    renderApp({
      session: SESSIONS.viewer,
      path: "/jobs/j1",
      routes: (router) => {
        catalog(router);
        router.service(JobService, {
          // eslint-disable-next-line require-yield -- a stream that fails before its first message
          async *watchJob() {
            throw new ConnectError("no streaming here", Code.Unimplemented);
          },
          getJob() {
            polls++;
            return { job: scale({ status: JobStatus.SUCCEEDED, progress: 100 }) };
          },
        });
      },
    });
    await waitFor(() => expect(screen.getByTestId("job-status")).toHaveTextContent("succeeded"));
    expect(polls).toBe(1);
    // Viewers see no cancel/retry.
    expect(screen.queryByTestId("job-cancel")).toBeNull();
  });
});

describe("jobs list", () => {
  it("lists jobs with cluster names and passes filters", async () => {
    const requests: ListJobsRequest[] = [];
    const { user } = renderApp({
      session: SESSIONS.viewer,
      path: "/jobs",
      routes: (router) => {
        catalog(router);
        router.service(ClusterService, { listClusters: () => ({ clusters: [cluster({ id: "c1", name: "web" })] }) });
        router.service(JobService, {
          listJobs(req) {
            requests.push(req);
            return {
              jobs: [
                scale({ id: "j2", status: JobStatus.RUNNING, progress: 20 }),
                scale({ id: "j1", status: JobStatus.SUCCEEDED, progress: 100 }),
              ],
            };
          },
        });
      },
    });
    const rows = await screen.findAllByTestId("job-row");
    expect(rows.map((r) => r.dataset.jobId)).toEqual(["j2", "j1"]);
    expect(within(rows[0]!).getByText("web")).toBeInTheDocument();
    expect(within(rows[0]!).getByRole("progressbar")).toHaveAttribute("aria-valuenow", "20");
    expect(screen.queryByTestId("jobs-new-resize")).toBeNull();

    await user.selectOptions(screen.getByTestId("jobs-filter-status"), String(JobStatus.FAILED));
    await user.selectOptions(screen.getByTestId("jobs-filter-kind"), String(JobKind.RESIZE_DROPLET));
    await waitFor(() =>
      expect(requests.at(-1)).toMatchObject({ status: JobStatus.FAILED, kind: JobKind.RESIZE_DROPLET, pageToken: "" }),
    );
  });

  it("queues a RESIZE_DROPLET job for a chosen droplet", async () => {
    const created: CreateJobRequest[] = [];
    const { user, location } = renderApp({
      session: SESSIONS.operator,
      path: "/jobs",
      routes: (router) => {
        catalog(router);
        router.service(ClusterService, { listClusters: () => ({ clusters: [cluster({ id: "c1", name: "web" })] }) });
        router.service(DropletService, {
          listDroplets: ({ clusterId }) => ({
            droplets: clusterId === "c1" ? [droplet({ id: "d1", name: "web-1", clusterId: "c1", size: "s-1vcpu-1gb" })] : [],
          }),
        });
        router.service(JobService, {
          listJobs: () => ({ jobs: [] }),
          createJob(req) {
            created.push(req);
            return { job: job({ id: "j7", kind: JobKind.RESIZE_DROPLET }) };
          },
          async *watchJob() {
            yield { job: job({ id: "j7", kind: JobKind.RESIZE_DROPLET, status: JobStatus.QUEUED }) };
          },
        });
      },
    });
    await user.click(await screen.findByTestId("jobs-new-resize"));
    await waitFor(() => expect(within(screen.getByTestId("resize-job-cluster")).getByRole("option", { name: "web" })).toBeInTheDocument());
    await user.selectOptions(screen.getByTestId("resize-job-cluster"), "c1");
    await waitFor(() => expect(within(screen.getByTestId("resize-job-droplet")).getByRole("option", { name: /web-1/ })).toBeInTheDocument());
    await user.selectOptions(screen.getByTestId("resize-job-droplet"), "d1");
    // The current size is not offered.
    await waitFor(() => expect(screen.getByTestId("resize-job-size")).toHaveValue("s-2vcpu-2gb"));
    await user.click(screen.getByTestId("resize-job-submit"));
    await waitFor(() => expect(location.history.at(-1)).toBe("/jobs/j7"));
    expect(created[0]).toMatchObject({
      clusterId: "c1",
      action: { action: { case: "resizeDroplet", value: { dropletId: "d1", size: "s-2vcpu-2gb" } } },
    });
  });
});
