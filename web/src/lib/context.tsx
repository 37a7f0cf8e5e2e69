// The app's injected dependencies: the transport (a gRPC-web transport in
// the browser, a createRouterTransport in tests), the auth and quota stores,
// and the query cache that connect-query reads and writes through.
import { Code, ConnectError, createClient, type Client, type Transport } from "@connectrpc/connect";
import { TransportProvider } from "@connectrpc/connect-query";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import type { DescService } from "@bufbuild/protobuf";
import { createContext, useContext, useMemo, useState, useSyncExternalStore, type ReactNode } from "react";
import { hasRole, type AuthState, type AuthStore, type Role } from "./auth";
import type { QuotaState, QuotaStore } from "./ratelimit";

interface Deps {
  transport: Transport;
  auth: AuthStore;
  quota: QuotaStore;
}

const DepsContext = createContext<Deps | null>(null);

/** The app's query cache defaults: fresh for a few seconds, no retry storm on errors the user must see. */
export function createQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: {
        staleTime: 5_000,
        // One quiet retry for a dropped connection; typed errors show at once.
        retry: (failures, error) => failures < 1 && isRetryable(error),
        refetchOnWindowFocus: false,
      },
      mutations: { retry: false },
    },
  });
}

function isRetryable(error: unknown): boolean {
  return error instanceof ConnectError && [Code.Unknown, Code.Unavailable, Code.DeadlineExceeded].includes(error.code);
}

export function AppProvider({
  children,
  queryClient,
  transport,
  auth,
  quota,
}: Deps & { queryClient?: QueryClient; children: ReactNode }) {
  const value = useMemo(() => ({ transport, auth, quota }), [transport, auth, quota]);
  // One cache per app instance (each test renders its own).
  const [client] = useState(() => queryClient ?? createQueryClient());
  return (
    <DepsContext.Provider value={value}>
      <TransportProvider transport={transport}>
        <QueryClientProvider client={client}>{children}</QueryClientProvider>
      </TransportProvider>
    </DepsContext.Provider>
  );
}

function useDeps(): Deps {
  const d = useContext(DepsContext);
  if (!d) throw new Error("AppProvider is missing");
  return d;
}

export function useTransport(): Transport {
  return useDeps().transport;
}

/** A typed client for a service, bound to the injected transport. */
export function useClient<T extends DescService>(service: T): Client<T> {
  const transport = useTransport();
  return useMemo(() => createClient(service, transport), [service, transport]);
}

export function useAuthStore(): AuthStore {
  return useDeps().auth;
}

export function useAuth(): AuthState & { can(role: Role): boolean } {
  const store = useAuthStore();
  const state = useSyncExternalStore(store.subscribe, store.get, store.get);
  return { ...state, can: (role: Role) => hasRole(state.session?.role, role) };
}

export function useQuota(): QuotaState {
  const store = useDeps().quota;
  return useSyncExternalStore(store.subscribe, store.get, store.get);
}
