import { rateLimitMessage, unmatchedFields, type UiError } from "../lib/errors";
import { useQuota } from "../lib/context";
import { useNow } from "../lib/hooks";

/** The friendly "slow down" line, counting down while the gateway blocks us. */
export function RateLimitMessage({ fallbackSeconds }: { fallbackSeconds?: number | undefined }) {
  const { blockedUntil } = useQuota();
  const now = useNow(1000, blockedUntil !== null);
  const left = blockedUntil !== null ? Math.ceil((blockedUntil - now) / 1000) : null;
  const seconds = left !== null && left > 0 ? left : left === null ? fallbackSeconds : 0;
  return (
    <div className="banner banner--warn" role="alert" data-testid="rate-limit-message">
      {seconds === 0 ? "You were going too fast — you can try again now." : rateLimitMessage(seconds)}
    </div>
  );
}

/**
 * A failed call as a banner. `shownFields` are the fields the form displays
 * next to their inputs; other violations are listed here.
 */
export function ErrorBanner({ error, shownFields = [] }: { error: UiError | null | undefined; shownFields?: readonly string[] }) {
  if (!error) return null;
  if (error.kind === "rate-limited") return <RateLimitMessage fallbackSeconds={error.retryAfterSeconds} />;
  const extra = error.kind === "invalid" ? unmatchedFields(error, shownFields) : [];
  return (
    <div className={`banner banner--${error.kind === "permission" ? "warn" : "error"}`} role="alert" data-testid="error-message">
      {error.message}
      {extra.length > 0 && (
        <ul>
          {extra.map((x) => (
            <li key={x}>{x}</li>
          ))}
        </ul>
      )}
    </div>
  );
}
