// ESLint (flat config): recommended JS + TypeScript rules, the React hooks
// rules, and the import boundaries between feature folders.
import { readdirSync } from "node:fs";
import Module from "node:module";
import js from "@eslint/js";
import { defineConfig } from "eslint/config";
import { createNodeResolver, importX } from "eslint-plugin-import-x";
import reactHooks from "eslint-plugin-react-hooks";
import globals from "globals";

// typescript-eslint parses with the classic TypeScript JS API, which
// TypeScript 7 (the native `tsc` we compile with) no longer ships. It gets its
// own TypeScript 6.0 (the `typescript-classic` alias in package.json): only
// requires of "typescript" made from typescript-eslint's packages are
// redirected to it. Parsing only, no type-aware rules.
const resolveFilename = Module._resolveFilename;
const TS_ESLINT = /[\\/]node_modules[\\/](@typescript-eslint|typescript-eslint|ts-api-utils)[\\/]/;
Module._resolveFilename = function (request, parent, ...rest) {
  const redirect = request === "typescript" && TS_ESLINT.test(parent?.filename ?? "");
  return resolveFilename.call(this, redirect ? "typescript-classic" : request, parent, ...rest);
};
const { default: tseslint } = await import("typescript-eslint");

const features = readdirSync(new URL("./src/features", import.meta.url), { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name);

// A feature (src/features/<area>/) imports its own folder, src/lib,
// src/components, src/gen and packages; src/lib and src/components import
// neither a feature nor the app shell (src/app).
const boundaries = [
  ...features.map((f) => ({
    target: `./src/features/${f}`,
    from: "./src/features",
    except: [`./${f}`],
    message: "A feature imports only its own folder, src/lib, src/components and src/gen: move what is shared there.",
  })),
  { target: "./src/features", from: "./src/app", message: "A feature must not depend on the app shell." },
  {
    target: ["./src/lib", "./src/components"],
    from: ["./src/features", "./src/app"],
    message: "Shared code must not depend on a feature or the app shell.",
  },
];

export default defineConfig(
  { ignores: ["dist/", "src/gen/", "node_modules/", "e2e/artifacts/"] },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    files: ["src/**/*.{ts,tsx}", "test/**/*.{ts,tsx}"],
    languageOptions: { globals: globals.browser },
    plugins: { "react-hooks": reactHooks },
    rules: reactHooks.configs.recommended.rules,
  },
  {
    files: ["scripts/**", "e2e/**", "*.config.{js,ts}"],
    languageOptions: { globals: globals.node },
  },
  {
    files: ["src/**/*.{ts,tsx}"],
    plugins: { "import-x": importX },
    settings: { "import-x/resolver-next": [createNodeResolver({ extensions: [".ts", ".tsx", ".js"] })] },
    rules: { "import-x/no-restricted-paths": ["error", { zones: boundaries }] },
  },
);
