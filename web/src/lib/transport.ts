// The one gRPC-web transport of the app, and the interceptors every call
// passes through: the bearer token on the way out, the rate-limit budget
// (and an expired session) on the way back.
import { Code, ConnectError, type Interceptor, type Transport } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import type { AuthStore } from "./auth";
import type { QuotaStore } from "./ratelimit";
import { retryDelaySeconds } from "./errors";

export interface TransportDeps {
  auth: AuthStore;
  quota: QuotaStore;
}

/** Adds `authorization: Bearer <token>` unless the call set its own (sign-in does). */
export function authInterceptor(auth: AuthStore): Interceptor {
  return (next) => async (req) => {
    const token = auth.get().session?.token;
    if (token && !req.header.has("authorization")) {
      req.header.set("authorization", `Bearer ${token}`);
    }
    const sent = req.header.get("authorization");
    const expire = (e: unknown) => {
      // Only the stored session's token expiring sends us back to sign-in;
      // a sign-in attempt with a wrong token just fails.
      if (
        e instanceof ConnectError &&
        e.code === Code.Unauthenticated &&
        token &&
        sent === `Bearer ${token}` &&
        auth.get().session?.token === token
      ) {
        auth.signOut("Your session ended (the token is invalid or was revoked). Sign in again.");
      }
    };
    try {
      const res = await next(req);
      if (!res.stream) return res;
      return { ...res, message: tap(res.message, expire) };
    } catch (e) {
      expire(e);
      throw e;
    }
  };
}

/** Feeds the `ratelimit-*` headers of every answer, error or not, to the quota store. */
export function rateLimitInterceptor(quota: QuotaStore): Interceptor {
  const onError = (e: unknown) => {
    if (!(e instanceof ConnectError)) return;
    quota.observe(e.metadata);
    if (e.code === Code.ResourceExhausted) {
      const s = retryDelaySeconds(e);
      if (s !== null) quota.block(s);
    }
  };
  return (next) => async (req) => {
    try {
      const res = await next(req);
      quota.observe(res.header);
      if (!res.stream) {
        quota.observe(res.trailer);
        return res;
      }
      return { ...res, message: tap(res.message, onError) };
    } catch (e) {
      onError(e);
      throw e;
    }
  };
}

/** Passes a stream through, reporting an error it ends with. */
async function* tap<T>(stream: AsyncIterable<T>, onError: (e: unknown) => void): AsyncIterable<T> {
  try {
    yield* stream;
  } catch (e) {
    onError(e);
    throw e;
  }
}

export function appInterceptors(deps: TransportDeps): Interceptor[] {
  // Outermost first: the rate-limit interceptor sees what the auth one passes on.
  return [rateLimitInterceptor(deps.quota), authInterceptor(deps.auth)];
}

export interface TransportOptions {
  /** Defaults to the page's origin: the gateway serves the app and gRPC-web on one port. */
  baseUrl?: string;
  /** For tests of the wire format. */
  fetch?: typeof globalThis.fetch;
}

export function createAppTransport(deps: TransportDeps, options: TransportOptions = {}): Transport {
  return createGrpcWebTransport({
    baseUrl: options.baseUrl ?? window.location.origin,
    useBinaryFormat: true,
    interceptors: appInterceptors(deps),
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
}
