// The badge colour of a diagnosis's (or a finding's) severity, shared by the
// diagnosis page and the overview.
import { Severity } from "../gen/clustergenie/diagnosis/v1/diagnosis_pb";
import type { Tone } from "./ui";

export function severityTone(s: Severity): Tone {
  switch (s) {
    case Severity.CRITICAL:
      return "bad";
    case Severity.WARNING:
      return "warn";
    case Severity.INFO:
      return "info";
    default:
      return "neutral";
  }
}
