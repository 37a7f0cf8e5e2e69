// Field violations by exact path. lib/errors' fieldError also matches a
// dotted path's last segment, which here would show a schedule's
// `schedules[0].min_droplets` next to the policy's own min; these forms name
// each path in full (`schedules[1].cron`), with an optional message prefix
// (`policy.name` on update, `scaling.monthly_cost_cap_cents`).
import type { UiError } from "../../lib/errors";

const norm = (s: string) => s.toLowerCase().replace(/[_-]/g, "");

export function violationAt(err: UiError | null | undefined, path: string, prefixes: readonly string[] = ["policy"]): string | undefined {
  if (!err) return undefined;
  const want = norm(path);
  for (const [k, v] of Object.entries(err.fields)) {
    const key = norm(k);
    if (key === want || prefixes.some((p) => key === `${norm(p)}.${want}`)) return v;
  }
  return undefined;
}
