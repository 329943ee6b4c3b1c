#!/usr/bin/env node
// Builds everything `npm run bench` runs: the Switchboard bundle (wrangler's own bundling, as deployed),
// the bare-append baseline worker, and the two Node processes (orchestrator and load generator).
// Output goes to bench/.build/ (git-ignored), never to dist/, which the federation tests rebuild.

import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const bench = dirname(fileURLToPath(import.meta.url));
const root = join(bench, "..");
const out = join(bench, ".build");
const t0 = Date.now();

execFileSync(join(root, "node_modules", ".bin", "wrangler"), ["deploy", "--dry-run", "--outdir", join(out, "switchboard")], {
  cwd: root,
  env: { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false" },
  stdio: ["ignore", "ignore", "inherit"],
});

await build({
  entryPoints: [join(bench, "baseline", "worker.ts")],
  bundle: true,
  format: "esm",
  platform: "neutral",
  target: "es2022",
  external: ["cloudflare:workers"],
  outfile: join(out, "baseline", "index.js"),
  logLevel: "warning",
});

await build({
  entryPoints: {
    run: join(bench, "src", "run.ts"),
    loadgen: join(bench, "src", "loadgen.ts"),
    profile: join(bench, "src", "profile.ts"),
    probe: join(bench, "src", "probe.ts"),
    // The MLS commit and claim benchmark (issue 7; bench/mls-commit.md).
    "mls-commit": join(bench, "mls-commit.ts"),
    // State resolution v2 / v2.1 (issue 15; bench/README.md "State resolution").
    "state-resolution": join(bench, "state-resolution.ts"),
    // Accepting an event in a full-mesh room (issue 15; bench/README.md "Full-mesh rooms").
    "dag-accept": join(bench, "dag-accept.ts"),
  },
  bundle: true,
  format: "esm",
  platform: "node",
  target: "node20",
  packages: "external",
  outdir: out,
  outExtension: { ".js": ".mjs" },
  logLevel: "warning",
});

console.log(`[bench] built in ${Date.now() - t0} ms`);
