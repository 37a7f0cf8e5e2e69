import type { DecisionReason } from "../../gen/clustergenie/scaler/v1/scaler_pb";
import { Badge } from "../../components/ui";
import { REASON_HELP, reasonLabel, reasonTone } from "./labels";

/** A decision's reasons as chips. */
export function Reasons({ reasons }: { reasons: readonly DecisionReason[] }) {
  if (reasons.length === 0) return null;
  return (
    <ul className="inline-list" aria-label="Reasons">
      {reasons.map((r) => (
        <li key={r} data-testid="decision-reason" data-reason={reasonLabel(r).replace(/ /g, "_")}>
          <Badge tone={reasonTone(r)} title={REASON_HELP[r]}>
            {reasonLabel(r)}
          </Badge>
        </li>
      ))}
    </ul>
  );
}
