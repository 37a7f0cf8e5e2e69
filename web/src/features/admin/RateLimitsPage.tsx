import { useEffect, useState } from "react";
import { RateLimitService, type RateLimit } from "../../gen/clustergenie/gateway/v1/gateway_pb";
import { Role } from "../../lib/auth";
import { useAuth, useClient } from "../../lib/context";
import { useMutation, useRpc } from "../../lib/hooks";
import { ErrorBanner } from "../../components/ErrorBanner";
import { Loading, PageHeader } from "../../components/ui";

interface Row {
  tier: string;
  requests: string;
  periodSeconds: string;
}

const ABOUT: Record<string, string> = {
  default: "every method",
  expensive: "Diagnose and CreateJob",
  anonymous: "callers without a token (per address)",
};

/** The rate-limit classes; admins may change them (effective at once). */
export function RateLimitsPage() {
  const client = useClient(RateLimitService);
  const { can } = useAuth();
  const admin = can(Role.ADMIN);
  const limits = useRpc((signal) => client.getRateLimits({}, { signal }), [client]);
  const [rows, setRows] = useState<Row[]>([]);
  const [saved, setSaved] = useState(false);
  const toRows = (ls: RateLimit[]) =>
    ls.map((l) => ({ tier: l.tier, requests: String(l.requests), periodSeconds: String(l.periodSeconds) }));
  useEffect(() => {
    if (limits.data) setRows(toRows(limits.data.limits));
  }, [limits.data]);
  const update = useMutation(() =>
    client.updateRateLimits({
      limits: rows.map((r) => ({
        tier: r.tier,
        requests: Number.parseInt(r.requests, 10) || 0,
        periodSeconds: Number.parseInt(r.periodSeconds, 10) || 0,
      })),
    }),
  );
  const edit = (i: number, patch: Partial<Row>) => {
    setSaved(false);
    setRows((rs) => rs.map((r, j) => (j === i ? { ...r, ...patch } : r)));
  };

  return (
    <>
      <PageHeader title="Rate limits">
        <button type="button" onClick={limits.reload} data-testid="ratelimits-refresh">
          Refresh
        </button>
      </PageHeader>
      <ErrorBanner error={limits.error ?? update.error} />
      {saved && (
        <div className="banner banner--ok" data-testid="ratelimits-saved">
          Saved; in force now on every gateway replica.
        </div>
      )}
      <section className="card">
        <p className="muted">
          A budget is <i>requests</i> per <i>period</i>, refilled evenly: a caller may burst up to the whole budget.
        </p>
        {limits.loading && !limits.data ? (
          <Loading />
        ) : (
          <form
            onSubmit={async (e) => {
              e.preventDefault();
              const res = await update.run();
              if (res) {
                setRows(toRows(res.limits));
                setSaved(true);
              }
            }}
          >
            <table className="table" data-testid="ratelimits-table">
              <thead>
                <tr>
                  <th>Class</th>
                  <th>Applies to</th>
                  <th className="num">Requests</th>
                  <th className="num">Period (s)</th>
                </tr>
              </thead>
              <tbody>
                {rows.map((r, i) => (
                  <tr key={r.tier} data-testid="ratelimit-row" data-tier={r.tier}>
                    <td className="mono">{r.tier}</td>
                    <td className="muted">{ABOUT[r.tier] ?? ""}</td>
                    <td className="num">
                      <input type="number" min={1} value={r.requests} disabled={!admin} onChange={(e) => edit(i, { requests: e.target.value })} data-testid={`ratelimit-${r.tier}-requests`} />
                    </td>
                    <td className="num">
                      <input type="number" min={1} value={r.periodSeconds} disabled={!admin} onChange={(e) => edit(i, { periodSeconds: e.target.value })} data-testid={`ratelimit-${r.tier}-period`} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
            {admin && (
              <button type="submit" className="primary" disabled={update.pending} data-testid="ratelimits-save">
                Save limits
              </button>
            )}
          </form>
        )}
      </section>
    </>
  );
}
