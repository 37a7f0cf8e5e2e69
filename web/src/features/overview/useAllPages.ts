import type { DescMessage, DescMethodUnary, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import { callUnaryMethod, createConnectQueryKey, useTransport } from "@connectrpc/connect-query";
import { useQuery } from "@tanstack/react-query";

export interface AllPages<T> {
  items: T[];
  /** Stopped at `maxPages` with more to come. */
  truncated: boolean;
}

/**
 * Every page of a list RPC (at most `maxPages`), as one cached query. Its key
 * starts with the method's connect-query key, so invalidating the service or
 * the method (useInvalidate) refreshes it too.
 */
export function useAllPages<I extends DescMessage, O extends DescMessage, T>(
  method: DescMethodUnary<I, O>,
  input: MessageInitShape<I>,
  page: (res: MessageShape<O>) => { items: T[]; next: string },
  { maxPages = 3, refetchInterval }: { maxPages?: number; refetchInterval?: number } = {},
) {
  const transport = useTransport();
  return useQuery({
    queryKey: [...createConnectQueryKey({ schema: method, input, transport, cardinality: undefined }), "all-pages", maxPages],
    queryFn: async ({ signal }): Promise<AllPages<T>> => {
      const items: T[] = [];
      let pageToken = "";
      for (let i = 0; i < maxPages; i++) {
        const res = page(await callUnaryMethod(transport, method, { ...input, pageToken } as MessageInitShape<I>, { signal }));
        items.push(...res.items);
        pageToken = res.next;
        if (!pageToken) return { items, truncated: false };
      }
      return { items, truncated: true };
    },
    ...(refetchInterval ? { refetchInterval } : {}),
  });
}
