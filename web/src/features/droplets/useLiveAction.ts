import { useEffect, useRef, useState } from "react";
import {
  ActionStatus,
  DropletActionService,
  type DropletAction,
} from "../../gen/clustergenie/provisioning/v1/provisioning_pb";
import { useClient } from "../../lib/context";
import { toUiError, type UiError } from "../../lib/errors";
import { follow } from "../../lib/live";

export const isActionDone = (a: DropletAction) => a.status !== ActionStatus.IN_PROGRESS;

/** The action's live state: WatchDropletAction, or GetDropletAction polling. */
export function useLiveAction(started: DropletAction | null, onDone?: (a: DropletAction) => void) {
  const client = useClient(DropletActionService);
  const [action, setAction] = useState<DropletAction | null>(started);
  const [error, setError] = useState<UiError | null>(null);
  const onDoneRef = useRef(onDone);
  onDoneRef.current = onDone;

  useEffect(() => {
    setAction(started);
    setError(null);
    if (!started) return;
    if (isActionDone(started)) {
      onDoneRef.current?.(started);
      return;
    }
    const ctrl = new AbortController();
    const id = started.id;
    void follow({
      signal: ctrl.signal,
      watch: (signal) => mapStream(client.watchDropletAction({ id }, { signal })),
      poll: async (signal) => (await client.getDropletAction({ id }, { signal })).action,
      isDone: isActionDone,
      onUpdate: (a) => {
        setAction(a);
        setError(null);
        if (isActionDone(a)) onDoneRef.current?.(a);
      },
      onError: (e) => setError(toUiError(e)),
    });
    return () => ctrl.abort();
  }, [client, started]);

  return { action, error };
}

async function* mapStream(s: AsyncIterable<{ action?: DropletAction | undefined }>) {
  for await (const r of s) yield r.action;
}
