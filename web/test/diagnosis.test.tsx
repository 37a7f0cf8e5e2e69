// The diagnosis page on the whole app: diagnosing over StreamDiagnosis (the
// rules' answer first, the LLM's after it), findings with their evidence and
// links, recommendations implemented as jobs followed inline, the history,
// roles, and a run that survives a dropped stream.
import { clone } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { act, configure, screen, waitFor, within } from "@testing-library/react";
import { beforeAll, describe, expect, it } from "vitest";
import {
  DiagnosisSchema,
  DiagnosisStatus,
  ExplanationSource,
  Risk,
  Severity,
} from "../src/gen/clustergenie/diagnosis/v1/diagnosis_pb";
import { JobKind, JobStatus } from "../src/gen/clustergenie/jobs/v1/jobs_pb";
import { HISTORY_PAGE_SIZE } from "../src/features/diagnosis/History";
import { job, SESSIONS } from "./harness";
import { diagnosis, diagnosisFake, evidence, finding, openDiagnosis, resizeRec, WINDOW_END } from "./diagnosis-fixtures";

// The section is loaded lazily; its first import can take a moment.
beforeAll(() => configure({ asyncUtilTimeout: 4000 }));

const findingIds = () => screen.getAllByTestId("finding").map((f) => f.dataset.findingId);
const rec = (id: string) => screen.getAllByTestId("recommendation").find((r) => r.dataset.recommendationId === id)!;
const historyIds = () => screen.getAllByTestId("diagnosis-history-row").map((r) => r.dataset.diagnosisId);

/** A cluster with a memory leak on web-1 (critical) and a disk filling on web-2 (warning), as the rules see it. */
function leaky(init: Parameters<typeof diagnosis>[1] = {}) {
  return diagnosis(1, {
    status: DiagnosisStatus.ENRICHING,
    severity: Severity.CRITICAL,
    summary: "1 critical finding: memory leak on web-1",
    findings: [
      finding("f-disk", { analyzer: "disk_filling", severity: Severity.WARNING, dropletId: "d2", title: "Disk filling on web-2" }),
      finding("f-mem", { analyzer: "memory_leak", severity: Severity.CRITICAL, title: "Memory leak on web-1" }),
    ],
    recommendations: [resizeRec("r-mem", ["f-mem"])],
    llm: {},
    ...init,
  });
}

describe("diagnosis: navigation", () => {
  it("links Diagnosis in the nav, picks the first cluster into the URL and offers its droplets", async () => {
    const { location } = openDiagnosis("/diagnosis");
    const nav = screen.getByTestId("nav-diagnosis");
    expect(nav).toHaveAttribute("href", "/diagnosis");
    expect(nav).not.toHaveTextContent("soon");
    await waitFor(() => expect(location.history!.at(-1)).toBe("/diagnosis?cluster=c1"));
    const droplet = await screen.findByTestId("diagnosis-droplet");
    await waitFor(() => expect(within(droplet).getAllByRole("option").map((o) => o.textContent)).toEqual(["Whole cluster", "web-1 (active)", "web-2 (active)"]));
    expect(await screen.findByTestId("diagnosis-history-empty")).toHaveTextContent("No diagnoses of this cluster yet.");
  });
});

describe("diagnosis: a run", () => {
  it("shows the rules' findings at once while the LLM explains, then the LLM's explanation and ranking; the history lists it", async () => {
    const { fake, user, location } = openDiagnosis();
    await user.click(await screen.findByTestId("diagnose-use-llm"));
    await user.click(screen.getByTestId("diagnose-button"));
    await waitFor(() => expect(fake.open()).toHaveLength(1));
    const req = fake.calls.streamDiagnosis[0]!;
    expect(req).toMatchObject({ clusterId: "c1", dropletId: "", useLlm: true });
    expect(req.requestId).not.toBe("");
    expect(screen.getByTestId("diagnose-button")).toBeDisabled();
    expect(screen.getByTestId("diagnosis-running")).toBeInTheDocument();

    // The rules' answer: findings by severity, the LLM still explaining.
    act(() => fake.send(leaky()));
    const result = await screen.findByTestId("diagnosis-result");
    expect(result).toHaveAttribute("data-status", "enriching");
    expect(within(result).getByTestId("diagnosis-severity")).toHaveTextContent("critical");
    expect(within(result).getByTestId("diagnosis-summary")).toHaveTextContent("1 critical finding: memory leak on web-1");
    expect(within(result).getByTestId("llm-pending")).toHaveTextContent("The LLM is explaining these findings…");
    expect(findingIds()).toEqual(["f-mem", "f-disk"]);
    expect(screen.getAllByTestId("finding-group").map((g) => g.dataset.severity)).toEqual(["critical", "warning"]);
    expect(screen.queryByTestId("findings-ranked-note")).not.toBeInTheDocument();
    expect(screen.queryByTestId("diagnosis-running")).not.toBeInTheDocument();
    await waitFor(() => expect(location.history!.at(-1)).toBe("/diagnosis?cluster=c1&diagnosis=dg1"));
    // The history is listed again and shows the new diagnosis, selected.
    await waitFor(() => expect(historyIds()).toEqual(["dg1"]));
    expect(screen.getByTestId("diagnosis-history-row")).toHaveAttribute("data-selected", "true");
    // The rules' recommendations are final while the LLM explains.
    expect(within(rec("r-mem")).getByTestId("implement-button")).toBeEnabled();

    // The LLM's answer replaces it: explanation, source, tool calls, its ranking.
    act(() =>
      fake.send(
        leaky({
          status: DiagnosisStatus.COMPLETED,
          llm: {
            used: true,
            model: "gpt-4o-mini",
            source: ExplanationSource.LLM,
            explanation: "Memory on web-1 grows about 240 %/h; it will run out within the hour.",
            rankedFindingIds: ["f-disk", "f-mem"],
            toolCalls: 3,
          },
        }),
      ),
    );
    act(() => fake.open()[0]?.end());
    await waitFor(() => expect(result).toHaveAttribute("data-status", "completed"));
    const llm = within(result).getByTestId("llm-explanation");
    expect(llm).toHaveAttribute("data-source", "llm");
    expect(within(llm).getByTestId("llm-text")).toHaveTextContent("it will run out within the hour");
    expect(within(llm).getByTestId("llm-source")).toHaveTextContent("LLM gpt-4o-mini");
    expect(within(llm).getByTestId("llm-tool-calls")).toHaveTextContent("3 tool calls");
    expect(within(result).queryByTestId("llm-pending")).not.toBeInTheDocument();
    expect(within(result).getByTestId("diagnosis-source")).toHaveTextContent("LLM gpt-4o-mini");
    expect(screen.getByTestId("findings-ranked-note")).toHaveTextContent("Ranked by the LLM");
    expect(findingIds()).toEqual(["f-disk", "f-mem"]);
    await waitFor(() => expect(screen.getByTestId("diagnose-button")).toBeEnabled());
    await waitFor(() => expect(screen.getByTestId("diagnosis-history-row")).toHaveAttribute("data-status", "completed"));
    expect(fake.calls.streamDiagnosis).toHaveLength(1);
  });

  it("diagnoses the droplet picked; a rate-limited run stops and says so, and the next click is a new run with a new key", async () => {
    const { fake, user } = openDiagnosis();
    const pick = await screen.findByTestId("diagnosis-droplet");
    await waitFor(() => expect(within(pick).getAllByRole("option")).toHaveLength(3));
    await user.selectOptions(pick, "d2");
    expect(screen.getByTestId("diagnose-button")).toHaveTextContent("Diagnose web-2");
    await user.click(screen.getByTestId("diagnose-button"));
    await waitFor(() => expect(fake.open()).toHaveLength(1));
    expect(fake.calls.streamDiagnosis[0]).toMatchObject({ clusterId: "c1", dropletId: "d2", useLlm: false });
    act(() => fake.open()[0]!.fail(new ConnectError("slow down", Code.ResourceExhausted)));
    expect(await screen.findByTestId("rate-limit-message")).toHaveTextContent("going too fast");
    await waitFor(() => expect(screen.getByTestId("diagnose-button")).toBeEnabled());
    expect(fake.calls.streamDiagnosis).toHaveLength(1);

    await user.click(screen.getByTestId("diagnose-button"));
    await waitFor(() => expect(fake.calls.streamDiagnosis).toHaveLength(2));
    expect(fake.calls.streamDiagnosis[1]!.requestId).not.toBe(fake.calls.streamDiagnosis[0]!.requestId);
    expect(screen.queryByTestId("rate-limit-message")).not.toBeInTheDocument();
  });

  it("reopens a stream dropped before its first answer with the same key; dropped after it, polls GetDiagnosis until it settles", async () => {
    const { fake, user } = openDiagnosis();
    await user.click(await screen.findByTestId("diagnose-use-llm"));
    await user.click(screen.getByTestId("diagnose-button"));
    await waitFor(() => expect(fake.open()).toHaveLength(1));
    act(() => fake.open()[0]!.fail(new ConnectError("connection reset", Code.Unavailable)));
    await waitFor(() => expect(fake.calls.streamDiagnosis).toHaveLength(2));
    await waitFor(() => expect(fake.open()).toHaveLength(1));
    // The same logical run: the server replays instead of diagnosing twice.
    expect(fake.calls.streamDiagnosis[1]!.requestId).toBe(fake.calls.streamDiagnosis[0]!.requestId);

    act(() => fake.send(leaky()));
    expect(await screen.findByTestId("llm-pending")).toBeInTheDocument();
    // The LLM finishes while the stream is down: GetDiagnosis tells.
    fake.store(leaky({ status: DiagnosisStatus.COMPLETED, llm: { used: true, model: "m", source: ExplanationSource.LLM, explanation: "explained" } }));
    act(() => fake.open()[0]!.fail(new ConnectError("connection reset", Code.Unavailable)));
    expect(await screen.findByTestId("llm-text")).toHaveTextContent("explained");
    expect(fake.calls.getDiagnosis).toContain("dg1");
    expect(fake.calls.streamDiagnosis).toHaveLength(2);
    await waitFor(() => expect(screen.getByTestId("diagnose-button")).toBeEnabled());
  });
});

describe("diagnosis: findings", () => {
  it("shows each finding's evidence in its unit against the threshold, with links to the chart on its window, the check, the activity entry, the job and the droplet", async () => {
    const fake = diagnosisFake();
    fake.store(
      diagnosis(2, {
        severity: Severity.WARNING,
        findings: [
          finding("f1", {
            title: "Memory leak on web-1",
            evidence: [
              evidence(),
              evidence({
                metric: "health_check_failures",
                value: 4,
                threshold: 3,
                unit: "count",
                window: { seconds: 120n },
                healthCheckIds: ["hc1"],
                activityIds: ["a1"],
                jobIds: ["j1"],
              }),
            ],
          }),
        ],
      }),
    );
    const { user, location } = openDiagnosis("/diagnosis?cluster=c1&diagnosis=dg2", SESSIONS.viewer, fake);
    const f = await screen.findByTestId("finding");
    expect(f).toHaveAttribute("data-analyzer", "memory_leak");
    expect(f).toHaveAttribute("data-droplet-id", "d1");
    await waitFor(() => expect(within(f).getByTestId("finding-droplet-link")).toHaveTextContent("web-1"));
    expect(within(f).getByTestId("finding-droplet-link")).toHaveAttribute("href", "/droplets/d1");
    const [growth, checks] = within(f).getAllByTestId("evidence") as [HTMLElement, HTMLElement];
    expect(growth).toHaveAttribute("data-metric", "memory_growth_percent_per_hour");
    expect(within(growth).getByTestId("evidence-value")).toHaveTextContent("240.5 %/h");
    expect(within(growth).getByTestId("evidence-threshold")).toHaveTextContent("10 %/h");
    expect(within(growth).getByTestId("evidence-window")).toHaveTextContent("over 10 min");
    const chart = within(growth).getByTestId("evidence-metric-link");
    expect(chart).toHaveTextContent("Memory chart");
    const href = chart.getAttribute("href")!;
    const q = new URLSearchParams(href.split("?")[1]);
    expect(href.startsWith("/monitoring?")).toBe(true);
    expect(Object.fromEntries(q)).toEqual({
      cluster: "c1",
      droplet: "d1",
      from: new Date((WINDOW_END - 600) * 1000).toISOString().replace(".000Z", "Z"),
      to: new Date(WINDOW_END * 1000).toISOString().replace(".000Z", "Z"),
      metric: "memory",
    });
    expect(within(checks).getByTestId("evidence-value")).toHaveTextContent("4");
    expect(within(checks).queryByTestId("evidence-metric-link")).not.toBeInTheDocument();
    expect(within(checks).getByTestId("evidence-check-link")).toHaveAttribute("href", "/monitoring/checks?cluster=c1&droplet=d1&check=hc1");
    expect(within(checks).getByTestId("evidence-activity-link")).toHaveAttribute("href", "/monitoring/activity?cluster=c1&entry=a1");
    expect(within(checks).getByTestId("evidence-job-link")).toHaveAttribute("href", "/jobs/j1");

    await user.click(within(checks).getByTestId("evidence-job-link"));
    await waitFor(() => expect(location.history!.at(-1)).toBe("/jobs/j1"));
  });

  it("says why the LLM was not used, and that the rules answered alone", async () => {
    const fake = diagnosisFake();
    fake.store(leaky({ status: DiagnosisStatus.COMPLETED, llm: { source: ExplanationSource.RULES, error: "the LLM is not configured" } }));
    openDiagnosis("/diagnosis?cluster=c1&diagnosis=dg1", SESSIONS.viewer, fake);
    const llm = await screen.findByTestId("llm-explanation");
    expect(llm).toHaveAttribute("data-source", "rules");
    expect(within(llm).getByTestId("llm-error")).toHaveTextContent("No LLM explanation: the LLM is not configured. The rules answer alone.");
    expect(within(llm).queryByTestId("llm-text")).not.toBeInTheDocument();
    expect(within(llm).queryByTestId("llm-pending")).not.toBeInTheDocument();
    expect(screen.getByTestId("diagnosis-source")).toHaveTextContent("Rules only");
    expect(findingIds()).toEqual(["f-mem", "f-disk"]);
  });
});

describe("diagnosis: recommendations", () => {
  it("shows risk, effect and cost; Implement creates the job once and follows it inline until it succeeds", async () => {
    const fake = diagnosisFake();
    fake.jobs.set("job-old", job({ id: "job-old", kind: JobKind.RESIZE_DROPLET, status: JobStatus.SUCCEEDED, progress: 100 }));
    fake.store(
      leaky({
        id: "dg3",
        status: DiagnosisStatus.COMPLETED,
        recommendations: [
          resizeRec("r-mem", ["f-mem"]),
          resizeRec("r-advice", ["f-disk"], {
            title: "Find what writes to /var/log",
            action: undefined,
            risk: Risk.UNSPECIFIED,
            expectedEffect: "",
            monthlyCostDeltaCents: 0n,
          }),
          resizeRec("r-done", ["f-disk"], { title: "Resize web-2", implementedJobId: "job-old", risk: Risk.LOW, monthlyCostDeltaCents: -600n }),
        ],
      }),
    );
    const { user } = openDiagnosis("/diagnosis?cluster=c1&diagnosis=dg3", SESSIONS.operator, fake);
    await waitFor(() => expect(screen.getAllByTestId("recommendation")).toHaveLength(3));

    const mem = rec("r-mem");
    expect(mem).toHaveAttribute("data-action", "resize_droplet");
    expect(mem).toHaveAttribute("data-target-size", "s-2vcpu-2gb");
    expect(mem).toHaveAttribute("data-finding-ids", "f-mem");
    expect(within(mem).getByTestId("recommendation-risk")).toHaveTextContent("medium risk");
    expect(within(mem).getByTestId("recommendation-effect")).toHaveTextContent("memory headroom doubles (1 GB → 2 GB)");
    expect(within(mem).getByTestId("recommendation-cost")).toHaveTextContent("+$12.00/mo");
    expect(mem).toHaveTextContent("answers Memory leak on web-1");

    const advice = rec("r-advice");
    expect(within(advice).queryByTestId("implement-button")).not.toBeInTheDocument();
    expect(within(advice).queryByTestId("recommendation-risk")).not.toBeInTheDocument();
    expect(within(advice).queryByTestId("recommendation-cost")).not.toBeInTheDocument();
    expect(advice).toHaveTextContent("Advice: no job can carry it out.");

    const done = rec("r-done");
    expect(within(done).queryByTestId("implement-button")).not.toBeInTheDocument();
    expect(within(done).getByTestId("recommendation-cost")).toHaveTextContent("\u2212$6.00/mo");
    await waitFor(() => expect(within(done).getByTestId("implement-job-status")).toHaveAttribute("data-status", "succeeded"));
    expect(within(done).getByTestId("implement-job-link")).toHaveAttribute("href", "/jobs/job-old");

    await user.click(within(mem).getByTestId("implement-button"));
    const status = await within(rec("r-mem")).findByTestId("implement-job-status");
    expect(fake.calls.implementRecommendation).toHaveLength(1);
    expect(fake.calls.implementRecommendation[0]).toMatchObject({ diagnosisId: "dg3", recommendationId: "r-mem" });
    expect(fake.calls.implementRecommendation[0]!.requestId).not.toBe("");
    expect(within(status).getByTestId("implement-job-link")).toHaveAttribute("href", "/jobs/job1");
    await waitFor(() => expect(fake.calls.watchJob).toContain("job1"));
    expect(within(rec("r-mem")).queryByTestId("implement-button")).not.toBeInTheDocument();

    act(() => fake.advanceJob("job1", { status: JobStatus.RUNNING, progress: 40, message: "resizing web-1" }));
    await waitFor(() => expect(within(rec("r-mem")).getByTestId("implement-job-status")).toHaveAttribute("data-status", "running"));
    expect(within(rec("r-mem")).getByTestId("implement-job-progress")).toHaveAttribute("aria-valuenow", "40");
    expect(rec("r-mem")).toHaveTextContent("resizing web-1");
    act(() => fake.advanceJob("job1", { status: JobStatus.SUCCEEDED, progress: 100, message: "resized" }));
    await waitFor(() => expect(within(rec("r-mem")).getByTestId("implement-job-status")).toHaveAttribute("data-status", "succeeded"));
    expect(within(rec("r-mem")).queryByTestId("implement-job-progress")).not.toBeInTheDocument();
    // The diagnosis names its job now (fetched again), and nothing was implemented twice.
    await waitFor(() => expect(rec("r-mem")).toHaveAttribute("data-implemented-job-id", "job1"));
    expect(fake.calls.implementRecommendation).toHaveLength(1);
  });

  it("a recommendation implemented meanwhile elsewhere shows the server's refusal, then the job it became", async () => {
    const fake = diagnosisFake();
    fake.store(leaky({ status: DiagnosisStatus.COMPLETED }));
    const { user } = openDiagnosis("/diagnosis?cluster=c1&diagnosis=dg1", SESSIONS.operator, fake);
    const button = await within(await screen.findByTestId("recommendation")).findByTestId("implement-button");
    // Another tab implements it.
    fake.jobs.set("job-x", job({ id: "job-x", status: JobStatus.RUNNING, progress: 10 }));
    const next = clone(DiagnosisSchema, fake.diagnoses[0]!);
    next.recommendations[0]!.implementedJobId = "job-x";
    fake.store(next);
    await user.click(button);
    expect(await screen.findByTestId("error-message")).toHaveTextContent("already implemented by job job-x");
    await waitFor(() => expect(screen.getByTestId("implement-job-status")).toHaveAttribute("data-job-id", "job-x"));
    expect(screen.queryByTestId("implement-button")).not.toBeInTheDocument();
  });
});

describe("diagnosis: history", () => {
  it("lists the cluster's diagnoses newest first, loads more, and opens one", async () => {
    const fake = diagnosisFake();
    const total = HISTORY_PAGE_SIZE + 3;
    for (let i = 1; i <= total; i++) fake.store(diagnosis(i, { summary: `run ${i}` }));
    fake.store(diagnosis(99, { clusterId: "c2" }));
    const { user, location } = openDiagnosis("/diagnosis?cluster=c1", SESSIONS.viewer, fake);
    await waitFor(() => expect(historyIds()).toHaveLength(HISTORY_PAGE_SIZE));
    expect(historyIds()[0]).toBe(`dg${total}`);
    expect(fake.calls.listDiagnoses[0]).toMatchObject({ clusterId: "c1", pageSize: HISTORY_PAGE_SIZE });
    await user.click(screen.getByTestId("diagnosis-history-more"));
    await waitFor(() => expect(historyIds()).toHaveLength(total));
    expect(historyIds().at(-1)).toBe("dg1");
    expect(historyIds()).not.toContain("dg99");
    expect(screen.queryByTestId("diagnosis-history-more")).not.toBeInTheDocument();

    const row = screen.getAllByTestId("diagnosis-history-row").find((r) => r.dataset.diagnosisId === "dg5")!;
    await user.click(within(row).getByTestId("diagnosis-history-open"));
    await waitFor(() => expect(location.history!.at(-1)).toBe("/diagnosis?cluster=c1&diagnosis=dg5"));
    expect(await screen.findByTestId("diagnosis-result")).toHaveAttribute("data-diagnosis-id", "dg5");
    expect(screen.getByTestId("diagnosis-summary")).toHaveTextContent("run 5");
    expect(fake.calls.getDiagnosis).toEqual(["dg5"]);
    await waitFor(() => expect(row).toHaveAttribute("data-selected", "true"));
    expect(screen.getByTestId("findings-empty")).toHaveTextContent("No findings");

    // Another cluster: its own history, nothing selected.
    await user.selectOptions(screen.getByTestId("diagnosis-cluster"), "c2");
    await waitFor(() => expect(location.history!.at(-1)).toBe("/diagnosis?cluster=c2"));
    await waitFor(() => expect(historyIds()).toEqual(["dg99"]));
    expect(screen.queryByTestId("diagnosis-result")).not.toBeInTheDocument();
  });
});

describe("diagnosis: roles", () => {
  it("a viewer reads diagnoses but cannot diagnose or implement", async () => {
    const fake = diagnosisFake();
    fake.store(leaky({ status: DiagnosisStatus.COMPLETED }));
    openDiagnosis("/diagnosis?cluster=c1&diagnosis=dg1", SESSIONS.viewer, fake);
    expect(await screen.findByTestId("recommendation")).toBeInTheDocument();
    expect(screen.getByTestId("diagnose-button")).toBeDisabled();
    expect(screen.getByTestId("read-only-note")).toHaveTextContent("diagnosing needs an operator token");
    expect(screen.queryByTestId("implement-button")).not.toBeInTheDocument();
  });
});
