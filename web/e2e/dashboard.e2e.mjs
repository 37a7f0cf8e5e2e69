#!/usr/bin/env node
// End-to-end walk through the dashboard against a running gateway.
//
//   CG_URL=http://127.0.0.1:8080 CG_ADMIN_TOKEN=cgt_… CG_LIMITED_TOKEN=cgt_… \
//     node e2e/dashboard.e2e.mjs
//
// Env:
//   CG_URL             gateway origin serving the dashboard and gRPC-web (required)
//   CG_ADMIN_TOKEN     an admin API token (required)
//   CG_LIMITED_TOKEN   a second token for the last step (required; CG_SKIP_RATE_LIMIT=1 skips it)
//   CG_LIMIT_REQUESTS  when set, the admin first lowers the `default` budget to this many
//                      requests per 60 s on the dashboard's Rate limits page, so the limited
//                      token runs out quickly (otherwise its budget must already be tiny)
//   CHROMIUM_PATH      browser binary (default /usr/bin/chromium)
//   CG_E2E_TIMEOUT_S   how long to wait for a droplet, action or job to finish (default 180)
//   CG_E2E_HEADFUL=1   show the browser
// Screenshots go to e2e/artifacts/. Exit 0 on success, 1 on a failed step, 2 on bad setup.
import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const ARTIFACTS = fileURLToPath(new URL("./artifacts/", import.meta.url));
const BASE = (process.env.CG_URL ?? "").replace(/\/+$/, "");
const ADMIN = process.env.CG_ADMIN_TOKEN ?? "";
const LIMITED = process.env.CG_LIMITED_TOKEN ?? "";
const SKIP_RATE_LIMIT = process.env.CG_SKIP_RATE_LIMIT === "1";
const LIMIT_REQUESTS = process.env.CG_LIMIT_REQUESTS ?? "";
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const LONG = Number(process.env.CG_E2E_TIMEOUT_S ?? 180) * 1000;
const ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

function setupError(msg) {
  console.error(`e2e setup: ${msg}`);
  process.exit(2);
}
if (!BASE) setupError("set CG_URL to the gateway origin, e.g. http://127.0.0.1:8080");
if (!/^https?:\/\//.test(BASE)) setupError(`CG_URL must start with http:// or https:// (got ${BASE})`);
if (!ADMIN) setupError("set CG_ADMIN_TOKEN to an admin API token");
if (!LIMITED && !SKIP_RATE_LIMIT) setupError("set CG_LIMITED_TOKEN to a token with a tiny budget (or CG_SKIP_RATE_LIMIT=1)");

mkdirSync(ARTIFACTS, { recursive: true });
const tid = (id) => `[data-testid="${id}"]`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let shot = 0;

async function screenshot(page, name) {
  const file = `${ARTIFACTS}${String(++shot).padStart(2, "0")}-${name}.png`;
  await page.screenshot({ path: file, fullPage: true }).catch(() => {});
  return file;
}

class StepError extends Error {}
function fail(msg) {
  throw new StepError(msg);
}

let current = "start";
async function step(page, name, fn) {
  current = name;
  const t0 = Date.now();
  process.stdout.write(`▶ ${name} … `);
  const out = await fn();
  await screenshot(page(), name);
  console.log(`ok (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  return out;
}

/** Polls `check` until it returns a truthy value; `tick` runs between tries. */
async function until(what, check, { timeout = LONG, every = 1000, tick } = {}) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    last = await check();
    if (last) return last;
    if (Date.now() > end) fail(`timed out after ${Math.round(timeout / 1000)} s waiting for ${what}`);
    if (tick) await tick();
    await sleep(every);
  }
}

async function text(locator) {
  return ((await locator.textContent({ timeout: 5000 }).catch(() => "")) ?? "").trim();
}

/** Visible error banners on the page, to explain a failure. */
async function pageErrors(page) {
  const msgs = await page.locator(`${tid("error-message")}, ${tid("rate-limit-message")}`).allTextContents().catch(() => []);
  return msgs.length ? ` (page says: ${msgs.join(" | ")})` : "";
}

async function signIn(page, token, role) {
  try {
    await page.goto(`${BASE}/`, { waitUntil: "domcontentloaded", timeout: 20_000 });
  } catch (e) {
    fail(`cannot reach the gateway at ${BASE}: ${String(e.message).split("\n")[0]}`);
  }
  await page.locator(tid("signin-token")).waitFor({ timeout: 20_000 }).catch(async () =>
    fail(`no sign-in form at ${BASE} (is the gateway serving web/dist?)${await pageErrors(page)}`),
  );
  await page.fill(tid("signin-token"), token);
  await page.click(tid("signin-submit"));
  const who = page.locator(tid("whoami"));
  // Every section of the page it lands on may say so: one is enough.
  const limited = page.locator(tid("rate-limit-message")).first();
  const err = page.locator(tid("error-message")).first();
  await until("the sign-in answer", async () => (await who.isVisible()) || (await limited.isVisible()) || (await err.isVisible()), {
    timeout: 20_000,
    every: 200,
  }).catch(() => {});
  if (await limited.isVisible()) return { rateLimited: true };
  if (await err.isVisible()) fail(`sign-in refused: ${await text(err)}`);
  if (!(await who.isVisible())) fail("sign-in did not complete within 20 s");
  const got = await who.getAttribute("data-role");
  if (role && got !== role) fail(`expected role ${role}, WhoAmI says ${got}`);
  return { rateLimited: false };
}

async function main() {
  const browser = await chromium
    .launch({ executablePath: CHROMIUM, headless: process.env.CG_E2E_HEADFUL !== "1", args: ARGS })
    .catch((e) => setupError(`cannot start chromium at ${CHROMIUM}: ${e.message.split("\n")[0]}`));
  let page;
  const pageRef = () => page;
  try {
    const ctx = await browser.newContext({ viewport: { width: 1366, height: 900 } });
    page = await ctx.newPage();
    page.setDefaultTimeout(20_000);
    const suffix = `${Date.now().toString(36)}${Math.floor(Math.random() * 1296).toString(36)}`;
    const clusterName = `e2e-${suffix}`;
    const dropletName = `${clusterName}-1`;

    await step(pageRef, "sign-in-admin", () => signIn(page, ADMIN, "admin"));

    const clusterId = await step(pageRef, "create-cluster", async () => {
      await page.click(tid("nav-clusters"));
      await page.locator(tid("create-cluster-form")).waitFor();
      const region = page.locator(tid("cluster-region"));
      await until("the region list (CatalogService.ListRegions)", async () => (await region.locator("option:not([disabled])").count()) > 1, { timeout: 20_000, every: 250 });
      const value = await region.locator("option:not([disabled])").nth(1).getAttribute("value");
      await region.selectOption(value);
      await page.fill(tid("cluster-name"), clusterName);
      await page.fill(tid("cluster-description"), "created by the dashboard e2e script");
      await page.click(tid("cluster-submit"));
      await page.locator(tid("cluster-created")).waitFor().catch(async () => fail(`CreateCluster did not succeed${await pageErrors(page)}`));
      await page.click(tid("cluster-created-link"));
      const detail = page.locator(tid("cluster-detail"));
      await detail.waitFor();
      return detail.getAttribute("data-cluster-id");
    });
    console.log(`  cluster ${clusterName} (${clusterId})`);

    const row = page.locator(`${tid("droplet-row")}[data-droplet-name="${dropletName}"]`);
    await step(pageRef, "create-droplet", async () => {
      await page.click(tid("nav-droplets"));
      const pick = page.locator(tid("droplet-cluster"));
      await until("the cluster in the droplet form", async () => (await pick.locator(`option[value="${clusterId}"]`).count()) > 0, { timeout: 20_000, every: 250 });
      await pick.selectOption(clusterId);
      await until("the size list", async () => (await page.locator(`${tid("droplet-size")} option`).count()) > 0, { timeout: 20_000, every: 250 });
      await page.fill(tid("droplet-name"), dropletName);
      await page.click(tid("droplet-submit"));
      // Show only this cluster's droplets, so pagination cannot hide it.
      await page.locator(tid("droplets-filter-cluster")).selectOption(clusterId);
      await row.waitFor().catch(async () => fail(`droplet ${dropletName} not listed${await pageErrors(page)}`));
      const badge = await text(row.locator(tid("droplet-cluster-badge")));
      if (badge !== clusterName) fail(`cluster badge says "${badge}", expected "${clusterName}"`);
    });

    await step(pageRef, "droplet-active", async () => {
      await until(`droplet ${dropletName} to become active`, async () => (await text(row.locator(tid("droplet-status")))) === "active", {
        every: 2000,
        tick: () => page.click(tid("droplets-refresh")),
      });
    });

    // The DigitalOcean API sees the dashboard's droplet under its number, and
    // a droplet made through it shows up in the dashboard like any other.
    await step(pageRef, "do-api-both-ways", async () => {
      const api = async (method, path, body) => {
        const resp = await fetch(`${BASE}/v2${path}`, {
          method,
          headers: { Authorization: `Bearer ${ADMIN}`, "Content-Type": "application/json" },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        const json = resp.status === 204 ? null : await resp.json();
        return { status: resp.status, json };
      };
      const listed = await api("GET", `/droplets?name=${dropletName}`);
      if (listed.status !== 200 || listed.json.meta.total !== 1) fail(`GET /v2/droplets?name=${dropletName}: ${listed.status} ${JSON.stringify(listed.json)}`);
      const seen = listed.json.droplets[0];
      if (!Number.isInteger(seen.id) || seen.status !== "active") fail(`the dashboard's droplet through /v2: ${JSON.stringify(seen)}`);
      const name = `${dropletName}-do`;
      const made = await api("POST", "/droplets", {
        name,
        region: seen.region.slug,
        size: seen.size_slug,
        image: seen.image.slug,
        tags: [`cluster:${clusterName}`],
      });
      if (made.status !== 202) fail(`POST /v2/droplets: ${made.status} ${JSON.stringify(made.json)}`);
      const madeRow = page.locator(`${tid("droplet-row")}[data-droplet-name="${name}"]`);
      await until(`droplet ${name} (made through /v2) in the dashboard`, async () => (await madeRow.count()) > 0, {
        timeout: 30_000,
        every: 1000,
        tick: () => page.click(tid("droplets-refresh")),
      });
      const badge = await text(madeRow.locator(tid("droplet-cluster-badge")));
      if (badge !== clusterName) fail(`the /v2 droplet's cluster badge says "${badge}", expected "${clusterName}"`);
      // Gone again before the cluster's droplets are counted below.
      await until(`DELETE /v2/droplets/${made.json.droplet.id}`, async () => (await api("DELETE", `/droplets/${made.json.droplet.id}`)).status === 204, {
        timeout: 30_000,
        every: 1000,
      });
    });

    await step(pageRef, "resize-droplet", async () => {
      await row.locator(tid("droplet-more")).click();
      const select = row.locator(tid("droplet-resize-size"));
      await until("a size to resize to", async () => (await select.locator("option").count()) > 0, { timeout: 20_000, every: 250 });
      const size = await select.locator("option").first().getAttribute("value");
      await select.selectOption(size);
      await row.locator(tid("droplet-action-resize")).click();
      const status = row.locator(tid("droplet-action-status"));
      await status.waitFor().catch(async () => fail(`CreateDropletAction(resize) did not start${await pageErrors(page)}`));
      const final = await until("the resize action to finish", async () => {
        const s = await status.getAttribute("data-status").catch(() => null);
        return s === "completed" || s === "errored" ? s : null;
      }, { every: 500 });
      if (final !== "completed") fail(`resize ended ${final}: ${await text(status)}`);
      await until(`the droplet to show size ${size}`, async () => (await text(row.locator(tid("droplet-size-cell")))) === size, {
        timeout: 30_000,
        every: 1000,
        tick: () => page.click(tid("droplets-refresh")),
      });
      console.log(`\n  resized to ${size}`);
    });

    await step(pageRef, "scale-to-3", async () => {
      await page.goto(`${BASE}/clusters/${clusterId}`);
      await page.locator(tid("scale-form")).waitFor();
      await until("sizes and images in the scale form", async () =>
        (await page.locator(`${tid("scale-size")} option`).count()) > 0 && (await page.locator(`${tid("scale-image")} option`).count()) > 0,
        { timeout: 20_000, every: 250 },
      );
      await page.fill(tid("scale-count"), "3");
      await page.click(tid("scale-submit"));
      await page.waitForURL(/\/jobs\/[^/]+$/, { timeout: 20_000 }).catch(async () => fail(`CreateJob(scale_cluster) did not open the job${await pageErrors(page)}`));
      const bar = page.locator(tid("job-progress"));
      await bar.waitFor();
      const seen = new Set();
      const final = await until("the scale job to finish", async () => {
        seen.add(await bar.getAttribute("aria-valuenow"));
        const s = await text(page.locator(tid("job-status")));
        return ["succeeded", "failed", "cancelled"].includes(s) ? s : null;
      }, { every: 250 });
      const pct = await bar.getAttribute("aria-valuenow");
      console.log(`\n  job ${page.url().split("/jobs/")[1]} progress seen: ${[...seen].join(" → ")}`);
      if (final !== "succeeded") fail(`scale job ended ${final}: ${await text(page.locator(tid("job-error")))}`);
      if (pct !== "100") fail(`scale job succeeded but progress shows ${pct}%`);
    });

    await step(pageRef, "cluster-has-3", async () => {
      await page.goto(`${BASE}/clusters/${clusterId}`);
      const count = page.locator(tid("cluster-droplet-count"));
      await until("the cluster to report 3 droplets", async () => (await text(count)) === "3", {
        timeout: 30_000,
        every: 2000,
        tick: () => page.click(tid("cluster-refresh")),
      });
    });

    // Monitoring: a check and an alert rule, then a CPU fault on the first
    // droplet; its chart rises live, its check fails, the cluster's health
    // badge changes, the alert fires and the activity log tells it all.
    const monitoring = (tab) => `${BASE}/monitoring${tab}?cluster=${clusterId}`;
    await step(pageRef, "create-health-check", async () => {
      await page.goto(monitoring("/checks"));
      await page.locator(tid("check-create-form")).waitFor();
      await page.fill(tid("check-name"), "web");
      await page.fill(tid("check-interval"), "5");
      await page.fill(tid("check-timeout"), "1");
      await page.fill(tid("check-unhealthy-threshold"), "1");
      await page.fill(tid("check-healthy-threshold"), "1");
      await page.click(tid("check-submit"));
      const row = page.locator(`${tid("check-row")}[data-check-name="web"]`);
      await row.waitFor().catch(async () => fail(`CreateHealthCheck did not list the check${await pageErrors(page)}`));
      await until("the check to pass on every droplet", async () => (await row.getAttribute("data-state")) === "healthy", {
        timeout: 60_000,
        every: 1000,
      });
    });

    await step(pageRef, "create-alert-rule", async () => {
      await page.goto(monitoring("/alerts"));
      await page.locator(tid("rule-form")).waitFor();
      await page.fill(tid("rule-name"), "cpu-hot");
      await page.fill(tid("rule-threshold"), "90");
      await page.fill(tid("rule-for"), "1");
      await page.click(tid("rule-submit"));
      await page.locator(`${tid("alert-rule-row")}[data-rule-name="cpu-hot"]`).waitFor()
        .catch(async () => fail(`CreateAlertRule did not list the rule${await pageErrors(page)}`));
    });

    await step(pageRef, "inject-cpu-fault", async () => {
      await page.goto(monitoring(""));
      const pick = page.locator(tid("monitoring-droplet"));
      const option = pick.locator("option", { hasText: `${dropletName} (` });
      await until(`droplet ${dropletName} in the droplet picker`, async () => (await option.count()) > 0, { timeout: 20_000, every: 250 });
      await pick.selectOption((await option.first().getAttribute("value")) ?? "");
      const cpu = page.locator(`${tid("metric-chart")}[data-metric="cpu"] ${tid("metric-latest")}`);
      await until("a first CPU point", async () => (await cpu.count()) > 0, { timeout: 30_000, every: 500 });
      const before = Number(await cpu.getAttribute("data-value"));
      console.log(`\n  cpu before the fault: ${before.toFixed(1)} %`);
      const spike = page.locator(`${tid("fault-kind")} option`, { hasText: /cpu spike/i });
      if ((await spike.count()) === 0) fail("the fault form offers no CPU spike");
      await page.locator(tid("fault-kind")).selectOption((await spike.first().getAttribute("value")) ?? "");
      await page.click(tid("fault-inject"));
      await page.locator(`${tid("fault-row")}[data-kind="cpu_spike"]`).waitFor()
        .catch(async () => fail(`InjectFault did not list the fault${await pageErrors(page)}`));
      // No reload: WatchMetrics pushes the new points into the open chart.
      const after = await until("the CPU chart to rise above 90 %", async () => {
        const v = Number(await cpu.getAttribute("data-value"));
        return v > 90 ? v : null;
      }, { timeout: 60_000, every: 500 });
      console.log(`  cpu after the fault: ${after.toFixed(1)} %`);
    });

    await step(pageRef, "check-unhealthy", async () => {
      await page.click(tid("monitoring-tab-checks"));
      const row = page.locator(`${tid("check-row")}[data-check-name="web"]`);
      await row.waitFor();
      await until("the faulty droplet's check to turn unhealthy", async () =>
        (await row.locator(`${tid("check-droplet")}[data-state="unhealthy"]`).count()) > 0,
        { timeout: 60_000, every: 1000 },
      );
    });

    await step(pageRef, "cluster-health-badge", async () => {
      await page.goto(`${BASE}/clusters/${clusterId}`);
      const badge = page.locator(`${tid("cluster-detail")} ${tid("cluster-health")}`);
      const health = await until("the cluster's health badge to leave healthy", async () => {
        const h = await badge.getAttribute("data-health").catch(() => null);
        return h === "degraded" || h === "unhealthy" ? h : null;
      }, { timeout: 60_000, every: 1000 });
      console.log(`\n  cluster health: ${health}`);
    });

    await step(pageRef, "alert-fires", async () => {
      await page.goto(monitoring("/alerts"));
      await until("the cpu-hot alert to fire", async () =>
        (await page.locator(`${tid("alert-row")}[data-state="firing"]`).count()) > 0,
        { timeout: 60_000, every: 1000 },
      );
    });

    await step(pageRef, "activity-log", async () => {
      await page.goto(monitoring("/activity"));
      for (const kind of ["fault.injected", "health.unhealthy", "alert.fired"]) {
        await page.locator(`${tid("activity-row")}[data-kind="${kind}"]`).first().waitFor({ timeout: 30_000 })
          .catch(async () => fail(`no ${kind} entry in the activity log${await pageErrors(page)}`));
      }
      // A new entry appears live: clearing the fault is logged without a reload.
      await page.goto(`${BASE}/monitoring?cluster=${clusterId}`);
      const pick = page.locator(tid("monitoring-droplet"));
      const option = pick.locator("option", { hasText: `${dropletName} (` });
      await until("the droplet picker", async () => (await option.count()) > 0, { timeout: 20_000, every: 250 });
      const dropletId = (await option.first().getAttribute("value")) ?? "";
      await page.goto(monitoring("/activity"));
      const cleared = page.locator(`${tid("activity-row")}[data-kind="fault.cleared"]`);
      await page.locator(tid("activity-row")).first().waitFor();
      const before = await cleared.count();
      // A second tab (its own session: the token lives in sessionStorage) clears the fault.
      const other = await page.context().newPage();
      try {
        await signIn(other, ADMIN, "admin");
        await other.goto(`${BASE}/monitoring?cluster=${clusterId}&droplet=${dropletId}`);
        await other.locator(tid("fault-clear")).first().click();
      } finally {
        await other.close().catch(() => {});
      }
      await until("the fault.cleared entry to stream in", async () => (await cleared.count()) > before, { timeout: 30_000, every: 500 });
    });

    /** The cluster's droplets (id, name) as the monitoring picker lists them, active ones only. */
    async function activeDroplets(p, min) {
      await p.goto(`${BASE}/monitoring?cluster=${clusterId}`);
      const options = p.locator(`${tid("monitoring-droplet")} option`, { hasText: "(active)" });
      await until(`${min} active droplet(s) in the picker`, async () => (await options.count()) >= min, { timeout: 60_000, every: 1000, tick: () => p.reload() });
      const out = [];
      for (const o of await options.all()) out.push({ id: (await o.getAttribute("value")) ?? "", name: await text(o) });
      return out;
    }

    /** Opens a droplet's Monitoring page (its Faults panel) and clears every fault it lists. */
    async function clearFaults(p, dropletId) {
      await p.goto(`${BASE}/monitoring?cluster=${clusterId}&droplet=${dropletId}`);
      const empty = p.locator(tid("faults-empty"));
      const rows = p.locator(tid("fault-row"));
      await until("the droplet's faults", async () => (await rows.count()) > 0 || (await text(empty)) === "No active faults.", { timeout: 20_000, every: 250 });
      for (let n = await rows.count(); n > 0; n = await rows.count()) {
        await rows.first().locator(tid("fault-clear")).click();
        await until("the fault to be cleared", async () => (await rows.count()) < n, { timeout: 20_000, every: 250 })
          .catch(async () => fail(`ClearFault did not clear it${await pageErrors(p)}`));
      }
    }

    /** A second tab (its own session) to drive faults while the first watches decisions stream in. */
    async function inOtherTab(fn) {
      const other = await page.context().newPage();
      other.setDefaultTimeout(20_000);
      try {
        await signIn(other, ADMIN, "admin");
        return await fn(other);
      } finally {
        await other.close().catch(() => {});
      }
    }

    // Diagnosis: a memory leak on the first droplet is found from its memory
    // growth, the resize recommended for it is implemented as a job that
    // succeeds, and the droplet has the recommended size afterwards.
    const leak = await step(pageRef, "inject-memory-leak", async () => {
      const d = (await activeDroplets(page, 1)).find((x) => x.name.startsWith(`${dropletName} (`));
      if (!d) fail(`${dropletName} is not active in the monitoring picker`);
      await clearFaults(page, d.id);
      const kind = page.locator(tid("fault-kind"));
      const option = kind.locator("option", { hasText: /memory leak/i });
      if ((await option.count()) === 0) fail("the fault form offers no memory leak");
      await kind.selectOption((await option.first().getAttribute("value")) ?? "");
      await page.locator(tid("fault-duration")).fill("10");
      await page.click(tid("fault-inject"));
      await page.locator(`${tid("fault-row")}[data-kind="memory_leak"]`).waitFor()
        .catch(async () => fail(`InjectFault(memory leak) did not list the fault${await pageErrors(page)}`));
      // Its size now (the story resized it before): the resize must change it.
      await page.goto(`${BASE}/droplets/${d.id}`);
      await page.locator(tid("droplet-size-cell")).waitFor();
      const size = (await text(page.locator(tid("droplet-size-cell")))).split(" ")[0];
      if (!size) fail(`no size on ${dropletName}'s page${await pageErrors(page)}`);
      console.log(`\n  memory leak on ${dropletName} (${d.id}) for 10 min; size ${size}`);
      return { dropletId: d.id, size };
    });

    const diagnosis = `${BASE}/diagnosis?cluster=${clusterId}`;
    const leakFinding = await step(pageRef, "diagnose-memory-leak", async () => {
      await page.goto(diagnosis);
      const button = page.locator(tid("diagnose-button"));
      await button.waitFor();
      const found = page.locator(`${tid("finding")}[data-analyzer="memory_leak"][data-droplet-id="${leak.dropletId}"]`);
      // The leak is recognised after some samples: diagnose again, one run at a
      // time (the button is disabled while a run streams), until it is found.
      let runs = 0;
      await until("a memory_leak finding on the leaking droplet", async () => (await found.count()) > 0, {
        timeout: 90_000,
        every: 5000,
        tick: async () => {
          if (await button.isEnabled()) {
            await button.click();
            runs++;
          }
        },
      }).catch(async (e) =>
        fail(`${e.message} (${runs} run(s); last summary: "${await text(page.locator(tid("diagnosis-summary")))}")${await pageErrors(page)}`),
      );
      const finding = found.first();
      const metrics = await finding.locator(tid("evidence")).evaluateAll((els) => els.map((el) => el.getAttribute("data-metric")));
      if (!metrics.includes("memory_growth_percent_per_hour")) {
        fail(`the memory_leak finding's evidence shows ${metrics.join(", ") || "nothing"}, not memory_growth_percent_per_hour`);
      }
      const growth = finding.locator(`${tid("evidence")}[data-metric="memory_growth_percent_per_hour"]`).first();
      const chart = (await growth.locator(tid("evidence-metric-link")).getAttribute("href").catch(() => null)) ?? "";
      if (!chart.includes(`droplet=${leak.dropletId}`)) fail(`the memory growth evidence does not link the droplet's chart (link: "${chart}")`);
      const id = (await finding.getAttribute("data-finding-id")) ?? "";
      const diagnosisId = (await page.locator(tid("diagnosis-result")).getAttribute("data-diagnosis-id")) ?? "";
      console.log(`\n  after ${runs} run(s): diagnosis ${diagnosisId}, finding ${id}: ${await text(finding.locator(tid("finding-title")))}`);
      console.log(`  evidence: ${await text(growth.locator(tid("evidence-metric")))} ${await text(growth.locator(tid("evidence-value")))} vs ${await text(growth.locator(tid("evidence-threshold")))}; chart ${chart}`);
      return { id, diagnosisId };
    });

    const target = await step(pageRef, "implement-resize", async () => {
      // The resize of the leaking droplet that answers the finding.
      const resizes = page.locator(`${tid("recommendation")}[data-action="resize_droplet"][data-droplet-id="${leak.dropletId}"]`);
      let recId = "";
      for (const r of await resizes.all()) {
        const answers = ((await r.getAttribute("data-finding-ids")) ?? "").split(" ");
        if (answers.includes(leakFinding.id)) {
          recId = (await r.getAttribute("data-recommendation-id")) ?? "";
          break;
        }
      }
      if (!recId) {
        const titles = await page.locator(tid("recommendation-title")).allTextContents();
        fail(`no resize of ${dropletName} answers finding ${leakFinding.id} (recommendations: ${titles.join(" | ") || "none"})`);
      }
      const rec = page.locator(`${tid("recommendation")}[data-recommendation-id="${recId}"]`);
      const size = (await rec.getAttribute("data-target-size")) ?? "";
      if (!size) fail(`recommendation ${recId} names no target size`);
      if (size === leak.size) fail(`recommendation ${recId} resizes ${dropletName} to the size it has (${size})`);
      const facts = [];
      for (const id of ["recommendation-risk", "recommendation-effect", "recommendation-cost"]) facts.push(...(await rec.locator(tid(id)).allTextContents()));
      console.log(`\n  recommendation ${recId}: ${await text(rec.locator(tid("recommendation-title")))} (${facts.join("; ")})`);
      await rec.locator(tid("implement-button")).click();
      const status = rec.locator(tid("implement-job-status"));
      await status.waitFor().catch(async () => fail(`ImplementRecommendation did not start a job${await pageErrors(page)}`));
      const final = await until("the resize job to finish", async () => {
        const s = await status.getAttribute("data-status");
        return ["succeeded", "failed", "cancelled"].includes(s) ? s : null;
      }, { timeout: 90_000, every: 500 });
      const job = (await status.getAttribute("data-job-id")) ?? "";
      console.log(`  job ${job}: ${final}`);
      if (final !== "succeeded") fail(`the resize job ended ${final}: ${await text(status)}`);
      return size;
    });

    await step(pageRef, "droplet-resized", async () => {
      await page.goto(`${BASE}/droplets/${leak.dropletId}`);
      const cell = page.locator(tid("droplet-size-cell"));
      await until(`${dropletName} to show size ${target}`, async () => (await text(cell)).split(" ")[0] === target, {
        timeout: 30_000,
        every: 1000,
        tick: () => page.click(tid("droplet-refresh")),
      });
      console.log(`\n  ${dropletName}: ${leak.size} → ${target}`);
      // The rest of the story wants the leak gone.
      await clearFaults(page, leak.dropletId);
    });

    // Autoscaling: a CPU policy tried with a dry run and enabled; a CPU spike on
    // every droplet scales the cluster up (the decision streams in live and its
    // job succeeds); clearing the faults scales it back down.
    const autoscaling = `${BASE}/autoscaling?cluster=${clusterId}`;
    const decisions = (action) => page.locator(`${tid("decision-row")}[data-action="${action}"]`);
    const startCount = await step(pageRef, "autoscaling-policy", async () => {
      await page.goto(autoscaling);
      const current = page.locator(tid("autoscaling-current"));
      const count = Number(await until("the cluster's droplet count", async () => (await current.getAttribute("data-count").catch(() => "")) || null, {
        timeout: 20_000,
        every: 250,
      }));
      console.log(`\n  droplets now: ${count}`);
      const form = page.locator(`${tid("policy-form")}[data-mode="create"]`);
      await form.waitFor();
      await until("sizes and images in the policy form", async () =>
        (await form.locator(`${tid("policy-size")} option`).count()) > 0 && (await form.locator(`${tid("policy-image")} option`).count()) > 0,
        { timeout: 20_000, every: 250 },
      );
      await form.locator(tid("policy-name")).fill("cpu");
      const cpuOption = form.locator(`${tid("policy-metric")} option`, { hasText: /^CPU$/ });
      await form.locator(tid("policy-metric")).selectOption((await cpuOption.first().getAttribute("value")) ?? "");
      await form.locator(tid("policy-target")).fill("60");
      await form.locator(tid("policy-min")).fill(String(count));
      await form.locator(tid("policy-max")).fill("6");
      await form.locator(tid("policy-down-window")).fill("8");
      if (await form.locator(tid("policy-enabled")).isChecked()) fail("a new policy's Enabled box starts checked");
      await form.locator(tid("policy-submit")).click();
      const row = page.locator(`${tid("policy-row")}[data-policy-name="cpu"]`);
      await row.waitFor().catch(async () => fail(`CreatePolicy did not list the policy${await pageErrors(page)}`));
      if ((await row.getAttribute("data-enabled")) !== "false") fail("the new policy is enabled; it should start disabled");

      // A dry run explains what the policy would do before it is enabled,
      // acting on nothing.
      const result = page.locator(tid("dry-run-result"));
      const refused = page.locator(tid("dry-run-error"));
      await page.click(tid("policy-dry-run"));
      const answer = await until("the dry run's answer", async () => ((await result.isVisible()) ? "result" : (await refused.isVisible()) ? "refused" : null), {
        timeout: 20_000,
        every: 250,
      });
      if (answer !== "result") fail(`the dry run of the disabled policy was refused: ${await text(refused)}`);
      console.log(
        `  dry run (disabled): ${await result.getAttribute("data-action")}, ${await result.getAttribute("data-current")} → ${await result.getAttribute("data-desired")}: ${await text(result.locator(tid("dry-run-explanation")))}`,
      );

      await row.locator(tid("policy-toggle")).click();
      await until("the policy to show enabled", async () => (await row.getAttribute("data-enabled")) === "true", { timeout: 20_000, every: 250 })
        .catch(async () => fail(`UpdatePolicy(enabled) did not enable the policy${await pageErrors(page)}`));
      return count;
    });

    await step(pageRef, "autoscaling-scale-up", async () => {
      await page.goto(autoscaling);
      await page.locator(`${tid("decisions-live")}[data-status="open"]`).waitFor();
      const before = await decisions("scale_up").count();
      await inOtherTab(async (other) => {
        const droplets = await activeDroplets(other, startCount);
        for (const d of droplets) {
          await clearFaults(other, d.id);
          const spike = other.locator(`${tid("fault-kind")} option`, { hasText: /cpu spike/i });
          await other.locator(tid("fault-kind")).selectOption((await spike.first().getAttribute("value")) ?? "");
          await other.locator(tid("fault-duration")).fill("10");
          await other.click(tid("fault-inject"));
          await other.locator(`${tid("fault-row")}[data-kind="cpu_spike"]`).waitFor()
            .catch(async () => fail(`InjectFault on ${d.name} did not list the fault${await pageErrors(other)}`));
        }
        console.log(`\n  cpu spike on ${droplets.map((d) => d.name).join(", ")}`);
      });
      // No reload: WatchDecisions prepends the decision to the open timeline.
      await until("a scale-up decision to stream in", async () => (await decisions("scale_up").count()) > before, { timeout: 90_000, every: 500 })
        .catch(async () => fail(`no scale_up decision appeared${await pageErrors(page)}`));
      const row = decisions("scale_up").first();
      console.log(`  decision: ${await row.getAttribute("data-current")} → ${await row.getAttribute("data-desired")}: ${await text(row.locator(tid("decision-explanation")))}`);
      const link = row.locator(tid("decision-job-link"));
      await link.waitFor({ timeout: 30_000 }).catch(() => fail("the scale-up decision names no job"));
      const href = (await link.getAttribute("href")) ?? "";
      if (!/^\/jobs\/[^/]+$/.test(href)) fail(`the job link points at ${href}`);
      await link.click();
      await page.waitForURL(/\/jobs\/[^/]+$/, { timeout: 20_000 });
      const final = await until("the scaling job to finish", async () => {
        const s = await text(page.locator(tid("job-status")));
        return ["succeeded", "failed", "cancelled"].includes(s) ? s : null;
      }, { every: 500 });
      console.log(`  job ${href.split("/jobs/")[1]}: ${final}`);
      if (final !== "succeeded") fail(`scaling job ended ${final}: ${await text(page.locator(tid("job-error")))}`);
    });

    await step(pageRef, "autoscaling-scale-down", async () => {
      await page.goto(autoscaling);
      await page.locator(`${tid("decisions-live")}[data-status="open"]`).waitFor();
      const before = await decisions("scale_down").count();
      await inOtherTab(async (other) => {
        const droplets = await activeDroplets(other, startCount);
        for (const d of droplets) await clearFaults(other, d.id);
        console.log(`\n  faults cleared on ${droplets.length} droplet(s)`);
      });
      await until("a scale-down decision", async () => (await decisions("scale_down").count()) > before, { timeout: 90_000, every: 500 })
        .catch(async () => fail(`no scale_down decision within 90 s${await pageErrors(page)}`));
      const row = decisions("scale_down").first();
      console.log(`  decision: ${await row.getAttribute("data-current")} → ${await row.getAttribute("data-desired")}: ${await text(row.locator(tid("decision-explanation")))}`);
    });

    // The overview: the fleet at a glance, live. By now the story's cluster has
    // a health check behind its badge, the scaler has decided (up, then down),
    // a diagnosis was run and the activity log is full.
    await step(pageRef, "overview", async () => {
      await page.goto(`${BASE}/`);
      const row = page.locator(tid(`overview-cluster-${clusterName}`));
      await row.waitFor({ timeout: 30_000 }).catch(async () => fail(`cluster ${clusterName} is not on the overview${await pageErrors(page)}`));
      const badge = row.locator(tid("cluster-health"));
      await badge.waitFor().catch(() => fail(`cluster ${clusterName}'s overview row has no health badge`));
      const health = await badge.getAttribute("data-health");
      if (!["healthy", "degraded", "unhealthy", "unknown"].includes(health ?? "")) fail(`the health badge says "${health}"`);
      const link = (await row.locator(tid("overview-cluster-link")).getAttribute("href")) ?? "";
      if (link !== `/clusters/${clusterId}`) fail(`the cluster's overview row links ${link}, not /clusters/${clusterId}`);
      const droplets = Number(await row.locator(tid("overview-cluster-droplets")).getAttribute("data-count"));
      if (!(droplets >= 1)) fail(`the cluster's overview row counts ${droplets} droplet(s)`);
      const cost = await text(row.locator(tid("overview-cluster-cost")));
      console.log(`\n  ${clusterName}: ${health}, ${droplets} droplet(s), ${cost}/mo; fleet total ${await text(page.locator(tid("overview-total-cost")))}`);

      const decisionRows = page.locator(`${tid("overview-decisions-list")} ${tid("overview-decision")}`);
      await until("a scaler decision on the overview", async () => (await decisionRows.count()) > 0, { timeout: 30_000, every: 500 })
        .catch(async (e) => fail(`${e.message}${await pageErrors(page)}`));
      const ours = await page.locator(`${tid("overview-decisions-list")} ${tid("overview-decision")}[data-cluster-id="${clusterId}"]`).count();
      console.log(`  decisions listed: ${await decisionRows.count()} (${ours} of ${clusterName}); latest: ${await decisionRows.first().getAttribute("data-action")}`);

      const diagnosisRows = page.locator(`${tid("overview-diagnoses-list")} ${tid("overview-diagnosis")}`);
      await until("a diagnosis on the overview", async () => (await diagnosisRows.count()) > 0, { timeout: 30_000, every: 500 })
        .catch(async (e) => fail(`${e.message}${await pageErrors(page)}`));
      const latest = diagnosisRows.first();
      const open = (await latest.locator(tid("overview-diagnosis-link")).getAttribute("href")) ?? "";
      if (!/^\/diagnosis\?cluster=[^&]+&diagnosis=[^&]+$/.test(open)) fail(`the latest diagnosis links ${open}`);
      console.log(`  diagnoses listed: ${await diagnosisRows.count()}; latest (${await latest.getAttribute("data-severity")}): ${await text(latest.locator(tid("overview-diagnosis-link")))}`);

      const entries = page.locator(`${tid("overview-activity-list")} ${tid("activity-row")}`);
      await until("activity entries on the overview", async () => (await entries.count()) > 0, { timeout: 30_000, every: 500 })
        .catch(async (e) => fail(`${e.message}${await pageErrors(page)}`));
      await page.locator(`${tid("overview-activity-live")}[data-status="open"]`).waitFor({ timeout: 20_000 })
        .catch(async () => fail(`the overview's activity stream is not live${await pageErrors(page)}`));
      console.log(`  activity: ${await entries.count()} entries, newest ${await entries.first().getAttribute("data-kind")}`);

      const errors = await pageErrors(page);
      if (errors) fail(`a section of the overview failed${errors}`);
    });

    // The System page: every service serving, as the gateway gathers them
    // live (the page asks again every 2 s, so a part between restarts settles).
    await step(pageRef, "system-page", async () => {
      await page.click(tid("nav-system"));
      await page.waitForURL(/\/system$/, { timeout: 20_000 });
      const services = ["gateway", "diagnosis", "jobs", "monitoring", "provisioning", "scaler"];
      const card = (s) => page.locator(tid(`system-service-${s}`));
      const states = async () => Promise.all(services.map(async (s) => `${s}=${await card(s).getAttribute("data-serving", { timeout: 1000 }).catch(() => "missing")}`));
      await until("all six services serving", async () => (await states()).every((s) => s.endsWith("=serving")), { timeout: 60_000, every: 500 })
        .catch(async () => fail(`not every service is serving: ${(await states()).join(", ")}${await pageErrors(page)}`));
      const pool = card("provisioning").locator(tid("system-pool-executor"));
      if ((await pool.count()) !== 1) fail("provisioning shows no executor worker pool");
      console.log(`\n  provisioning executor: ${await text(pool)}`);
      const db = card("gateway").locator(tid("system-dep-database"));
      const dbState = await db.getAttribute("data-state", { timeout: 5000 }).catch(() => null);
      if (dbState !== "up") fail(`the gateway's database dependency is ${dbState ?? "missing"}: ${await text(db)}`);
      console.log(`  summary: ${await text(page.locator(tid("system-summary-serving")))} serving, outbox ${await text(page.locator(tid("system-summary-backlog")))}, dead letters ${await text(page.locator(tid("system-summary-dlq")))}, max lag ${await text(page.locator(tid("system-summary-lag")))}`);
    });

    if (!SKIP_RATE_LIMIT && LIMIT_REQUESTS) {
      await step(pageRef, "lower-rate-limit", async () => {
        await page.click(tid("nav-rate-limits"));
        const requests = page.locator(tid("ratelimit-default-requests"));
        await requests.fill(LIMIT_REQUESTS);
        await page.locator(tid("ratelimit-default-period")).fill("60");
        await page.click(tid("ratelimits-save"));
        await page.locator(tid("ratelimits-saved")).waitFor();
      });
    }

    if (SKIP_RATE_LIMIT) {
      console.log("▶ rate-limit … skipped (CG_SKIP_RATE_LIMIT=1)");
    } else {
      const ctx2 = await browser.newContext({ viewport: { width: 1366, height: 900 } });
      page = await ctx2.newPage();
      page.setDefaultTimeout(20_000);
      await step(pageRef, "rate-limit", async () => {
        const { rateLimited } = await signIn(page, LIMITED);
        const msg = page.locator(tid("rate-limit-message")).first();
        if (rateLimited) {
          console.log("\n  the budget ran out during sign-in already");
        } else {
          await page.click(tid("nav-clusters"));
          const refresh = page.locator(tid("clusters-refresh"));
          let clicks = 0;
          await until("the friendly rate-limit message", async () => msg.isVisible(), {
            timeout: 60_000,
            every: 100,
            tick: async () => {
              if (clicks >= 300) fail("300 refreshes and the gateway never answered RESOURCE_EXHAUSTED");
              if (await refresh.isEnabled()) {
                await refresh.click({ timeout: 5000 }).catch(() => {});
                clicks++;
              }
            },
          });
          console.log(`\n  limited after ${clicks} refresh click(s)`);
          const quota = await text(page.locator(tid("quota-indicator")));
          console.log(`  quota indicator: ${quota}`);
          if (!/^\d+ of \d+ requests left, resets in \d+ s$/.test(quota)) fail(`quota indicator not fed by ratelimit headers: "${quota}"`);
          if (!quota.startsWith("0 of ")) console.log("  (the budget refilled before the indicator was read)");
        }
        const m = await text(msg);
        if (!/going too fast/.test(m)) fail(`unexpected rate-limit message: "${m}"`);
        console.log(`  message: ${m}`);
      });
    }
    console.log("e2e: all steps passed");
  } catch (e) {
    console.log("FAILED");
    if (page) console.error(`  screenshot: ${await screenshot(page, `FAILED-${current}`)}`);
    console.error(`e2e: step "${current}" failed: ${e instanceof StepError ? e.message : e?.stack ?? e}`);
    process.exitCode = 1;
  } finally {
    await browser.close().catch(() => {});
  }
}

await main();
