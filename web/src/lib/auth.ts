// Who is signed in: the API token and the role WhoAmI reported, kept in
// sessionStorage so a reload keeps the session and closing the tab ends it.
import { Role } from "../gen/clustergenie/gateway/v1/gateway_pb";

export { Role };

export interface Session {
  token: string;
  role: Role;
  /** The token's name, as WhoAmI reports it. */
  name: string;
}

export interface AuthState {
  session: Session | null;
  /** Why the last session ended, when it was not the user's choice. */
  notice: string | null;
}

export interface AuthStore {
  get(): AuthState;
  subscribe(listener: () => void): () => void;
  signIn(session: Session): void;
  signOut(notice?: string): void;
}

const KEY = "clustergenie.session";

function load(storage: Storage | undefined): Session | null {
  try {
    const raw = storage?.getItem(KEY);
    if (!raw) return null;
    const s = JSON.parse(raw) as Partial<Session>;
    if (typeof s.token !== "string" || typeof s.role !== "number") return null;
    return { token: s.token, role: s.role, name: typeof s.name === "string" ? s.name : "" };
  } catch {
    return null;
  }
}

export function createAuthStore(
  storage: Storage | undefined = typeof sessionStorage === "undefined" ? undefined : sessionStorage,
): AuthStore {
  let state: AuthState = { session: load(storage), notice: null };
  const listeners = new Set<() => void>();
  const set = (next: AuthState) => {
    state = next;
    listeners.forEach((l) => l());
  };
  return {
    get: () => state,
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    signIn(session) {
      storage?.setItem(KEY, JSON.stringify(session));
      set({ session, notice: null });
    },
    signOut(notice) {
      storage?.removeItem(KEY);
      set({ session: null, notice: notice ?? null });
    },
  };
}

/** Roles nest: viewer < operator < admin. */
export function hasRole(role: Role | undefined, needed: Role): boolean {
  return role !== undefined && role >= needed;
}

export function roleLabel(role: Role): string {
  switch (role) {
    case Role.VIEWER:
      return "viewer";
    case Role.OPERATOR:
      return "operator";
    case Role.ADMIN:
      return "admin";
    default:
      return "unknown";
  }
}
