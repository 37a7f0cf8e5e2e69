import { useQuota } from "../lib/context";
import { useNow } from "../lib/hooks";

/** "N of M requests left, resets in S s", from the last ratelimit headers. */
export function QuotaIndicator() {
  const { quota, blockedUntil } = useQuota();
  const now = useNow(1000, quota !== null);
  if (!quota) {
    return (
      <span className="quota" data-testid="quota-indicator">
        Quota: not reported yet
      </span>
    );
  }
  const reset = Math.max(0, Math.ceil((quota.resetAt - now) / 1000));
  // Past the reset time the budget is whole again.
  const remaining = reset === 0 ? quota.limit : quota.remaining;
  const blocked = blockedUntil !== null && blockedUntil > now;
  const low = quota.limit > 0 && remaining / quota.limit < 0.2;
  return (
    <span
      className={`quota${blocked ? " quota--blocked" : low ? " quota--low" : ""}`}
      data-testid="quota-indicator"
      data-remaining={remaining}
      data-limit={quota.limit}
      title="Your rate-limit budget for the last call's class, as the gateway reports it"
    >
      {remaining} of {quota.limit} requests left, resets in {reset} s
    </span>
  );
}
