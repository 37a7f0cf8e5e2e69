// An activity entry links its trace when the gateway names a trace UI in
// /config.json (`{"traceUrl": "…/trace/{trace_id}"}`): the template and the
// id are checked (traceLink), a missing, null or malformed config means no
// link and no error, on the Activity page and on the overview.
import { act, configure, screen, waitFor, within } from "@testing-library/react";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { fetchDashboardConfig, parseDashboardConfig, traceLink } from "../src/lib/dashboardConfig";
import { SESSIONS } from "./harness";
import { entry, monitoringFake, openMonitoring } from "./monitoring-fixtures";
import { openOverview, overviewFake } from "./overview-fixtures";

// The monitoring section is loaded lazily; its first import can take a moment.
beforeAll(() => configure({ asyncUtilTimeout: 4000 }));

const JAEGER = "http://localhost:16686/trace/{trace_id}";
const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const OTHER = "0af7651916cd43dd8448eb211c80319c";

/** `fetch` answering `/config.json` with `res` (a fresh copy each call); records what was asked. */
function serveConfig(res: () => Response) {
  const fetch = vi.fn<typeof globalThis.fetch>(async () => res());
  vi.stubGlobal("fetch", fetch);
  return fetch;
}

const json = (body: unknown, status = 200) => () =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

describe("traceLink", () => {
  it("fills a configured template with the trace id, everywhere it appears", () => {
    expect(traceLink(JAEGER, TRACE)).toBe(`http://localhost:16686/trace/${TRACE}`);
    expect(traceLink("https://tempo.example/explore?trace={trace_id}&again={trace_id}", TRACE)).toBe(
      `https://tempo.example/explore?trace=${TRACE}&again=${TRACE}`,
    );
    expect(traceLink("/jaeger/trace/{trace_id}", TRACE)).toBe(`/jaeger/trace/${TRACE}`);
  });

  it("gives nothing without a template", () => {
    expect(traceLink(undefined, TRACE)).toBeUndefined();
    expect(traceLink(null, TRACE)).toBeUndefined();
    expect(traceLink("", TRACE)).toBeUndefined();
  });

  it("gives nothing for a malformed template (no placeholder, not http(s))", () => {
    expect(traceLink("http://localhost:16686/trace/", TRACE)).toBeUndefined();
    expect(traceLink("http://localhost:16686/trace/{traceId}", TRACE)).toBeUndefined();
    expect(traceLink("javascript:alert('{trace_id}')", TRACE)).toBeUndefined();
    expect(traceLink("data:text/html,{trace_id}", TRACE)).toBeUndefined();
  });

  it("gives nothing for an id that is not a W3C trace id", () => {
    expect(traceLink(JAEGER, "")).toBeUndefined();
    expect(traceLink(JAEGER, TRACE.toUpperCase())).toBeUndefined();
    expect(traceLink(JAEGER, TRACE.slice(1))).toBeUndefined();
    expect(traceLink(JAEGER, TRACE + "0")).toBeUndefined();
    expect(traceLink(JAEGER, "4bf92f3577b34da6a3ce929d0e0e473g")).toBeUndefined();
    expect(traceLink(JAEGER, "../../../admin/4bf92f3577b34da6a3")).toBeUndefined();
    expect(traceLink(JAEGER, "0".repeat(32))).toBeUndefined();
  });
});

describe("/config.json", () => {
  it("reads a string template containing {trace_id}; anything else is no trace UI", () => {
    expect(parseDashboardConfig({ traceUrl: JAEGER })).toEqual({ traceUrl: JAEGER });
    expect(parseDashboardConfig({ traceUrl: null })).toEqual({ traceUrl: null });
    expect(parseDashboardConfig({})).toEqual({ traceUrl: null });
    expect(parseDashboardConfig({ traceUrl: 42 })).toEqual({ traceUrl: null });
    expect(parseDashboardConfig({ traceUrl: "http://localhost:16686/" })).toEqual({ traceUrl: null });
    expect(parseDashboardConfig(null)).toEqual({ traceUrl: null });
    expect(parseDashboardConfig([JAEGER])).toEqual({ traceUrl: null });
  });

  it("is fetched from the page's origin; a 404, an HTML page or a server error mean no trace UI", async () => {
    const fetch = serveConfig(json({ traceUrl: JAEGER }));
    await expect(fetchDashboardConfig()).resolves.toEqual({ traceUrl: JAEGER });
    expect(fetch.mock.calls[0]![0]).toBe("/config.json");

    serveConfig(() => new Response("not found", { status: 404 }));
    await expect(fetchDashboardConfig()).resolves.toEqual({ traceUrl: null });
    // An older gateway answers any unknown path with index.html.
    serveConfig(() => new Response("<!doctype html><html></html>", { status: 200, headers: { "content-type": "text/html" } }));
    await expect(fetchDashboardConfig()).resolves.toEqual({ traceUrl: null });
    serveConfig(json({ traceUrl: JAEGER }, 500));
    await expect(fetchDashboardConfig()).resolves.toEqual({ traceUrl: null });
  });
});

/** Resolves once the stubbed fetch has answered and React has rendered what came of it. */
async function configSettled(fetch: ReturnType<typeof serveConfig>) {
  await waitFor(() => expect(fetch).toHaveBeenCalled());
  await act(async () => {
    await fetch.mock.results[0]!.value;
  });
}

function openActivity() {
  const fake = monitoringFake();
  fake.activity.push(
    entry(1, { traceId: TRACE, jobId: "j1" }),
    entry(2), // no trace id
    entry(3, { traceId: OTHER }),
  );
  return openMonitoring("/monitoring/activity?cluster=c1", SESSIONS.viewer, fake);
}

const row = (id: string) => screen.getAllByTestId("activity-row").find((r) => r.dataset.id === id)!;

describe("activity rows link their trace", () => {
  it("when /config.json names a trace UI, each entry with a trace id links it (new tab), the others do not", async () => {
    const fetch = serveConfig(json({ traceUrl: JAEGER }));
    openActivity();
    await waitFor(() => expect(screen.getAllByTestId("activity-row")).toHaveLength(3));
    const link = await within(row("e1")).findByTestId("activity-trace-link");
    expect(link).toHaveAttribute("href", `http://localhost:16686/trace/${TRACE}`);
    expect(link).toHaveAttribute("target", "_blank");
    expect(link).toHaveAttribute("rel", "noopener noreferrer");
    expect(link).toHaveTextContent("trace");
    // Beside the entry's other links.
    expect(within(row("e1")).getByRole("link", { name: "job" })).toHaveAttribute("href", "/jobs/j1");
    expect(within(row("e3")).getByTestId("activity-trace-link")).toHaveAttribute("href", `http://localhost:16686/trace/${OTHER}`);
    expect(within(row("e2")).queryByTestId("activity-trace-link")).not.toBeInTheDocument();
    // Asked once for the whole list.
    expect(fetch).toHaveBeenCalledTimes(1);
    expect(fetch.mock.calls[0]![0]).toBe("/config.json");
  });

  it("no link, and no error, when /config.json answers 404", async () => {
    const fetch = serveConfig(() => new Response("not found", { status: 404 }));
    openActivity();
    await waitFor(() => expect(screen.getAllByTestId("activity-row")).toHaveLength(3));
    await configSettled(fetch);
    expect(screen.queryByTestId("activity-trace-link")).not.toBeInTheDocument();
    expect(screen.queryByTestId("error-message")).not.toBeInTheDocument();
  });

  it('no link when /config.json answers {"traceUrl": null}', async () => {
    const fetch = serveConfig(json({ traceUrl: null }));
    openActivity();
    await waitFor(() => expect(screen.getAllByTestId("activity-row")).toHaveLength(3));
    await configSettled(fetch);
    expect(screen.queryByTestId("activity-trace-link")).not.toBeInTheDocument();
    expect(screen.queryByTestId("error-message")).not.toBeInTheDocument();
  });

  it("no link when the template lacks {trace_id}", async () => {
    const fetch = serveConfig(json({ traceUrl: "http://localhost:16686/search" }));
    openActivity();
    await waitFor(() => expect(screen.getAllByTestId("activity-row")).toHaveLength(3));
    await configSettled(fetch);
    expect(screen.queryByTestId("activity-trace-link")).not.toBeInTheDocument();
  });

  it("the overview's activity links the trace too, for listed and streamed entries", async () => {
    serveConfig(json({ traceUrl: JAEGER }));
    const fake = overviewFake();
    fake.activity[2] = entry(3, { traceId: TRACE });
    openOverview(fake);
    const list = await screen.findByTestId("overview-activity-list");
    expect(await within(list).findByTestId("activity-trace-link")).toHaveAttribute("href", `http://localhost:16686/trace/${TRACE}`);
    expect(within(list).getAllByTestId("activity-trace-link")).toHaveLength(1);

    await waitFor(() => expect(fake.activityStreams).toHaveLength(1));
    act(() => fake.appendActivity(entry(4, { traceId: OTHER })));
    await waitFor(() => expect(within(list).getAllByTestId("activity-trace-link")).toHaveLength(2));
    expect(within(list).getAllByTestId("activity-trace-link")[0]).toHaveAttribute("href", `http://localhost:16686/trace/${OTHER}`);
  });
});
