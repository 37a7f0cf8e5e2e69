// A diagnosis's severity and status: their names, and whether it is still
// changing (the diagnosis page and the overview poll it while it is).
import { DiagnosisStatus, Severity, type Diagnosis } from "../gen/clustergenie/diagnosis/v1/diagnosis_pb";
import { label } from "./format";

export const severityLabel = label(Severity);
export const statusLabel = label(DiagnosisStatus);

/** Still changing: the analyzers run, or the LLM explains. */
export function isUnderway(d: Diagnosis | undefined): boolean {
  return d?.status === DiagnosisStatus.RUNNING || d?.status === DiagnosisStatus.ENRICHING;
}

/** Final: completed or failed. */
export function isSettled(d: Diagnosis): boolean {
  return d.status === DiagnosisStatus.COMPLETED || d.status === DiagnosisStatus.FAILED;
}
