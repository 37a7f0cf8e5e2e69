import { Code, ConnectError } from "@connectrpc/connect";
import { screen, waitFor } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { ClusterService } from "../src/gen/clustergenie/provisioning/v1/provisioning_pb";
import { RetryInfoSchema } from "../src/gen/google/rpc/error_details_pb";
import { createQuotaStore } from "../src/lib/ratelimit";
import { toUiError } from "../src/lib/errors";
import { catalog, cluster, renderApp, SESSIONS } from "./harness";

describe("rate limits", () => {
  it("feeds the quota indicator from response headers and shows the friendly RESOURCE_EXHAUSTED message", async () => {
    let calls = 0;
    const { user } = renderApp({
      session: SESSIONS.viewer,
      path: "/clusters",
      routes: (router) => {
        catalog(router);
        router.service(ClusterService, {
          listClusters(_req, ctx) {
            calls++;
            if (calls <= 2) {
              ctx.responseHeader.set("ratelimit-limit", "10");
              ctx.responseHeader.set("ratelimit-remaining", String(9 - calls));
              ctx.responseHeader.set("ratelimit-reset", "30");
              return { clusters: [cluster({ id: "c1", name: "web" })] };
            }
            throw new ConnectError(
              "rate limit exceeded",
              Code.ResourceExhausted,
              { "ratelimit-limit": "10", "ratelimit-remaining": "0", "ratelimit-reset": "12", "retry-after": "12" },
              [{ desc: RetryInfoSchema, value: { retryDelay: { seconds: 12n } } }],
            );
          },
        });
      },
    });

    await waitFor(() =>
      expect(screen.getByTestId("quota-indicator")).toHaveTextContent("8 of 10 requests left, resets in 30 s"),
    );
    await user.click(screen.getByTestId("clusters-refresh"));
    await waitFor(() =>
      expect(screen.getByTestId("quota-indicator")).toHaveTextContent("7 of 10 requests left"),
    );
    expect(screen.queryByTestId("rate-limit-message")).toBeNull();

    await user.click(screen.getByTestId("clusters-refresh"));
    expect(await screen.findByTestId("rate-limit-message")).toHaveTextContent(
      /You're going too fast — try again in 1[12] s/,
    );
    expect(screen.getByTestId("quota-indicator")).toHaveTextContent(/^0 of 10 requests left, resets in 1[12] s$/);
    expect(screen.getByTestId("quota-indicator")).toHaveClass("quota--blocked");
  });
});

describe("a list that never loaded", () => {
  it("says it could not load instead of claiming there are no clusters", async () => {
    renderApp({
      session: SESSIONS.viewer,
      path: "/clusters",
      routes: (router) => {
        catalog(router);
        router.service(ClusterService, {
          listClusters() {
            throw new ConnectError("rate limit exceeded", Code.ResourceExhausted, { "retry-after": "9" });
          },
        });
      },
    });
    expect(await screen.findByText("Clusters could not be loaded.")).toBeInTheDocument();
    expect(screen.queryByTestId("clusters-empty")).toBeNull();
    expect(screen.getByTestId("rate-limit-message")).toHaveTextContent("try again in 9 s");
  });
});

describe("quota store", () => {
  it("parses the ratelimit headers and ignores answers without them", () => {
    let now = 1_000_000;
    const q = createQuotaStore(() => now);
    q.observe(new Headers());
    expect(q.get().quota).toBeNull();
    q.observe(new Headers({ "ratelimit-limit": "100", "ratelimit-remaining": "42", "ratelimit-reset": "5" }));
    expect(q.get().quota).toEqual({ limit: 100, remaining: 42, resetAt: now + 5000 });
    now += 1000;
    q.observe(new Headers({ "ratelimit-remaining": "0", "retry-after": "3" }));
    expect(q.get()).toEqual({ quota: { limit: 100, remaining: 0, resetAt: 1_005_000 }, blockedUntil: now + 3000 });
  });
});

describe("toUiError", () => {
  it("falls back to the retry-after header without RetryInfo", () => {
    const e = new ConnectError("slow down", Code.ResourceExhausted, { "retry-after": "7" });
    expect(toUiError(e)).toMatchObject({ kind: "rate-limited", retryAfterSeconds: 7, message: "You're going too fast — try again in 7 s." });
  });
  it("prefers RetryInfo and rounds nanos up", () => {
    const e = new ConnectError("slow down", Code.ResourceExhausted, { "retry-after": "7" }, [
      { desc: RetryInfoSchema, value: { retryDelay: { seconds: 2n, nanos: 300_000_000 } } },
    ]);
    expect(toUiError(e).retryAfterSeconds).toBe(3);
  });
  it("maps other codes", () => {
    expect(toUiError(new ConnectError("x", Code.PermissionDenied)).kind).toBe("permission");
    expect(toUiError(new ConnectError("x", Code.Unauthenticated)).kind).toBe("unauthenticated");
    expect(toUiError(new ConnectError("has droplets", Code.FailedPrecondition)).message).toBe("has droplets");
  });
});
