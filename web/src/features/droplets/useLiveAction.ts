import { useEffect, useState } from "react";
import { create } from "@bufbuild/protobuf";
import { createConnectQueryKey, skipToken, useQuery, useTransport } from "@connectrpc/connect-query";
import { useQueryClient } from "@tanstack/react-query";
import {
  ActionStatus,
  DropletActionService,
  DropletService,
  GetDropletActionResponseSchema,
  type DropletAction,
} from "../../gen/clustergenie/provisioning/v1/provisioning_pb";
import { useClient } from "../../lib/context";
import { toUiError, type UiError } from "../../lib/errors";
import { follow } from "../../lib/live";
import { useInvalidate } from "../../lib/query";

const isActionDone = (a: DropletAction) => a.status !== ActionStatus.IN_PROGRESS;

const getAction = DropletActionService.method.getDropletAction;

/**
 * A started action's live state: WatchDropletAction, or GetDropletAction
 * polling, written into the GetDropletAction query cache. When it is done, the
 * droplet queries and the action history are invalidated.
 */
export function useLiveAction(started: DropletAction | undefined) {
  const client = useClient(DropletActionService);
  const transport = useTransport();
  const queryClient = useQueryClient();
  const invalidate = useInvalidate();
  // Filled only by the follower below, never fetched on its own.
  const cached = useQuery(getAction, started ? { id: started.id } : skipToken, { enabled: false }).data?.action;
  const [failure, setFailure] = useState<{ id: string; error: UiError } | null>(null);

  useEffect(() => {
    if (!started) return;
    const settled = () => invalidate(DropletService, DropletActionService.method.listDropletActions);
    if (isActionDone(started)) {
      void settled();
      return;
    }
    const id = started.id;
    const key = createConnectQueryKey({ schema: getAction, input: { id }, transport, cardinality: "finite" });
    const ctrl = new AbortController();
    void follow({
      signal: ctrl.signal,
      watch: (signal) => mapStream(client.watchDropletAction({ id }, { signal })),
      poll: async (signal) => (await client.getDropletAction({ id }, { signal })).action,
      isDone: isActionDone,
      onUpdate: (a) => {
        queryClient.setQueryData(key, create(GetDropletActionResponseSchema, { action: a }));
        setFailure(null);
        if (isActionDone(a)) void settled();
      },
      onError: (e) => setFailure({ id, error: toUiError(e) }),
    });
    return () => ctrl.abort();
  }, [client, transport, queryClient, invalidate, started]);

  const action = cached ?? started;
  return { action, error: failure && failure.id === action?.id ? failure.error : null };
}

async function* mapStream(s: AsyncIterable<{ action?: DropletAction | undefined }>) {
  for await (const r of s) yield r.action;
}
