// The slug, name and badge colour of a scaling decision's action, shared by
// the autoscaling page and the overview.
import { ScaleAction } from "../gen/clustergenie/scaler/v1/scaler_pb";
import type { Tone } from "./ui";

const ACTION_SLUG: Record<ScaleAction, string> = {
  [ScaleAction.UNSPECIFIED]: "none",
  [ScaleAction.NONE]: "none",
  [ScaleAction.SCALE_UP]: "scale_up",
  [ScaleAction.SCALE_DOWN]: "scale_down",
};

/** `none` / `scale_up` / `scale_down`, for data attributes. */
export function actionSlug(a: ScaleAction): string {
  return ACTION_SLUG[a] ?? "none";
}

export function actionLabel(a: ScaleAction): string {
  return actionSlug(a).replace("_", " ");
}

export function actionTone(a: ScaleAction): Tone {
  return a === ScaleAction.SCALE_UP ? "warn" : a === ScaleAction.SCALE_DOWN ? "info" : "neutral";
}
