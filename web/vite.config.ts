/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The gateway serves dist/, /config.json and gRPC-web on one origin. For
// `npm run dev` against a gateway elsewhere, set CG_URL and Vite proxies the
// RPC paths and /config.json.
declare const process: { env: Record<string, string | undefined> };
const target = process.env.CG_URL;

export default defineConfig({
  plugins: [react()],
  server: target
    ? { proxy: { "^/((clustergenie|grpc)\\.|config\\.json$)": { target, changeOrigin: true } } }
    : undefined,
  build: { sourcemap: false, chunkSizeWarningLimit: 600 },
  test: {
    environment: "jsdom",
    globals: true,
    setupFiles: ["./test/setup.ts"],
    include: ["test/**/*.test.{ts,tsx}", "src/**/*.test.{ts,tsx}"],
  },
});
