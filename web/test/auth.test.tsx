import { Code, ConnectError } from "@connectrpc/connect";
import { screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { TokenService, TokenSchema } from "../src/gen/clustergenie/gateway/v1/gateway_pb";
import { ClusterService } from "../src/gen/clustergenie/provisioning/v1/provisioning_pb";
import { create } from "@bufbuild/protobuf";
import { catalog, cluster, renderApp, Role, SESSIONS } from "./harness";

const TOKENS: Record<string, { name: string; role: Role }> = {
  cgt_viewer: { name: "alice-viewer", role: Role.VIEWER },
  cgt_operator: { name: "olga-operator", role: Role.OPERATOR },
  cgt_admin: { name: "root-admin", role: Role.ADMIN },
};

function bearer(h: Headers) {
  return h.get("authorization")?.replace(/^Bearer /, "") ?? "";
}

describe("sign-in", () => {
  function routes(seen: string[]) {
    return (router: Parameters<typeof catalog>[0]) => {
      catalog(router);
      router.service(TokenService, {
        whoAmI(_req, ctx) {
          const t = TOKENS[bearer(ctx.requestHeader)];
          if (!t) throw new ConnectError("invalid token", Code.Unauthenticated);
          return { token: create(TokenSchema, { id: "t1", ...t, prefix: "cgt_" }) };
        },
      });
      router.service(ClusterService, {
        listClusters(_req, ctx) {
          seen.push(ctx.requestHeader.get("authorization") ?? "");
          return { clusters: [cluster({ id: "c1", name: "web" })] };
        },
      });
    };
  }

  it("stores the viewer's token and role, sends it as a bearer token, and hides mutation controls", async () => {
    const seen: string[] = [];
    const { user, location } = renderApp({ routes: routes(seen), path: "/clusters" });

    await user.type(screen.getByTestId("signin-token"), "cgt_viewer");
    await user.click(screen.getByTestId("signin-submit"));

    expect(await screen.findByTestId("whoami")).toHaveAttribute("data-role", "viewer");
    const stored = JSON.parse(sessionStorage.getItem("clustergenie.session") ?? "{}");
    expect(stored).toMatchObject({ token: "cgt_viewer", role: Role.VIEWER, name: "alice-viewer" });

    expect(await screen.findByTestId("cluster-row")).toHaveTextContent("web");
    expect(seen).toContain("Bearer cgt_viewer");
    expect(screen.queryByTestId("create-cluster-form")).toBeNull();
    expect(screen.getByTestId("read-only-note")).toBeInTheDocument();
    expect(screen.queryByTestId("nav-tokens")).toBeNull();
    expect(location.history.at(-1)).toBe("/clusters");
  });

  it("shows the create form to an operator and the admin pages to an admin", async () => {
    const seen: string[] = [];
    const op = renderApp({ routes: routes(seen), path: "/clusters", session: SESSIONS.operator });
    expect(await op.findByTestId("create-cluster-form")).toBeInTheDocument();
    expect(op.queryByTestId("nav-tokens")).toBeNull();
    op.unmount();

    const admin = renderApp({ routes: routes(seen), path: "/clusters", session: SESSIONS.admin });
    expect(await admin.findByTestId("nav-tokens")).toBeInTheDocument();
    expect(admin.getByTestId("nav-rate-limits")).toBeInTheDocument();
  });

  it("refuses a wrong token and stores nothing", async () => {
    const { user } = renderApp({ routes: routes([]) });
    await user.type(screen.getByTestId("signin-token"), "cgt_nope");
    await user.click(screen.getByTestId("signin-submit"));
    expect(await screen.findByTestId("error-message")).toHaveTextContent(/not valid/);
    expect(sessionStorage.getItem("clustergenie.session")).toBeNull();
    expect(screen.queryByTestId("whoami")).toBeNull();
  });

  it("goes back to sign-in when a call answers UNAUTHENTICATED (revoked token)", async () => {
    const { auth } = renderApp({
      session: SESSIONS.operator,
      path: "/clusters",
      routes: (router) => {
        catalog(router);
        router.service(ClusterService, {
          listClusters() {
            throw new ConnectError("token revoked", Code.Unauthenticated);
          },
        });
      },
    });
    expect(await screen.findByTestId("signin-notice")).toHaveTextContent(/session ended/);
    expect(auth.get().session).toBeNull();
    expect(sessionStorage.getItem("clustergenie.session")).toBeNull();
  });

  it("signs out", async () => {
    const { user } = renderApp({ routes: routes([]), session: SESSIONS.viewer, path: "/clusters" });
    await user.click(await screen.findByTestId("signout"));
    expect(screen.getByTestId("signin-form")).toBeInTheDocument();
    expect(sessionStorage.getItem("clustergenie.session")).toBeNull();
  });

  it("shows PERMISSION_DENIED as a clear message", async () => {
    renderApp({
      session: SESSIONS.viewer,
      path: "/clusters",
      routes: (router) => {
        catalog(router);
        router.service(ClusterService, {
          listClusters() {
            throw new ConnectError("role viewer may not", Code.PermissionDenied);
          },
        });
      },
    });
    const msg = await screen.findByTestId("error-message");
    expect(within(msg).getByText(/role does not allow/)).toBeInTheDocument();
  });
});

describe("session restore", () => {
  it("restores the session from sessionStorage", async () => {
    sessionStorage.setItem("clustergenie.session", JSON.stringify(SESSIONS.admin));
    renderApp({ routes: (r) => catalog(r), path: "/diagnosis" });
    await waitFor(() => expect(screen.getByTestId("whoami")).toHaveAttribute("data-role", "admin"));
    expect(await screen.findByRole("heading", { name: "Diagnosis" }, { timeout: 4000 })).toBeInTheDocument();
  });
});
