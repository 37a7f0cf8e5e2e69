// Runs a diagnosis on StreamDiagnosis: the rules' answer at once, the LLM's
// when it is done. Each state goes into the GetDiagnosis query cache, which
// the page reads. A stream that drops before its first answer is opened again
// with the same request id (the server replays the run instead of starting a
// second one); once the diagnosis has an id, GetDiagnosis is polled instead
// until it settles (the server keeps enriching without us).
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type Client, type Transport } from "@connectrpc/connect";
import { createConnectQueryKey, useTransport } from "@connectrpc/connect-query";
import { useQueryClient } from "@tanstack/react-query";
import { useCallback, useRef, useState } from "react";
import { DiagnosisService, GetDiagnosisResponseSchema, type Diagnosis } from "../../gen/clustergenie/diagnosis/v1/diagnosis_pb";
import { useClient } from "../../lib/context";
import { POLL_MS } from "../../lib/format";
import { newRequestId } from "../../lib/hooks";
import { useInvalidate } from "../../lib/query";
import { FATAL_CODES, sleep, useResumableStream } from "../../lib/stream";
import type { UiError } from "../../lib/errors";
import { isSettled } from "../../lib/diagnosis";

export interface DiagnoseInput {
  clusterId: string;
  dropletId: string;
  useLlm: boolean;
}

interface Run extends DiagnoseInput {
  requestId: string;
  /** Known from the first answer on. */
  diagnosisId: string;
  done: boolean;
}

/** The GetDiagnosis query key a diagnosis's streamed states are written under. */
export function diagnosisKey(transport: Transport, id: string) {
  return createConnectQueryKey({ schema: DiagnosisService.method.getDiagnosis, input: { id }, transport, cardinality: "finite" });
}

/** Openings of one run before it gives up (a server that keeps closing the stream without an answer). */
const MAX_OPENINGS = 6;

/** The errors of runs that gave up (ConnectError's `instanceof` matches any ConnectError, so no subclass). */
const gaveUp = new WeakSet<ConnectError>();

/** What reopening cannot fix; also a reused key with another body, and the rate limit (the user tries again later). */
function isFatal(e: ConnectError): boolean {
  return gaveUp.has(e) || FATAL_CODES.has(e.code) || e.code === Code.AlreadyExists || e.code === Code.ResourceExhausted;
}

interface Answer {
  requestId: string;
  diagnosis: Diagnosis;
}

async function* answers(requestId: string, s: AsyncIterable<{ diagnosis?: Diagnosis | undefined }>): AsyncGenerator<Answer> {
  for await (const r of s) if (r.diagnosis) yield { requestId, diagnosis: r.diagnosis };
}

async function* nothing(): AsyncGenerator<Answer> {
  yield* [];
}

async function* poll(requestId: string, client: Client<typeof DiagnosisService>, id: string, signal: AbortSignal): AsyncGenerator<Answer> {
  for (;;) {
    const { diagnosis } = await client.getDiagnosis({ id }, { signal });
    if (diagnosis) yield { requestId, diagnosis };
    if (!diagnosis || isSettled(diagnosis) || signal.aborted) return;
    await sleep(POLL_MS, signal);
    if (signal.aborted) return;
  }
}

export interface Diagnose {
  start: (input: DiagnoseInput) => void;
  /** A run is under way (until its diagnosis settles or a fatal error). */
  running: boolean;
  /** The stream dropped and is being opened again. */
  reconnecting: boolean;
  /** The running (or last) run's diagnosis id, once the first answer named it. */
  diagnosisId: string;
  /** Why the last run stopped without an answer. */
  error: UiError | null;
}

/** `onStarted` runs once per run, with its first answer (the rules'). */
export function useDiagnose(onStarted: (d: Diagnosis) => void): Diagnose {
  const client = useClient(DiagnosisService);
  const transport = useTransport();
  const queryClient = useQueryClient();
  const invalidate = useInvalidate();
  const [run, setRun] = useState<Run | null>(null);
  /** The run whose first answer was seen. */
  const started = useRef<string | null>(null);

  const stream = useResumableStream<Answer>({
    key: run && !run.done ? run.requestId : null,
    isFatal,
    open: (_cursor, signal, attempt) => {
      if (!run) return nothing();
      if (attempt >= MAX_OPENINGS) {
        const e = new ConnectError(`the diagnosis stream ended ${attempt} times without an answer`, Code.Unavailable);
        gaveUp.add(e);
        throw e;
      }
      const { requestId, clusterId, dropletId, useLlm, diagnosisId } = run;
      return diagnosisId
        ? poll(requestId, client, diagnosisId, signal)
        : answers(requestId, client.streamDiagnosis({ clusterId, dropletId, useLlm, requestId }, { signal }));
    },
    onItem: ({ requestId, diagnosis: d }) => {
      queryClient.setQueryData(diagnosisKey(transport, d.id), create(GetDiagnosisResponseSchema, { diagnosis: d }));
      const done = isSettled(d);
      setRun((r) => (r && r.requestId === requestId ? { ...r, diagnosisId: d.id, done } : r));
      const first = started.current !== requestId;
      started.current = requestId;
      if (first) onStarted(d);
      if (first || done) void invalidate(DiagnosisService.method.listDiagnoses);
    },
  });

  const start = useCallback((input: DiagnoseInput) => {
    setRun({ ...input, requestId: newRequestId(), diagnosisId: "", done: false });
  }, []);

  const stopped = stream.status === "stopped";
  return {
    start,
    running: !!run && !run.done && !stopped,
    reconnecting: stream.status === "retrying",
    diagnosisId: run?.diagnosisId ?? "",
    error: stopped ? stream.error : null,
  };
}
