// Turns a failed call into what the UI shows.
import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema, RetryInfoSchema } from "../gen/google/rpc/error_details_pb";
import { retryAfterSeconds } from "./ratelimit";

export type UiErrorKind =
  | "rate-limited"
  | "invalid"
  | "unauthenticated"
  | "permission"
  | "not-found"
  | "conflict"
  | "precondition"
  | "unavailable"
  | "other";

export interface UiError {
  kind: UiErrorKind;
  /** One sentence for a banner. */
  message: string;
  /** Field violations keyed by the request field name (e.g. `name`, `size`). */
  fields: Record<string, string>;
  /** For `rate-limited`: when to try again. */
  retryAfterSeconds?: number;
  code?: Code;
}

/** Seconds to wait from a RetryInfo detail, else the `retry-after` header. */
export function retryDelaySeconds(err: ConnectError): number | null {
  for (const info of err.findDetails(RetryInfoSchema)) {
    const d = info.retryDelay;
    if (d) return Math.max(0, Math.ceil(Number(d.seconds) + d.nanos / 1e9));
  }
  return retryAfterSeconds(err.metadata);
}

export function rateLimitMessage(seconds: number | null | undefined): string {
  return seconds !== null && seconds !== undefined && seconds > 0
    ? `You're going too fast — try again in ${seconds} s.`
    : "You're going too fast — try again in a moment.";
}

export function toUiError(e: unknown): UiError {
  if (!(e instanceof ConnectError) && !(e instanceof Error)) {
    return { kind: "other", message: String(e), fields: {} };
  }
  const err = ConnectError.from(e);
  const base = { fields: {} as Record<string, string>, code: err.code };
  switch (err.code) {
    case Code.ResourceExhausted: {
      const s = retryDelaySeconds(err);
      return {
        ...base,
        kind: "rate-limited",
        message: rateLimitMessage(s),
        ...(s !== null ? { retryAfterSeconds: s } : {}),
      };
    }
    case Code.InvalidArgument: {
      const fields: Record<string, string> = {};
      for (const br of err.findDetails(BadRequestSchema)) {
        for (const v of br.fieldViolations) {
          fields[v.field] = fields[v.field] ? `${fields[v.field]}; ${v.description}` : v.description;
        }
      }
      const n = Object.keys(fields).length;
      return {
        ...base,
        kind: "invalid",
        fields,
        message: n > 0 ? "Please fix the highlighted fields." : err.rawMessage || "The request was invalid.",
      };
    }
    case Code.Unauthenticated:
      return { ...base, kind: "unauthenticated", message: "That token is not valid (or was revoked). Sign in again." };
    case Code.PermissionDenied:
      return { ...base, kind: "permission", message: "Your role does not allow this. Ask an admin for an operator token." };
    case Code.NotFound:
      return { ...base, kind: "not-found", message: err.rawMessage || "Not found." };
    case Code.AlreadyExists:
      return { ...base, kind: "conflict", message: err.rawMessage || "It already exists." };
    case Code.FailedPrecondition:
      return { ...base, kind: "precondition", message: err.rawMessage || "Not possible in the current state." };
    case Code.Unavailable:
    case Code.DeadlineExceeded:
      return { ...base, kind: "unavailable", message: `The service is unreachable right now (${err.rawMessage || "unavailable"}).` };
    default:
      return { ...base, kind: "other", message: err.rawMessage || err.message };
  }
}

const norm = (s: string) => s.toLowerCase().replace(/[_-]/g, "");

/**
 * The violation for a form field: an exact match, or a dotted path whose
 * last segment matches (`action.resize_droplet.size` for `size`); names are
 * compared without case or underscores, so `dropletId` matches `droplet_id`.
 */
export function fieldError(err: UiError | null | undefined, field: string): string | undefined {
  if (!err) return undefined;
  const want = norm(field);
  for (const [k, v] of Object.entries(err.fields)) {
    const key = norm(k);
    if (key === want || key.split(".").pop() === want) return v;
  }
  return undefined;
}

/** Violations that no form field shows, so the banner can list them. */
export function unmatchedFields(err: UiError, shown: readonly string[]): string[] {
  return Object.entries(err.fields)
    .filter(([k]) => !shown.some((f) => fieldError({ ...err, fields: { [k]: "x" } }, f)))
    .map(([k, v]) => `${k}: ${v}`);
}

/** Whether a call may have reached the server (so its idempotency key was used). */
export function isTransient(err: UiError): boolean {
  return err.kind === "unavailable" || err.code === Code.Unknown || err.code === Code.Canceled;
}
