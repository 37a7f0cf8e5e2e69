import { useState } from "react";
import { create } from "@bufbuild/protobuf";
import { createConnectQueryKey, useMutation, useQuery, useTransport } from "@connectrpc/connect-query";
import { useQueryClient } from "@tanstack/react-query";
import { GetRateLimitsResponseSchema, RateLimitService, type RateLimit } from "../../gen/clustergenie/gateway/v1/gateway_pb";
import { Role } from "../../lib/auth";
import { useAuth } from "../../lib/context";
import { uiError } from "../../lib/query";
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

const toRows = (ls: RateLimit[]): Row[] =>
  ls.map((l) => ({ tier: l.tier, requests: String(l.requests), periodSeconds: String(l.periodSeconds) }));

/** The rate-limit classes; admins may change them (effective at once). */
export function RateLimitsPage() {
  const { can } = useAuth();
  const admin = can(Role.ADMIN);
  const transport = useTransport();
  const queryClient = useQueryClient();
  const limits = useQuery(RateLimitService.method.getRateLimits, {});
  // The admin's edits; until the first one, the rows are what the server says.
  const [edits, setEdits] = useState<Row[] | null>(null);
  const rows = edits ?? toRows(limits.data?.limits ?? []);
  const [saved, setSaved] = useState(false);
  const update = useMutation(RateLimitService.method.updateRateLimits, {
    // The answer is the limits in force: that is what GetRateLimits says now.
    onSuccess: (res) =>
      queryClient.setQueryData(
        createConnectQueryKey({ schema: RateLimitService.method.getRateLimits, input: {}, transport, cardinality: "finite" }),
        create(GetRateLimitsResponseSchema, { limits: res.limits }),
      ),
  });
  const edit = (i: number, patch: Partial<Row>) => {
    setSaved(false);
    setEdits(rows.map((r, j) => (j === i ? { ...r, ...patch } : r)));
  };

  return (
    <>
      <PageHeader title="Rate limits">
        <button type="button" onClick={() => void limits.refetch()} data-testid="ratelimits-refresh">
          Refresh
        </button>
      </PageHeader>
      <ErrorBanner error={uiError(limits.error, update.error)} />
      {saved && (
        <div className="banner banner--ok" data-testid="ratelimits-saved">
          Saved; in force now on every gateway replica.
        </div>
      )}
      <section className="card">
        <p className="muted">
          A budget is <i>requests</i> per <i>period</i>, refilled evenly: a caller may burst up to the whole budget.
        </p>
        {limits.isPending ? (
          <Loading />
        ) : (
          <form
            onSubmit={(e) => {
              e.preventDefault();
              update.mutate(
                {
                  limits: rows.map((r) => ({
                    tier: r.tier,
                    requests: Number.parseInt(r.requests, 10) || 0,
                    periodSeconds: Number.parseInt(r.periodSeconds, 10) || 0,
                  })),
                },
                {
                  onSuccess: () => {
                    setEdits(null);
                    setSaved(true);
                  },
                },
              );
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
              <button type="submit" className="primary" disabled={update.isPending} data-testid="ratelimits-save">
                Save limits
              </button>
            )}
          </form>
        )}
      </section>
    </>
  );
}
