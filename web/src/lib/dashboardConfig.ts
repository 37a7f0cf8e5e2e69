// What the gateway tells the dashboard about its deployment: `GET
// /config.json` on the app's origin, read once per session. Today that is
// the trace UI an activity entry links to:
//
//   {"traceUrl": "http://localhost:16686/trace/{trace_id}"}   a trace UI is configured
//   {"traceUrl": null}  (or no field)                         none is
//
// A gateway without the file, an answer that is not JSON (an older gateway
// answers index.html) or a malformed template all mean "no trace UI": the
// dashboard works the same without it and never shows this as an error.
import { useQuery } from "@tanstack/react-query";

export interface DashboardConfig {
  /** The trace UI's URL with a `{trace_id}` placeholder; null when none is configured. */
  traceUrl: string | null;
}

export const NO_DASHBOARD_CONFIG: DashboardConfig = { traceUrl: null };

export const DASHBOARD_CONFIG_KEY = ["dashboard-config"] as const;

const PLACEHOLDER = "{trace_id}";

/** A W3C trace id: 32 lowercase hex characters, not all zero (the spec's invalid id). */
const TRACE_ID = /^(?!0{32}$)[0-9a-f]{32}$/;

/** A template that yields an http(s) link (absolute or relative): never `javascript:` and the like. */
function usableTemplate(template: unknown): template is string {
  if (typeof template !== "string" || !template.includes(PLACEHOLDER)) return false;
  try {
    const { protocol } = new URL(template.replaceAll(PLACEHOLDER, "0"), "http://dashboard.invalid/");
    return protocol === "http:" || protocol === "https:";
  } catch {
    return false;
  }
}

/** The config in a parsed `/config.json` body; anything unusable is left out. */
export function parseDashboardConfig(body: unknown): DashboardConfig {
  const traceUrl = body !== null && typeof body === "object" ? (body as Record<string, unknown>).traceUrl : undefined;
  return { traceUrl: usableTemplate(traceUrl) ? traceUrl.trim() : null };
}

/**
 * Reads `/config.json` (the global `fetch`, stubbed in tests). An answer
 * that is not OK or not JSON is "nothing configured"; only a failed request
 * (the gateway unreachable) rejects, so the next mount asks again.
 */
export async function fetchDashboardConfig(signal?: AbortSignal): Promise<DashboardConfig> {
  const res = await fetch("/config.json", { signal });
  if (!res.ok) return NO_DASHBOARD_CONFIG;
  try {
    return parseDashboardConfig(await res.json());
  } catch {
    return NO_DASHBOARD_CONFIG;
  }
}

/** The gateway's dashboard config, fetched once and kept; nothing configured until it answers (or if it fails). */
export function useDashboardConfig(): DashboardConfig {
  const q = useQuery({
    queryKey: DASHBOARD_CONFIG_KEY,
    queryFn: ({ signal }) => fetchDashboardConfig(signal),
    staleTime: Infinity,
    retry: false,
  });
  return q.data ?? NO_DASHBOARD_CONFIG;
}

/**
 * The trace UI's link for `traceId`: `template` with every `{trace_id}`
 * replaced by the (URL-encoded) id. Undefined unless the template is usable
 * and the id is a W3C trace id (32 lowercase hex characters).
 */
export function traceLink(template: string | undefined | null, traceId: string): string | undefined {
  if (!usableTemplate(template) || !TRACE_ID.test(traceId)) return undefined;
  return template.trim().replaceAll(PLACEHOLDER, encodeURIComponent(traceId));
}
