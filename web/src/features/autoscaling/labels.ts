// Names, help and tones of the scaler's decision reasons (an action's slug,
// name and tone are in components/scaleAction, shared with the overview).
import { DecisionReason } from "../../gen/clustergenie/scaler/v1/scaler_pb";
import type { Tone } from "../../components/ui";
import { label } from "../../lib/format";

export const reasonLabel = label(DecisionReason);

/** Why each reason shows, for a chip's tooltip. */
export const REASON_HELP: Partial<Record<DecisionReason, string>> = {
  [DecisionReason.WITHIN_TOLERANCE]: "Every policy's ratio is within 10 % of its target.",
  [DecisionReason.STABILIZATION_WINDOW]: "A stabilization window kept the count from following the latest desire.",
  [DecisionReason.METRICS_MISSING]: "An active droplet sent no fresh sample, so scaling down is not allowed.",
  [DecisionReason.SCALE_UP_RATE_LIMITED]: "The scale-up rate limit (+100 % or +4 per 15 s) cut the step.",
  [DecisionReason.AT_MIN_DROPLETS]: "Clamped to a policy's minimum.",
  [DecisionReason.AT_MAX_DROPLETS]: "Clamped to a policy's maximum.",
  [DecisionReason.JOB_IN_PROGRESS]: "The previous scaling job has not finished.",
  [DecisionReason.DRY_RUN]: "A dry run: no job was created.",
  [DecisionReason.SCHEDULE_ACTIVE]: "An active schedule's min/max bounded the count.",
  [DecisionReason.COST_CAP]: "The monthly cost cap cut the scale-up.",
};

export function reasonTone(r: DecisionReason): Tone {
  return r === DecisionReason.COST_CAP || r === DecisionReason.METRICS_MISSING ? "warn" : "neutral";
}
