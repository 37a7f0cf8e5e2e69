// A cluster's past diagnoses, newest first, a page at a time ("Load more");
// each row opens its diagnosis. A new diagnosis invalidates the list.
import { useInfiniteQuery } from "@connectrpc/connect-query";
import { DiagnosisService } from "../../gen/clustergenie/diagnosis/v1/diagnosis_pb";
import { ago, POLL_MS, shortId, time } from "../../lib/format";
import { uiError } from "../../lib/query";
import { ErrorBanner } from "../../components/ErrorBanner";
import { Badge } from "../../components/ui";
import { isUnderway, severityLabel, statusLabel } from "../../lib/diagnosis";
import { severityTone } from "../../components/diagnosisTone";
import { explanationSource } from "./diagnosis";

export const HISTORY_PAGE_SIZE = 10;

export function History({ clusterId, selected, onSelect, names }: {
  clusterId: string;
  selected: string;
  onSelect: (id: string) => void;
  names: ReadonlyMap<string, string>;
}) {
  const list = useInfiniteQuery(
    DiagnosisService.method.listDiagnoses,
    { clusterId, pageSize: HISTORY_PAGE_SIZE, pageToken: "" },
    {
      pageParamKey: "pageToken",
      getNextPageParam: (last) => last.nextPageToken || undefined,
      // A diagnosis still being explained (from another tab, say) changes soon.
      refetchInterval: (q) => (q.state.data?.pages[0]?.diagnoses.some(isUnderway) ? POLL_MS : false),
    },
  );
  const diagnoses = list.data?.pages.flatMap((p) => p.diagnoses) ?? [];
  return (
    <section className="card" data-testid="diagnosis-history">
      <div className="card__head">
        <h2>History</h2>
        <button type="button" onClick={() => void list.refetch()} disabled={list.isFetching} data-testid="diagnosis-history-refresh">
          Refresh
        </button>
      </div>
      <ErrorBanner error={uiError(list.error)} />
      {diagnoses.length === 0 ? (
        <p className="muted" data-testid="diagnosis-history-empty">
          {list.isPending ? "Loading…" : "No diagnoses of this cluster yet."}
        </p>
      ) : (
        <table className="table">
          <thead>
            <tr>
              <th>When</th>
              <th>Severity</th>
              <th>Summary</th>
              <th>Scope</th>
              <th>Explained by</th>
              <th>Status</th>
            </tr>
          </thead>
          <tbody>
            {diagnoses.map((d) => (
              <tr
                key={d.id}
                className={d.id === selected ? "row--selected" : undefined}
                aria-current={d.id === selected || undefined}
                data-testid="diagnosis-history-row"
                data-diagnosis-id={d.id}
                data-selected={d.id === selected}
                data-severity={severityLabel(d.severity)}
                data-status={statusLabel(d.status)}
              >
                <td title={time(d.createTime)}>{ago(d.createTime)}</td>
                <td>
                  <Badge tone={severityTone(d.severity)}>{severityLabel(d.severity)}</Badge>
                </td>
                <td>
                  <button type="button" className="link" onClick={() => onSelect(d.id)} data-testid="diagnosis-history-open">
                    {d.summary || `diagnosis ${shortId(d.id)}`}
                  </button>
                </td>
                <td>{d.dropletId ? (names.get(d.dropletId) ?? shortId(d.dropletId)) : "whole cluster"}</td>
                <td className="small">{explanationSource(d.llm).label}</td>
                <td className="small">{statusLabel(d.status)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {list.hasNextPage && (
        <button type="button" onClick={() => void list.fetchNextPage()} disabled={list.isFetchingNextPage} data-testid="diagnosis-history-more">
          Load more
        </button>
      )}
    </section>
  );
}
