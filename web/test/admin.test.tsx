import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import {
  RateLimitService,
  Role,
  TokenSchema,
  TokenService,
  type RateLimit,
  type Token,
  type UpdateRateLimitsRequest,
} from "../src/gen/clustergenie/gateway/v1/gateway_pb";
import { catalog, renderApp, SESSIONS } from "./harness";

describe("admin", () => {
  it("creates a token, shows its secret once, and revokes tokens", async () => {
    const tokens: Token[] = [create(TokenSchema, { id: "t1", name: "root-admin", role: Role.ADMIN, prefix: "cgt_root" })];
    const revoked: string[] = [];
    const { user } = renderApp({
      session: SESSIONS.admin,
      path: "/admin/tokens",
      routes: (router) => {
        catalog(router);
        router.service(TokenService, {
          listTokens: (req) => ({ tokens: tokens.filter((t) => req.includeRevoked || !t.revokeTime) }),
          createToken(req) {
            const t = create(TokenSchema, { id: "t2", name: req.name, role: req.role, prefix: "cgt_new1" });
            tokens.push(t);
            return { token: t, secret: "cgt_new1-very-secret" };
          },
          revokeToken(req) {
            revoked.push(req.id);
            const t = tokens.find((x) => x.id === req.id)!;
            t.revokeTime = timestampNow();
            return { token: t };
          },
        });
      },
    });
    expect(await screen.findAllByTestId("token-row")).toHaveLength(1);
    await user.type(screen.getByTestId("token-name"), "ci-bot");
    await user.selectOptions(screen.getByTestId("token-role"), String(Role.OPERATOR));
    await user.click(screen.getByTestId("token-submit"));

    expect(await screen.findByTestId("token-secret")).toHaveTextContent("cgt_new1-very-secret");
    await waitFor(() => expect(screen.getAllByTestId("token-row")).toHaveLength(2));
    const row = screen.getAllByTestId("token-row").find((r) => r.dataset.tokenName === "ci-bot")!;
    expect(row).toHaveTextContent("operator");
    // Shown once: dismissed, it is gone for good.
    await user.click(screen.getByTestId("token-secret-dismiss"));
    expect(screen.queryByText("cgt_new1-very-secret")).toBeNull();

    await user.click(within(row).getByTestId("token-revoke"));
    await waitFor(() => expect(revoked).toEqual(["t2"]));
    await waitFor(() => expect(screen.getAllByTestId("token-row")).toHaveLength(1));
  });

  it("updates rate limits", async () => {
    let limits: RateLimit[] = [
      { $typeName: "clustergenie.gateway.v1.RateLimit", tier: "default", requests: 100, periodSeconds: 60 },
      { $typeName: "clustergenie.gateway.v1.RateLimit", tier: "expensive", requests: 10, periodSeconds: 60 },
    ];
    const updates: UpdateRateLimitsRequest[] = [];
    const { user } = renderApp({
      session: SESSIONS.admin,
      path: "/admin/rate-limits",
      routes: (router) => {
        catalog(router);
        router.service(RateLimitService, {
          getRateLimits: () => ({ limits }),
          updateRateLimits(req) {
            updates.push(req);
            limits = req.limits;
            return { limits };
          },
        });
      },
    });
    const input = await screen.findByTestId("ratelimit-expensive-requests");
    expect(input).toHaveValue(10);
    await user.clear(input);
    await user.type(input, "3");
    await user.click(screen.getByTestId("ratelimits-save"));
    expect(await screen.findByTestId("ratelimits-saved")).toBeInTheDocument();
    expect(updates[0]!.limits.map((l) => [l.tier, l.requests, l.periodSeconds])).toEqual([
      ["default", 100, 60],
      ["expensive", 3, 60],
    ]);
  });

  it("keeps the admin pages from operators", async () => {
    renderApp({ session: SESSIONS.operator, path: "/admin/tokens", routes: (r) => catalog(r) });
    expect(await screen.findByText("This page is for admins.")).toBeInTheDocument();
    expect(screen.queryByTestId("create-token-form")).toBeNull();
  });
});
