// Fails when the production JS (gzipped, all chunks together) exceeds the budget.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

const BUDGET = 300 * 1024;
const dir = new URL("../dist/assets/", import.meta.url).pathname;
let files;
try {
  files = readdirSync(dir).filter((f) => f.endsWith(".js"));
} catch {
  console.error(`size: ${dir} not found — run \`npm run build\` first`);
  process.exit(1);
}
if (files.length === 0) {
  console.error("size: no JS in dist/assets — run `npm run build` first");
  process.exit(1);
}
let total = 0;
for (const f of files) {
  const raw = readFileSync(join(dir, f));
  const gz = gzipSync(raw, { level: 9 }).length;
  total += gz;
  console.log(`${f.padEnd(40)} ${(raw.length / 1024).toFixed(1).padStart(8)} KB raw ${(gz / 1024).toFixed(1).padStart(7)} KB gzip`);
}
const verdict = total <= BUDGET ? "ok" : "OVER BUDGET";
console.log(`total JS gzip: ${(total / 1024).toFixed(1)} KB of ${BUDGET / 1024} KB — ${verdict}`);
process.exit(total <= BUDGET ? 0 : 1);
