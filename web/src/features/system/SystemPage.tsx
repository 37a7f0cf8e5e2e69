// /system: every service of the mesh, live, from one GetSystemStatus asked
// every two seconds: a summary strip (serving, outbox backlog, dead
// letters, the largest consumer lag), then one card per service, gateway
// first. A backend the gateway cannot reach shows as UNREACHABLE with the
// reason instead of failing the page.
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { useQuery } from "@connectrpc/connect-query";
import { SystemService } from "../../gen/clustergenie/gateway/v1/gateway_pb";
import { ErrorBanner } from "../../components/ErrorBanner";
import { Loading, PageHeader } from "../../components/ui";
import { useNow } from "../../lib/hooks";
import { uiError } from "../../lib/query";
import { ServiceCard } from "./ServiceCard";
import { between, bound, count, summarize, SYSTEM_POLL_MS } from "./status";

export function SystemPage() {
  const status = useQuery(SystemService.method.getSystemStatus, {}, { refetchInterval: SYSTEM_POLL_MS });
  const now = useNow(1000);
  const data = status.data;
  const observed = data?.observeTime;
  const age = between(observed, now);
  const summary = data ? summarize(data.services) : null;

  return (
    <>
      <PageHeader title="System">
        {age !== undefined && (
          <span
            className="muted small"
            data-testid="system-updated"
            title={observed ? timestampDate(observed).toLocaleString() : undefined}
          >
            updated {Math.floor(age / 1000)} s ago
          </span>
        )}
      </PageHeader>
      <ErrorBanner error={uiError(status.error)} />
      {status.isPending ? (
        <Loading />
      ) : !data || !summary ? null : (
        <>
          <div className="stats" data-testid="system-summary">
            <div className="stat">
              <span
                className="stat__n"
                data-testid="system-summary-serving"
                data-serving={summary.serving}
                data-services={summary.services}
              >
                {summary.serving}/{summary.services}
              </span>
              <span className="stat__label">services serving</span>
            </div>
            <div className="stat">
              <span className="stat__n" data-testid="system-summary-backlog" data-backlog={String(summary.backlog)}>
                {count(summary.backlog)}
              </span>
              <span className="stat__label">
                outbox rows pending{summary.parked > 0n && <b className="system-bad"> · {count(summary.parked)} parked</b>}
              </span>
            </div>
            <div className="stat">
              <span
                className={`stat__n${summary.deadLetters.known > 0n ? " system-bad" : ""}`}
                data-testid="system-summary-dlq"
                data-records={String(summary.deadLetters.known)}
                data-unknown={summary.deadLetters.unknown}
              >
                {bound(summary.deadLetters)}
              </span>
              <span className="stat__label">dead-letter records</span>
            </div>
            <div className="stat">
              <span
                className="stat__n"
                data-testid="system-summary-lag"
                data-lag={summary.maxLag ? String(summary.maxLag.known) : ""}
                data-unknown={summary.maxLag?.unknown ?? false}
              >
                {summary.maxLag ? bound(summary.maxLag) : "—"}
              </span>
              <span className="stat__label">max consumer lag</span>
            </div>
          </div>
          <div className="grid-2 system-grid">
            {data.services.map((s) => (
              <ServiceCard key={s.service} status={s} observed={observed} />
            ))}
          </div>
        </>
      )}
    </>
  );
}
