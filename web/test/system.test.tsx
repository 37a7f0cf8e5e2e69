// The System page: one GetSystemStatus answer drawn as a summary strip and a
// card per service (every section it fills, none it leaves empty), an
// unreachable backend with its reason, unknown counts as "?", and the page
// following the numbers as it asks again.
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { act, configure, screen, waitFor, within } from "@testing-library/react";
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { SystemService } from "../src/gen/clustergenie/gateway/v1/gateway_pb";
import {
  CounterSchema,
  DependencyState,
  ProcessStatusSchema,
  Serving,
  type ProcessStatus,
} from "../src/gen/clustergenie/system/v1/system_pb";
import { SYSTEM_POLL_MS, bound, groupCounters, span, summarize } from "../src/features/system/status";
import { renderApp, SESSIONS } from "./harness";

// The page is loaded lazily; its first import can take a moment.
beforeAll(() => configure({ asyncUtilTimeout: 4000 }));

const ms = (n: number) => ({ seconds: BigInt(Math.floor(n / 1000)), nanos: (n % 1000) * 1e6 });
const ago = (msAgo: number) => timestampFromMs(Date.now() - msAgo);

function proc(init: MessageInitShape<typeof ProcessStatusSchema>): ProcessStatus {
  return create(ProcessStatusSchema, {
    instance: `host-${init.service}:42`,
    version: "0.1.0",
    startTime: ago(3 * 3600_000 + 5 * 60_000),
    serving: Serving.SERVING,
    ...init,
  });
}

const database = { name: "database", state: DependencyState.UP, detail: "sqlite", latency: ms(2) };
const broker = { name: "broker", state: DependencyState.UP, detail: "1 broker(s)", latency: ms(14) };

/** The six services as a healthy mesh reports them, gateway first. */
function mesh(): ProcessStatus[] {
  return [
    proc({
      service: "gateway",
      counters: [
        { name: "ratelimit_rejections", labels: { tier: "normal" }, value: 3 },
        { name: "ratelimit_rejections", labels: { tier: "expensive" }, value: 4 },
      ],
      dependencies: [database, { name: "redis", state: DependencyState.UP, detail: "PONG", latency: ms(1) }],
    }),
    proc({
      service: "diagnosis",
      counters: [
        { name: "llm_calls", labels: { outcome: "answered" }, value: 5 },
        { name: "llm_calls", labels: { outcome: "failed" }, value: 1 },
        { name: "llm_cache_hits", value: 2 },
      ],
      dependencies: [database, broker],
    }),
    proc({ service: "jobs", dependencies: [database, broker] }),
    proc({ service: "monitoring", dependencies: [database, broker] }),
    proc({
      service: "provisioning",
      workerPools: [{ name: "executor", workers: 4, busy: 3 }],
      queues: [{ name: "executor", length: 2n, capacity: 64n }],
      consumerLag: [
        { group: "provisioning-executor", topic: "provisioning.commands", partition: 0, lag: 0n },
        { group: "provisioning-executor", topic: "provisioning.commands", partition: 1, lag: 7n },
      ],
      outbox: { backlog: 12n, parked: 1n, oldestPendingTime: ago(45_000) },
      deadLetters: [{ topic: "provisioning.commands.dlq", records: 2n }],
      dependencies: [database, broker],
    }),
    proc({
      service: "scaler",
      outbox: { backlog: 0n, parked: 0n },
      deadLetters: [{ topic: "monitoring.metrics.dlq", records: 0n }],
      dependencies: [database, { name: "broker", state: DependencyState.DOWN, detail: "connection refused", latency: ms(1000) }],
    }),
  ];
}

/** A gateway answering GetSystemStatus with `answer()` each time it is asked. */
function openSystem(answer: () => ProcessStatus[] | ConnectError, session = SESSIONS.viewer) {
  const calls = { n: 0 };
  const r = renderApp({
    path: "/system",
    session,
    routes: (router) =>
      router.service(SystemService, {
        getSystemStatus() {
          calls.n++;
          const a = answer();
          if (a instanceof ConnectError) throw a;
          return { services: a, observeTime: timestampFromMs(Date.now()) };
        },
      }),
  });
  return { ...r, calls };
}

const card = (name: string) => screen.getByTestId(`system-service-${name}`);

describe("system page", () => {
  it("draws every section of every service from one answer", async () => {
    openSystem(mesh);
    const nav = screen.getByTestId("nav-system");
    expect(nav).toHaveAttribute("href", "/system");
    expect(nav).toHaveTextContent("System");

    await screen.findByTestId("system-service-gateway");
    const cards = screen.getAllByTestId(/^system-service-/);
    expect(cards.map((c) => c.dataset.testid)).toEqual(
      ["gateway", "diagnosis", "jobs", "monitoring", "provisioning", "scaler"].map((s) => `system-service-${s}`),
    );
    expect(cards.every((c) => c.dataset.serving === "serving")).toBe(true);
    expect(screen.getByTestId("system-updated")).toHaveTextContent(/^updated \d s ago$/);

    // The summary strip.
    expect(screen.getByTestId("system-summary-serving")).toHaveTextContent("6/6");
    expect(screen.getByTestId("system-summary-backlog")).toHaveAttribute("data-backlog", "12");
    expect(screen.getByTestId("system-summary-backlog").parentElement).toHaveTextContent("1 parked");
    expect(screen.getByTestId("system-summary-dlq")).toHaveTextContent("2");
    expect(screen.getByTestId("system-summary-lag")).toHaveTextContent("7");

    // Provisioning fills every section but counters.
    const prov = within(card("provisioning"));
    expect(prov.getByTestId("system-health")).toHaveTextContent("SERVING");
    expect(prov.getByTestId("system-instance")).toHaveTextContent("host-provisioning:42");
    expect(prov.getByTestId("system-uptime")).toHaveTextContent("up 3 h 5 min");
    const pool = prov.getByTestId("system-pool-executor");
    expect(pool).toHaveTextContent("3/4");
    expect(within(pool).getByRole("meter")).toHaveAttribute("aria-valuenow", "75");
    expect(prov.getByTestId("system-queue-executor")).toHaveTextContent("2/64");
    const lag = prov.getAllByTestId("system-lag");
    expect(lag.map((r) => [r.dataset.group, r.dataset.topic, r.dataset.partition, r.dataset.lag])).toEqual([
      ["provisioning-executor", "provisioning.commands", "0", "0"],
      ["provisioning-executor", "provisioning.commands", "1", "7"],
    ]);
    expect(lag[1]).toHaveTextContent("7");
    const outbox = prov.getByTestId("system-outbox");
    expect(outbox).toHaveAttribute("data-backlog", "12");
    expect(outbox).toHaveAttribute("data-parked", "1");
    expect(outbox).toHaveTextContent("12 pending");
    expect(outbox).toHaveTextContent("1 parked");
    expect(prov.getByTestId("system-outbox-oldest")).toHaveTextContent(/oldest waiting 4\d s/);
    const dlq = prov.getByTestId("system-dlq-provisioning.commands.dlq");
    expect(dlq).toHaveAttribute("data-records", "2");
    expect(within(dlq).getByText("2 records")).toHaveClass("badge--bad");
    expect(prov.getByTestId("system-dep-database")).toHaveAttribute("data-state", "up");
    expect(prov.getByTestId("system-dep-broker")).toHaveTextContent("1 broker(s)");
    expect(prov.getByTestId("system-dep-broker")).toHaveTextContent("14 ms");
    expect(prov.queryByText("Counters")).toBeNull();

    // Counters grouped by name, with their labels.
    const gw = within(card("gateway"));
    const rejections = gw.getByTestId("system-counter-ratelimit_rejections");
    expect(rejections).toHaveAttribute("data-total", "7");
    expect(within(rejections).getAllByTestId("system-counter-row").map((r) => [r.dataset.labels, r.dataset.value])).toEqual([
      ["tier: normal", "3"],
      ["tier: expensive", "4"],
    ]);
    expect(gw.getByTestId("system-dep-database")).toHaveAttribute("data-state", "up");
    expect(gw.getByTestId("system-dep-redis")).toHaveTextContent("UP");
    expect(gw.getByTestId("system-dep-database")).toHaveTextContent("2.0 ms");
    const diag = within(card("diagnosis"));
    expect(diag.getByTestId("system-counter-llm_calls")).toHaveTextContent("answered · 5");
    expect(diag.getByTestId("system-counter-llm_calls")).toHaveTextContent("failed · 1");
    expect(diag.getByTestId("system-counter-llm_cache_hits")).toHaveAttribute("data-total", "2");
    expect(within(diag.getByTestId("system-counter-llm_cache_hits")).queryAllByTestId("system-counter-row")).toHaveLength(0);

    // A down dependency; a DLQ at zero is not highlighted; empty sections are left out.
    const scaler = within(card("scaler"));
    const down = scaler.getByTestId("system-dep-broker");
    expect(down).toHaveAttribute("data-state", "down");
    expect(down).toHaveTextContent("DOWN");
    expect(down).toHaveTextContent("connection refused");
    expect(down).toHaveTextContent("1,000 ms");
    expect(within(scaler.getByTestId("system-dlq-monitoring.metrics.dlq")).getByText("0 records")).not.toHaveClass("badge--bad");
    expect(scaler.getByTestId("system-outbox")).toHaveAttribute("data-backlog", "0");
    expect(scaler.queryByTestId("system-outbox-oldest")).toBeNull();
    const jobs = within(card("jobs"));
    for (const part of ["Worker pools", "Queues", "Consumer lag", "Outbox", "Dead letters", "Counters"]) {
      expect(jobs.queryByText(part)).toBeNull();
    }
    expect(jobs.getByText("Dependencies")).toBeInTheDocument();
  });

  it("shows an unreachable service with its error and a not-serving one with its down parts", async () => {
    openSystem(() => [
      proc({ service: "gateway", dependencies: [database] }),
      create(ProcessStatusSchema, { service: "jobs", serving: Serving.UNREACHABLE, error: "no answer within a second" }),
      proc({ service: "scaler", serving: Serving.NOT_SERVING, downParts: ["consumer scaler-metrics"] }),
    ]);
    const jobs = await screen.findByTestId("system-service-jobs");
    expect(jobs).toHaveAttribute("data-serving", "unreachable");
    expect(within(jobs).getByTestId("system-health")).toHaveTextContent("UNREACHABLE");
    expect(within(jobs).getByTestId("system-error")).toHaveTextContent("no answer within a second");
    // Nothing else is known about it: no instance, uptime or sections.
    expect(within(jobs).queryByTestId("system-instance")).toBeNull();
    expect(within(jobs).queryByTestId("system-uptime")).toBeNull();
    expect(jobs.querySelectorAll("h3")).toHaveLength(0);

    const scaler = card("scaler");
    expect(scaler).toHaveAttribute("data-serving", "not_serving");
    expect(within(scaler).getByTestId("system-health")).toHaveTextContent("NOT SERVING");
    expect(within(scaler).getByTestId("system-down-parts")).toHaveTextContent("consumer scaler-metrics");
    expect(within(scaler).queryByTestId("system-error")).toBeNull();

    expect(screen.getByTestId("system-summary-serving")).toHaveTextContent("1/3");
    // No process reads a topic, none has an outbox or dead letters.
    expect(screen.getByTestId("system-summary-lag")).toHaveTextContent("—");
    expect(screen.getByTestId("system-summary-backlog")).toHaveTextContent("0");
    expect(screen.getByTestId("system-summary-dlq")).toHaveTextContent("0");
  });

  it('shows an unknown (-1) lag or dead-letter count as "?"', async () => {
    openSystem(() => [
      proc({
        service: "monitoring",
        consumerLag: [
          { group: "monitoring-metrics", topic: "monitoring.metrics", partition: 0, lag: -1n },
          { group: "monitoring-metrics", topic: "monitoring.metrics", partition: 1, lag: 3n },
        ],
        deadLetters: [
          { topic: "monitoring.metrics.dlq", records: -1n },
          { topic: "provisioning.events.dlq", records: 4n },
        ],
      }),
      proc({
        service: "jobs",
        consumerLag: [{ group: "jobs-events", topic: "provisioning.events", partition: 0, lag: -1n }],
        deadLetters: [{ topic: "provisioning.events.dlq", records: -1n }],
      }),
    ]);
    const mon = within(await screen.findByTestId("system-service-monitoring"));
    const [unknown, known] = mon.getAllByTestId("system-lag");
    expect(unknown).toHaveAttribute("data-lag", "-1");
    expect(unknown!.lastElementChild).toHaveTextContent(/^\?$/);
    expect(known!.lastElementChild).toHaveTextContent(/^3$/);
    const dlq = mon.getByTestId("system-dlq-monitoring.metrics.dlq");
    expect(dlq).toHaveAttribute("data-records", "-1");
    expect(dlq).toHaveTextContent("? records");
    // Nowhere on the page does -1 show.
    expect(document.querySelector(".main")).not.toHaveTextContent("-1");
    // Totals over partly unknown counts are lower bounds; over only unknown ones, unknown.
    expect(screen.getByTestId("system-summary-lag")).toHaveTextContent("≥ 3");
    expect(screen.getByTestId("system-summary-dlq")).toHaveTextContent("≥ 4");
    const jobs = within(card("jobs"));
    expect(jobs.getByTestId("system-lag").lastElementChild).toHaveTextContent(/^\?$/);
    expect(jobs.getByTestId("system-dlq-provisioning.events.dlq")).toHaveTextContent("? records");
  });

  it("shows the failure when GetSystemStatus fails", async () => {
    openSystem(() => new ConnectError("gateway draining", Code.FailedPrecondition));
    expect(await screen.findByTestId("error-message")).toHaveTextContent("gateway draining");
    expect(screen.queryByTestId("system-summary")).toBeNull();
  });
});

describe("system page: live", () => {
  // Real time still passes (the lazy page loads, waitFor polls); the poll interval is skipped ahead.
  beforeEach(() => vi.useFakeTimers({ shouldAdvanceTime: true }));
  afterEach(() => vi.useRealTimers());
  const poll = () => act(() => vi.advanceTimersByTimeAsync(SYSTEM_POLL_MS));

  it("asks again every two seconds and draws the new numbers", async () => {
    let busy = 1;
    let backlog = 5n;
    let serving = Serving.SERVING;
    const { calls } = openSystem(() => [
      proc({ service: "gateway" }),
      proc({
        service: "provisioning",
        serving,
        workerPools: [{ name: "executor", workers: 4, busy }],
        outbox: { backlog, parked: 0n },
      }),
    ]);
    const pool = await screen.findByTestId("system-pool-executor");
    expect(pool).toHaveTextContent("1/4");
    expect(screen.getByTestId("system-outbox")).toHaveAttribute("data-backlog", "5");
    expect(screen.getByTestId("system-summary-serving")).toHaveTextContent("2/2");
    const asked = calls.n;

    busy = 4;
    backlog = 0n;
    serving = Serving.NOT_SERVING;
    await poll();
    await waitFor(() => expect(calls.n).toBeGreaterThan(asked));
    await waitFor(() => expect(screen.getByTestId("system-pool-executor")).toHaveTextContent("4/4"));
    expect(within(screen.getByTestId("system-pool-executor")).getByRole("meter")).toHaveAttribute("aria-valuenow", "100");
    expect(screen.getByTestId("system-outbox")).toHaveAttribute("data-backlog", "0");
    expect(screen.getByTestId("system-summary-backlog")).toHaveTextContent("0");
    expect(card("provisioning")).toHaveAttribute("data-serving", "not_serving");
    expect(screen.getByTestId("system-summary-serving")).toHaveTextContent("1/2");
  });
});

describe("system status helpers", () => {
  it("reads spans of time in two units at most", () => {
    expect(span(0)).toBe("0 s");
    expect(span(59_999)).toBe("59 s");
    expect(span(125_000)).toBe("2 min 5 s");
    expect(span(3 * 3600_000)).toBe("3 h");
    expect(span((2 * 24 + 4) * 3600_000 + 59_000)).toBe("2 d 4 h");
  });

  it("bounds totals over unknown counts", () => {
    expect(bound({ known: 5n, unknown: false })).toBe("5");
    expect(bound({ known: 5n, unknown: true })).toBe("≥ 5");
    expect(bound({ known: 0n, unknown: true })).toBe("?");
    const s = summarize([
      proc({ service: "a", deadLetters: [{ topic: "x.dlq", records: -1n }], consumerLag: [{ group: "g", topic: "x", lag: -1n }] }),
    ]);
    expect(bound(s.deadLetters)).toBe("?");
    expect(s.maxLag && bound(s.maxLag)).toBe("?");
  });

  it("groups counters by name with their labels sorted", () => {
    const counter = (init: MessageInitShape<typeof CounterSchema>) => create(CounterSchema, init);
    expect(
      groupCounters([
        counter({ name: "c", labels: { b: "2", a: "1" }, value: 1.5 }),
        counter({ name: "hits", value: 2 }),
        counter({ name: "c", value: 2 }),
      ]),
    ).toEqual([
      { name: "c", total: 3.5, rows: [{ labels: "a: 1, b: 2", value: 1.5 }, { labels: "", value: 2 }] },
      { name: "hits", total: 2, rows: [] },
    ]);
  });
});
