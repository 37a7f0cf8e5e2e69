import { screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import {
  ActionStatus,
  ActionType,
  ClusterService,
  DropletActionSchema,
  DropletActionService,
  DropletService,
  type CreateDropletActionRequest,
  type CreateDropletRequest,
  type ListDropletsRequest,
} from "../src/gen/clustergenie/provisioning/v1/provisioning_pb";
import { catalog, cluster, droplet, gate, renderApp, SESSIONS } from "./harness";

const CLUSTERS = [cluster({ id: "c1", name: "web", region: "nyc1" }), cluster({ id: "c2", name: "db", region: "ams3" })];
const ALL = [
  droplet({ id: "d1", name: "web-1", clusterId: "c1", clusterName: "web" }),
  droplet({ id: "d2", name: "web-2", clusterId: "c1", clusterName: "web" }),
  droplet({ id: "d3", name: "db-1", clusterId: "c2", clusterName: "db", region: "ams3" }),
];

/** Serves ALL (filtered by cluster) two per page, with "p<offset>" tokens. */
function paged(requests: ListDropletsRequest[]) {
  return (req: ListDropletsRequest) => {
    requests.push(req);
    const rows = ALL.filter((d) => !req.clusterId || d.clusterId === req.clusterId);
    const offset = req.pageToken ? Number(req.pageToken.slice(1)) : 0;
    const size = 2;
    const next = offset + size < rows.length ? `p${offset + size}` : "";
    return { droplets: rows.slice(offset, offset + size), nextPageToken: next };
  };
}

describe("droplets", () => {
  it("lists droplets with their cluster badges and paginates with page tokens", async () => {
    const requests: ListDropletsRequest[] = [];
    const { user } = renderApp({
      session: SESSIONS.viewer,
      path: "/droplets",
      routes: (router) => {
        catalog(router);
        router.service(ClusterService, { listClusters: () => ({ clusters: CLUSTERS }) });
        router.service(DropletService, { listDroplets: paged(requests) });
      },
    });

    const names = () => screen.getAllByTestId("droplet-row").map((r) => r.dataset.dropletName);
    await waitFor(() => expect(names()).toEqual(["web-1", "web-2"]));
    const badges = screen.getAllByTestId("droplet-cluster-badge").map((b) => b.textContent);
    expect(badges).toEqual(["web", "web"]);
    // Viewers get no action buttons.
    expect(screen.queryByTestId("droplet-actions")).toBeNull();
    expect(screen.getByTestId("droplets-pager-prev")).toBeDisabled();

    await user.click(screen.getByTestId("droplets-pager-next"));
    await waitFor(() => expect(names()).toEqual(["db-1"]));
    expect(requests.at(-1)!.pageToken).toBe("p2");
    expect(within(screen.getByTestId("droplet-row")).getByTestId("droplet-cluster-badge")).toHaveTextContent("db");
    expect(screen.getByTestId("droplets-pager-next")).toBeDisabled();

    // Back to the first page (page_token ""), which is still fresh in the query cache: no new call.
    const sent = requests.length;
    await user.click(screen.getByTestId("droplets-pager-prev"));
    await waitFor(() => expect(names()).toEqual(["web-1", "web-2"]));
    expect(requests).toHaveLength(sent);
    expect(screen.getByTestId("droplets-pager-prev")).toBeDisabled();

    // Filtering by cluster sends cluster_id and starts from the first page.
    await user.selectOptions(screen.getByTestId("droplets-filter-cluster"), "c2");
    await waitFor(() => expect(names()).toEqual(["db-1"]));
    expect(requests.at(-1)).toMatchObject({ clusterId: "c2", pageToken: "" });
  });

  it("creates a droplet in a cluster with sizes limited to the cluster's region", async () => {
    const creates: CreateDropletRequest[] = [];
    const { user } = renderApp({
      session: SESSIONS.operator,
      path: "/droplets",
      routes: (router) => {
        catalog(router);
        router.service(ClusterService, { listClusters: () => ({ clusters: CLUSTERS }) });
        router.service(DropletService, {
          listDroplets: () => ({ droplets: [] }),
          createDroplet(req) {
            creates.push(req);
            return { droplet: droplet({ id: "d9", name: req.name, clusterId: req.clusterId }) };
          },
        });
      },
    });
    await waitFor(() => expect(within(screen.getByTestId("droplet-cluster")).getByRole("option", { name: "db" })).toBeInTheDocument());
    await user.selectOptions(screen.getByTestId("droplet-cluster"), "c2");
    expect(screen.getByTestId("droplet-region")).toHaveValue("ams3");
    // ams3 offers only s-1vcpu-1gb.
    await waitFor(() =>
      expect(within(screen.getByTestId("droplet-size")).getAllByRole("option").map((o) => (o as HTMLOptionElement).value)).toEqual(["s-1vcpu-1gb"]),
    );
    await user.type(screen.getByTestId("droplet-name"), "db-2");
    await user.click(screen.getByTestId("droplet-submit"));
    await waitFor(() => expect(creates).toHaveLength(1));
    expect(creates[0]).toMatchObject({ clusterId: "c2", name: "db-2", size: "s-1vcpu-1gb", image: "ubuntu-24-04-x64" });
  });

  it("resizes a droplet through CreateDropletAction and shows the action's live status", async () => {
    const actions: CreateDropletActionRequest[] = [];
    const done = gate();
    const { user } = renderApp({
      session: SESSIONS.operator,
      path: "/droplets",
      routes: (router) => {
        catalog(router);
        router.service(ClusterService, { listClusters: () => ({ clusters: CLUSTERS }) });
        router.service(DropletService, { listDroplets: () => ({ droplets: [ALL[0]!] }) });
        router.service(DropletActionService, {
          createDropletAction(req) {
            actions.push(req);
            return {
              action: create(DropletActionSchema, {
                id: "a1",
                dropletId: req.dropletId,
                type: req.type,
                status: ActionStatus.IN_PROGRESS,
              }),
            };
          },
          async *watchDropletAction(req, ctx) {
            const a = create(DropletActionSchema, { id: req.id, type: ActionType.RESIZE, status: ActionStatus.IN_PROGRESS });
            yield { action: a };
            await Promise.race([done.p, gate(ctx.signal).p]);
            yield { action: { ...a, status: ActionStatus.COMPLETED } };
          },
        });
      },
    });

    const row = await screen.findByTestId("droplet-row");
    await user.click(within(row).getByTestId("droplet-more"));
    await waitFor(() => expect(within(row).getByTestId("droplet-resize-size")).toHaveValue("s-2vcpu-2gb"));
    await user.click(within(row).getByTestId("droplet-action-resize"));

    const status = await within(row).findByTestId("droplet-action-status");
    await waitFor(() => expect(status).toHaveTextContent("resize: in progress"));
    expect(within(row).getByTestId("droplet-action-reboot")).toBeDisabled();
    expect(actions).toHaveLength(1);
    expect(actions[0]).toMatchObject({ dropletId: "d1", type: ActionType.RESIZE, params: { case: "resize", value: { size: "s-2vcpu-2gb" } } });
    expect(actions[0]!.requestId).not.toBe("");

    done.open();
    await waitFor(() => expect(within(row).getByTestId("droplet-action-status")).toHaveTextContent("resize: completed"));
    expect(within(row).getByTestId("droplet-action-reboot")).toBeEnabled();
  });
});
