// The real gRPC-web transport against a fake fetch: what the gateway will
// send on the wire (headers, length-prefixed frames, trailers).
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { TokenSchema, TokenService, WhoAmIResponseSchema, Role } from "../src/gen/clustergenie/gateway/v1/gateway_pb";
import { createAuthStore } from "../src/lib/auth";
import { createQuotaStore } from "../src/lib/ratelimit";
import { createAppTransport } from "../src/lib/transport";

function frame(flags: number, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + data.length);
  out[0] = flags;
  new DataView(out.buffer).setUint32(1, data.length);
  out.set(data, 5);
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function setup(respond: (url: string, init: RequestInit) => Response) {
  const auth = createAuthStore(sessionStorage);
  auth.signIn({ token: "cgt_admin", role: Role.ADMIN, name: "root" });
  const quota = createQuotaStore();
  const seen: { url: string; headers: Headers }[] = [];
  const transport = createAppTransport(
    { auth, quota },
    {
      baseUrl: "http://gateway.test",
      fetch: async (input, init) => {
        const url = String(input);
        seen.push({ url, headers: new Headers(init?.headers) });
        return respond(url, init ?? {});
      },
    },
  );
  return { auth, quota, seen, client: createClient(TokenService, transport) };
}

describe("gRPC-web transport", () => {
  it("sends the bearer token to the same-origin path and reads ratelimit headers", async () => {
    const { client, quota, seen } = setup(() => {
      const msg = toBinary(WhoAmIResponseSchema, create(WhoAmIResponseSchema, { token: create(TokenSchema, { name: "root", role: Role.ADMIN }) }));
      const body = concat(frame(0, msg), frame(0x80, new TextEncoder().encode("grpc-status: 0\r\n")));
      return new Response(body.buffer as ArrayBuffer, {
        status: 200,
        headers: {
          "content-type": "application/grpc-web+proto",
          "ratelimit-limit": "60",
          "ratelimit-remaining": "59",
          "ratelimit-reset": "1",
        },
      });
    });
    const res = await client.whoAmI({});
    expect(res.token?.name).toBe("root");
    expect(seen[0]!.url).toBe("http://gateway.test/clustergenie.gateway.v1.TokenService/WhoAmI");
    expect(seen[0]!.headers.get("authorization")).toBe("Bearer cgt_admin");
    expect(seen[0]!.headers.get("content-type")).toBe("application/grpc-web+proto");
    expect(quota.get().quota).toMatchObject({ limit: 60, remaining: 59 });
  });

  it("reads a trailers-only RESOURCE_EXHAUSTED with retry-after into the quota store", async () => {
    const { client, quota } = setup(
      () =>
        new Response(null, {
          status: 200,
          headers: {
            "content-type": "application/grpc-web+proto",
            "grpc-status": String(Code.ResourceExhausted),
            "grpc-message": "rate%20limit%20exceeded",
            "ratelimit-limit": "5",
            "ratelimit-remaining": "0",
            "ratelimit-reset": "9",
            "retry-after": "9",
          },
        }),
    );
    const err = await client.whoAmI({}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.ResourceExhausted);
    const s = quota.get();
    expect(s.quota).toMatchObject({ limit: 5, remaining: 0 });
    expect(s.blockedUntil).toBeGreaterThan(Date.now() + 8000);
  });

  it("signs out when the stored token is rejected", async () => {
    const { client, auth } = setup(
      () =>
        new Response(null, {
          status: 200,
          headers: { "content-type": "application/grpc-web+proto", "grpc-status": String(Code.Unauthenticated) },
        }),
    );
    await expect(client.whoAmI({})).rejects.toThrow();
    expect(auth.get().session).toBeNull();
    expect(auth.get().notice).toMatch(/Sign in again/);
  });
});
