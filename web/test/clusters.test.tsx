import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import {
  ClusterHealth,
  ClusterService,
  CostSchema,
  DropletService,
  type Cluster,
  type CreateClusterRequest,
} from "../src/gen/clustergenie/provisioning/v1/provisioning_pb";
import { JobKind, JobService, type CreateJobRequest } from "../src/gen/clustergenie/jobs/v1/jobs_pb";
import { BadRequestSchema } from "../src/gen/google/rpc/error_details_pb";
import { catalog, cluster, droplet, job, renderApp, SESSIONS } from "./harness";

describe("clusters", () => {
  it("creates a cluster from the form values and lists it", async () => {
    const clusters: Cluster[] = [cluster({ id: "c0", name: "old" })];
    const calls: CreateClusterRequest[] = [];
    const { user } = renderApp({
      session: SESSIONS.operator,
      path: "/clusters",
      routes: (router) => {
        catalog(router);
        router.service(ClusterService, {
          listClusters: () => ({ clusters }),
          createCluster(req) {
            calls.push(req);
            const c = cluster({ id: "c1", name: req.name, region: req.region, description: req.description });
            clusters.push(c);
            return { cluster: c };
          },
        });
      },
    });

    expect(await screen.findAllByTestId("cluster-row")).toHaveLength(1);
    await user.type(screen.getByTestId("cluster-name"), "web");
    // Regions come from CatalogService.ListRegions.
    await waitFor(() => expect(screen.getByRole("option", { name: /Amsterdam 3/ })).toBeInTheDocument());
    await user.selectOptions(screen.getByTestId("cluster-region"), "ams3");
    await user.type(screen.getByTestId("cluster-description"), "front end");
    await user.click(screen.getByTestId("cluster-submit"));

    await waitFor(() => expect(screen.getAllByTestId("cluster-row")).toHaveLength(2));
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ name: "web", region: "ams3", description: "front end" });
    expect(calls[0]!.requestId).toMatch(/^[0-9a-f-]{36}$/);
    const row = screen.getAllByTestId("cluster-row").find((r) => r.dataset.clusterName === "web")!;
    expect(within(row).getByText("ams3")).toBeInTheDocument();
    expect(screen.getByTestId("cluster-created")).toHaveTextContent("web");
    // The form is cleared for the next one.
    expect(screen.getByTestId("cluster-name")).toHaveValue("");
  });

  it("shows each cluster's health from monitoring's checks on the list and its page", async () => {
    let health = ClusterHealth.HEALTHY;
    const { user } = renderApp({
      session: SESSIONS.viewer,
      path: "/clusters",
      routes: (router) => {
        router.service(ClusterService, {
          listClusters: () => ({
            clusters: [cluster({ id: "c1", name: "web", health: ClusterHealth.DEGRADED }), cluster({ id: "c2", name: "db" })],
          }),
          getCluster: () => ({ cluster: cluster({ id: "c1", name: "web", health }) }),
        });
        router.service(DropletService, { listDroplets: () => ({ droplets: [] }) });
      },
    });

    const rows = await screen.findAllByTestId("cluster-row");
    expect(rows.map((r) => within(r).getByTestId("cluster-health").dataset.health)).toEqual(["degraded", "unknown"]);
    health = ClusterHealth.UNHEALTHY;
    await user.click(within(rows[0]!).getByTestId("cluster-link"));
    const badge = await screen.findByTestId("cluster-health");
    expect(badge).toHaveAttribute("data-health", "unhealthy");
    expect(badge.closest("a")).toHaveAttribute("href", "/monitoring/checks?cluster=c1");
  });

  it("shows BadRequest field violations next to their fields", async () => {
    const { user } = renderApp({
      session: SESSIONS.operator,
      path: "/clusters",
      routes: (router) => {
        catalog(router);
        router.service(ClusterService, {
          listClusters: () => ({ clusters: [] }),
          createCluster() {
            throw new ConnectError("invalid cluster", Code.InvalidArgument, undefined, [
              {
                desc: BadRequestSchema,
                value: {
                  fieldViolations: [
                    { field: "name", description: "must be a DNS label: lowercase letters, digits and '-'" },
                    { field: "region", description: "unknown region 'mars1'" },
                    { field: "tags[3]", description: "at most 3 tags" },
                  ],
                },
              },
            ]);
          },
        });
      },
    });
    await user.type(await screen.findByTestId("cluster-name"), "Bad Name!");
    await user.click(screen.getByTestId("cluster-submit"));

    expect(await screen.findByTestId("field-error-name")).toHaveTextContent("must be a DNS label");
    expect(screen.getByTestId("field-error-region")).toHaveTextContent("unknown region 'mars1'");
    expect(screen.queryByTestId("field-error-description")).toBeNull();
    // A violation no field shows goes into the banner.
    expect(screen.getByTestId("error-message")).toHaveTextContent("tags[3]: at most 3 tags");
    // The name input is the one marked invalid.
    expect(screen.getByTestId("cluster-name").closest(".field")).toHaveClass("field--invalid");
    expect(screen.getByTestId("cluster-description").closest(".field")).not.toHaveClass("field--invalid");
  });

  it("shows a cluster's droplets and cost, and 'scale to N' queues a SCALE_CLUSTER job and opens it", async () => {
    const jobs: CreateJobRequest[] = [];
    const { user, location } = renderApp({
      session: SESSIONS.operator,
      path: "/clusters/c1",
      routes: (router) => {
        catalog(router);
        router.service(ClusterService, {
          getCluster: ({ id }) => ({
            cluster: cluster({
              id,
              name: "web",
              dropletCount: 1,
              cost: create(CostSchema, { monthlyCents: 1200n, hourlyMicros: 17860n, currency: "USD" }),
            }),
          }),
        });
        router.service(DropletService, {
          listDroplets: ({ clusterId }) => ({
            droplets: clusterId === "c1" ? [droplet({ id: "d1", name: "web-1", clusterId: "c1", clusterName: "web" })] : [],
          }),
        });
        router.service(JobService, {
          createJob(req) {
            jobs.push(req);
            return { job: job({ id: "j42", clusterId: req.clusterId, kind: JobKind.SCALE_CLUSTER, action: req.action }) };
          },
          async *watchJob() {
            yield { job: job({ id: "j42", kind: JobKind.SCALE_CLUSTER, status: 1 }) };
          },
        });
      },
    });

    expect(await screen.findByTestId("cluster-cost")).toHaveTextContent("$12.00");
    expect(screen.getByTestId("cluster-droplet-count")).toHaveTextContent("1");
    expect(await screen.findAllByTestId("cluster-droplet-row")).toHaveLength(1);

    // Sizes offered are the cluster region's (nyc1 has two).
    await waitFor(() => expect(within(screen.getByTestId("scale-size")).getAllByRole("option")).toHaveLength(2));
    await user.clear(screen.getByTestId("scale-count"));
    await user.type(screen.getByTestId("scale-count"), "3");
    await user.selectOptions(screen.getByTestId("scale-size"), "s-2vcpu-2gb");
    await user.click(screen.getByTestId("scale-submit"));

    await waitFor(() => expect(location.history.at(-1)).toBe("/jobs/j42"));
    expect(jobs).toHaveLength(1);
    expect(jobs[0]!.clusterId).toBe("c1");
    expect(jobs[0]!.requestId).not.toBe("");
    expect(jobs[0]!.action?.action).toMatchObject({
      case: "scaleCluster",
      value: { targetCount: 3, size: "s-2vcpu-2gb", image: "ubuntu-24-04-x64" },
    });
    expect(await screen.findByTestId("job-detail")).toHaveAttribute("data-job-id", "j42");
  });

  it("deletes a cluster with droplets only with force", async () => {
    const deletes: { id: string; force: boolean }[] = [];
    const { user, location } = renderApp({
      session: SESSIONS.operator,
      path: "/clusters/c1",
      routes: (router) => {
        catalog(router);
        router.service(ClusterService, {
          getCluster: ({ id }) => ({ cluster: cluster({ id, name: "web", dropletCount: 2 }) }),
          listClusters: () => ({ clusters: [] }),
          deleteCluster(req) {
            deletes.push({ id: req.id, force: req.force });
            return { destroyedDroplets: 2 };
          },
        });
        router.service(DropletService, { listDroplets: () => ({ droplets: [] }) });
      },
    });
    await user.click(await screen.findByTestId("cluster-delete"));
    expect(screen.getByTestId("cluster-delete-confirm")).toBeDisabled();
    await user.click(screen.getByTestId("cluster-delete-force"));
    await user.click(screen.getByTestId("cluster-delete-confirm"));
    await waitFor(() => expect(location.history.at(-1)).toBe("/clusters"));
    expect(deletes).toEqual([{ id: "c1", force: true }]);
  });

  it("shows viewers no scale or delete controls", async () => {
    renderApp({
      session: SESSIONS.viewer,
      path: "/clusters/c1",
      routes: (router) => {
        catalog(router);
        router.service(ClusterService, { getCluster: ({ id }) => ({ cluster: cluster({ id, name: "web" }) }) });
        router.service(DropletService, { listDroplets: () => ({ droplets: [] }) });
      },
    });
    expect(await screen.findByTestId("cluster-detail")).toBeInTheDocument();
    expect(screen.queryByTestId("scale-form")).toBeNull();
    expect(screen.queryByTestId("cluster-delete")).toBeNull();
  });
});
