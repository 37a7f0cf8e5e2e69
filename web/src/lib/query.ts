// The data layer's shared pieces, on top of connect-query + TanStack Query.
//
// A page asks for data by RPC and shows failures with toUiError:
//
//   const list = useQuery(ClusterService.method.listClusters, { pageSize: 50 });   // @connectrpc/connect-query
//   <ErrorBanner error={uiError(list.error)} />
//
// and a mutation invalidates what it changed:
//
//   const invalidate = useInvalidate();
//   const del = useMutation(ClusterService.method.deleteCluster, {
//     onSuccess: () => invalidate(ClusterService.method.listClusters),
//   });
//
// Exported API:
//
// - `uiError(...errors)`: the first non-null error as a `UiError` (see
//   errors.ts: RESOURCE_EXHAUSTED countdown, field violations, …), else null.
// - `useInvalidate()`: returns `(...targets) => Promise<void>`; each target is
//   a service (`ClusterService`) or a method (`ClusterService.method.getCluster`).
//   Every cached query of it (any input, any transport, finite or infinite) is
//   marked stale and the ones on screen are fetched again.
// - `useIdempotentMutation(method, options?)`: TanStack `useMutation` for a
//   call whose request has a `request_id` (CreateCluster, CreateDroplet,
//   CreateDropletAction, CreateJob, …). Its variables are the request without
//   `requestId`; the hook adds the key: a fresh one for each logical attempt,
//   the same one again only when the previous attempt failed in a way that may
//   have reached the server (UNAVAILABLE, UNKNOWN, …) and the request is
//   unchanged, so a retry replays it instead of doing it twice (a reused key
//   with another body would fail with ALREADY_EXISTS). `options` are
//   TanStack's (`onSuccess`, `onError`, …; not `mutationFn`).
import { create, equals, type DescMessage, type DescMethodUnary, type DescService, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import type { ConnectError } from "@connectrpc/connect";
import { callUnaryMethod, createConnectQueryKey, useTransport } from "@connectrpc/connect-query";
import { useMutation, useQueryClient, type QueryKey, type UseMutationOptions, type UseMutationResult } from "@tanstack/react-query";
import { useCallback, useRef } from "react";
import { isTransient, toUiError, type UiError } from "./errors";
import { newRequestId } from "./hooks";

export function uiError(...errors: unknown[]): UiError | null {
  const e = errors.find((x) => x !== null && x !== undefined);
  return e === undefined ? null : toUiError(e);
}

/**
 * The key matching every query of a method or a service (any input, transport
 * and cardinality). createConnectQueryKey's overloads take one or the other,
 * not the union; the implementation is the same for both.
 */
const filterKey = createConnectQueryKey as (params: { schema: DescService | DescMethodUnary; cardinality: undefined }) => QueryKey;

export function useInvalidate(): (...targets: (DescService | DescMethodUnary)[]) => Promise<void> {
  const queryClient = useQueryClient();
  return useCallback(
    async (...targets) => {
      await Promise.all(
        targets.map((schema) =>
          queryClient.invalidateQueries({ queryKey: filterKey({ schema, cardinality: undefined }) }),
        ),
      );
    },
    [queryClient],
  );
}

/** A request without its idempotency key: what `mutate` takes. */
export type WithoutRequestId<I extends DescMessage> = Omit<MessageInitShape<I>, "requestId">;

export function useIdempotentMutation<I extends DescMessage, O extends DescMessage>(
  method: DescMethodUnary<I, O>,
  options: Omit<UseMutationOptions<MessageShape<O>, ConnectError, WithoutRequestId<I>>, "mutationFn"> = {},
): UseMutationResult<MessageShape<O>, ConnectError, WithoutRequestId<I>> {
  const transport = useTransport();
  // The key of an attempt that may have gone through, with what it asked for.
  const pending = useRef<{ requestId: string; request: MessageShape<I> } | null>(null);
  return useMutation({
    ...options,
    mutationFn: async (input) => {
      const request = create(method.input, input as MessageInitShape<I>);
      const last = pending.current;
      const requestId = last && equals(method.input, last.request, request) ? last.requestId : newRequestId();
      try {
        // Every request this hook is used with has a string `request_id`.
        const res = await callUnaryMethod(transport, method, { ...input, requestId } as unknown as MessageInitShape<I>);
        pending.current = null;
        return res;
      } catch (e) {
        pending.current = isTransient(toUiError(e)) ? { requestId, request } : null;
        throw e;
      }
    },
  });
}
