// Runs e2e/dashboard.e2e.mjs against the mock gateway (mock/gateway.ts) on a
// spare port: a self-check of the dashboard and the e2e script without the
// Rust stack. Needs `npm run build` first (the mock serves dist/).
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
if (!existsSync(`${root}dist/index.html`)) {
  console.error("e2e:mock: dist/ is missing — run `npm run build` first");
  process.exit(2);
}

const port = await new Promise((resolve) => {
  const s = createServer().listen(0, "127.0.0.1", () => {
    const p = s.address().port;
    s.close(() => resolve(p));
  });
});

const mock = spawn(process.execPath, [`${root}node_modules/tsx/dist/cli.mjs`, "mock/gateway.ts"], {
  cwd: root,
  env: { ...process.env, PORT: String(port) },
  stdio: ["ignore", "pipe", "inherit"],
});
await new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error("mock gateway did not start in 30 s")), 30_000);
  mock.stdout.on("data", (b) => {
    if (String(b).includes("mock gateway on")) {
      clearTimeout(timer);
      resolve();
    }
  });
  mock.on("exit", (code) => reject(new Error(`mock gateway exited (${code})`)));
}).catch((e) => {
  console.error(`e2e:mock: ${e.message}`);
  mock.kill();
  process.exit(2);
});

const e2e = spawn(process.execPath, [`${root}e2e/dashboard.e2e.mjs`], {
  cwd: root,
  stdio: "inherit",
  env: {
    ...process.env,
    CG_URL: `http://127.0.0.1:${port}`,
    CG_ADMIN_TOKEN: "cgt_admin_dev",
    CG_LIMITED_TOKEN: "cgt_limited_dev",
  },
});
const code = await new Promise((resolve) => e2e.on("exit", (c) => resolve(c ?? 1)));
mock.kill();
process.exit(code);
