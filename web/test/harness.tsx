// Renders the whole app against an in-memory createRouterTransport, with the
// app's real interceptors (auth header, rate-limit headers) in front of it.
import { create } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";
import { createRouterTransport } from "@connectrpc/connect";
import { render } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { memoryLocation } from "wouter/memory-location";
import { App } from "../src/app/App";
import { createAuthStore, Role, type Session } from "../src/lib/auth";
import { createQuotaStore } from "../src/lib/ratelimit";
import { appInterceptors } from "../src/lib/transport";
import {
  CatalogService,
  ClusterSchema,
  DropletSchema,
  ImageSchema,
  RegionSchema,
  SizeSchema,
  type Cluster,
  type Droplet,
} from "../src/gen/clustergenie/provisioning/v1/provisioning_pb";
import { JobSchema, type Job } from "../src/gen/clustergenie/jobs/v1/jobs_pb";
import type { MessageInitShape } from "@bufbuild/protobuf";

export { Role };

export const SESSIONS = {
  viewer: { token: "cgt_viewer", role: Role.VIEWER, name: "alice-viewer" },
  operator: { token: "cgt_operator", role: Role.OPERATOR, name: "olga-operator" },
  admin: { token: "cgt_admin", role: Role.ADMIN, name: "root-admin" },
} satisfies Record<string, Session>;

export interface RenderOptions {
  path?: string;
  session?: Session;
  routes: (router: ConnectRouter) => void;
}

export function renderApp({ path = "/", session, routes }: RenderOptions) {
  const auth = createAuthStore(sessionStorage);
  if (session) auth.signIn(session);
  const quota = createQuotaStore();
  const transport = createRouterTransport(routes, {
    transport: { interceptors: appInterceptors({ auth, quota }) },
  });
  const location = memoryLocation({ path, record: true });
  const user = userEvent.setup();
  const utils = render(<App transport={transport} auth={auth} quota={quota} location={location.hook} />);
  return { ...utils, auth, quota, location, user };
}

/** A small catalog: nyc1 offers two sizes, ams3 only the smallest. */
export function catalog(router: ConnectRouter) {
  router.service(CatalogService, {
    listRegions: () => ({
      regions: [
        create(RegionSchema, { slug: "nyc1", name: "New York 1", available: true, sizes: ["s-1vcpu-1gb", "s-2vcpu-2gb"] }),
        create(RegionSchema, { slug: "ams3", name: "Amsterdam 3", available: true, sizes: ["s-1vcpu-1gb"] }),
      ],
    }),
    listSizes: () => ({
      sizes: [
        create(SizeSchema, { slug: "s-1vcpu-1gb", vcpus: 1, memoryMb: 1024, priceMonthlyCents: 600n, regions: ["nyc1", "ams3"] }),
        create(SizeSchema, { slug: "s-2vcpu-2gb", vcpus: 2, memoryMb: 2048, priceMonthlyCents: 1800n, regions: ["nyc1"] }),
      ],
    }),
    listImages: () => ({
      images: [create(ImageSchema, { slug: "ubuntu-24-04-x64", name: "Ubuntu 24.04" })],
    }),
  });
}

export function cluster(init: MessageInitShape<typeof ClusterSchema>): Cluster {
  return create(ClusterSchema, { region: "nyc1", status: 1, ...init });
}

export function droplet(init: MessageInitShape<typeof DropletSchema>): Droplet {
  return create(DropletSchema, { region: "nyc1", size: "s-1vcpu-1gb", status: 2, ...init });
}

export function job(init: MessageInitShape<typeof JobSchema>): Job {
  return create(JobSchema, { clusterId: "c1", maxAttempts: 3, ...init });
}

/** A promise the test resolves by hand, or that settles when `signal` aborts. */
export function gate(signal?: AbortSignal) {
  let open!: () => void;
  const p = new Promise<void>((resolve) => {
    open = resolve;
    signal?.addEventListener("abort", () => resolve(), { once: true });
  });
  return { p, open };
}
