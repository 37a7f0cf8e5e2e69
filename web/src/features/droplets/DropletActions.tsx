import { useState } from "react";
import {
  ActionStatus,
  ActionType,
  DropletActionService,
  DropletService,
  DropletStatus,
  type Droplet,
  type DropletAction,
} from "../../gen/clustergenie/provisioning/v1/provisioning_pb";
import { sizesForRegion, useCatalog } from "../../lib/catalog";
import { fieldError } from "../../lib/errors";
import { actionStatusLabel, actionTypeLabel } from "../../lib/format";
import { uiError, useIdempotentMutation, useInvalidate, type WithoutRequestId } from "../../lib/query";
import { ErrorBanner } from "../../components/ErrorBanner";
import { Badge } from "../../components/ui";
import { useLiveAction } from "./useLiveAction";

type ActionInit = Omit<WithoutRequestId<typeof DropletActionService.method.createDropletAction.input>, "dropletId">;

/**
 * Per-droplet actions through CreateDropletAction, with the latest action's
 * live status. `expanded` adds resize, rename and destroy. A started or
 * finished action invalidates the droplet queries, so lists and pages showing
 * the droplet fetch it again.
 */
export function DropletActions({ droplet, expanded }: { droplet: Droplet; expanded: boolean }) {
  const catalog = useCatalog();
  const invalidate = useInvalidate();
  const create = useIdempotentMutation(DropletActionService.method.createDropletAction, {
    // The droplet is locked now.
    onSuccess: () => invalidate(DropletService),
  });
  const { action, error: watchError } = useLiveAction(create.data?.action);
  const [size, setSize] = useState("");
  const [name, setName] = useState("");
  const [confirmDestroy, setConfirmDestroy] = useState(false);
  const error = uiError(create.error);

  // A booting droplet takes no actions yet.
  const booting = droplet.status === DropletStatus.NEW;
  const busy = create.isPending || booting || action?.status === ActionStatus.IN_PROGRESS;
  const archived = droplet.status === DropletStatus.ARCHIVE;
  const sizes = sizesForRegion(catalog.data, droplet.region).filter((s) => s.slug !== droplet.size);
  const chosenSize = size || sizes[0]?.slug || "";

  function run(init: ActionInit) {
    create.mutate({ ...init, dropletId: droplet.id });
  }

  if (archived) return <span className="muted small">archived</span>;

  return (
    <div className="actions" data-testid="droplet-actions" title={booting ? "Available once the droplet is active" : undefined}>
      <div className="row">
        {droplet.status === DropletStatus.OFF ? (
          <button type="button" disabled={busy} onClick={() => run({ type: ActionType.POWER_ON })} data-testid="droplet-action-poweron">
            Power on
          </button>
        ) : (
          <button type="button" disabled={busy} onClick={() => run({ type: ActionType.POWER_OFF })} data-testid="droplet-action-poweroff">
            Power off
          </button>
        )}
        <button type="button" disabled={busy} onClick={() => run({ type: ActionType.REBOOT })} data-testid="droplet-action-reboot">
          Reboot
        </button>
      </div>
      {expanded && (
        <>
          <div className="row">
            <select value={chosenSize} onChange={(e) => setSize(e.target.value)} aria-label="New size" data-testid="droplet-resize-size">
              {sizes.map((s) => (
                <option key={s.slug} value={s.slug}>
                  {s.slug}
                </option>
              ))}
            </select>
            <button
              type="button"
              disabled={busy || !chosenSize}
              onClick={() => run({ type: ActionType.RESIZE, params: { case: "resize", value: { size: chosenSize } } })}
              data-testid="droplet-action-resize"
            >
              Resize
            </button>
          </div>
          {fieldError(error, "size") && <span className="field__error">{fieldError(error, "size")}</span>}
          <div className="row">
            <input value={name} onChange={(e) => setName(e.target.value)} placeholder={droplet.name} aria-label="New name" data-testid="droplet-rename-name" />
            <button
              type="button"
              disabled={busy || !name.trim()}
              onClick={() => run({ type: ActionType.RENAME, params: { case: "rename", value: { name: name.trim() } } })}
              data-testid="droplet-action-rename"
            >
              Rename
            </button>
          </div>
          {fieldError(error, "name") && <span className="field__error">{fieldError(error, "name")}</span>}
          <div className="row">
            {!confirmDestroy ? (
              <button type="button" className="danger" disabled={busy} onClick={() => setConfirmDestroy(true)} data-testid="droplet-action-destroy">
                Destroy…
              </button>
            ) : (
              <>
                <button
                  type="button"
                  className="danger"
                  disabled={busy}
                  onClick={() => {
                    setConfirmDestroy(false);
                    run({ type: ActionType.DESTROY });
                  }}
                  data-testid="droplet-action-destroy-confirm"
                >
                  Really destroy {droplet.name}
                </button>
                <button type="button" onClick={() => setConfirmDestroy(false)}>
                  Keep
                </button>
              </>
            )}
          </div>
        </>
      )}
      <ErrorBanner error={error ?? watchError} shownFields={["size", "name"]} />
      <ActionStatusLine action={action} />
    </div>
  );
}

export function ActionStatusLine({ action }: { action: DropletAction | undefined }) {
  if (!action) return null;
  const tone = action.status === ActionStatus.COMPLETED ? "ok" : action.status === ActionStatus.ERRORED ? "bad" : "info";
  return (
    <div className="small" data-testid="droplet-action-status" data-status={actionStatusLabel(action.status)} data-type={actionTypeLabel(action.type)}>
      <Badge tone={tone}>
        {actionTypeLabel(action.type)}: {actionStatusLabel(action.status)}
      </Badge>
      {action.error && <span className="field__error"> {action.error}</span>}
    </div>
  );
}
