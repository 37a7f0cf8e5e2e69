// The app's injected dependencies: the transport (a gRPC-web transport in
// the browser, a createRouterTransport in tests), the auth and quota stores.
import { createClient, type Client, type Transport } from "@connectrpc/connect";
import type { DescService } from "@bufbuild/protobuf";
import { createContext, useContext, useMemo, useSyncExternalStore, type ReactNode } from "react";
import { hasRole, type AuthState, type AuthStore, type Role } from "./auth";
import type { QuotaState, QuotaStore } from "./ratelimit";

interface Deps {
  transport: Transport;
  auth: AuthStore;
  quota: QuotaStore;
}

const DepsContext = createContext<Deps | null>(null);

export function AppProvider({ children, ...deps }: Deps & { children: ReactNode }) {
  const value = useMemo(() => deps, [deps.transport, deps.auth, deps.quota]);
  return <DepsContext.Provider value={value}>{children}</DepsContext.Provider>;
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
