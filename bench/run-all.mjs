#!/usr/bin/env node
// `npm run bench` (and `bench:quick` with --quick): every benchmark bench/build.mjs builds, one after
// another, so no two share the CPU. Each prints its own figures and ratios; see bench/README.md.

import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const built = join(dirname(fileURLToPath(import.meta.url)), ".build");
const quick = process.argv.includes("--quick");

/** [script, node flags, its arguments in a quick run] */
const BENCHES = [
  ["run.mjs", [], ["--quick"]],
  ["mls-commit.mjs", [], ["--quick"]],
  ["state-resolution.mjs", ["--expose-gc"], ["--quick"]],
  ["dag-accept.mjs", ["--expose-gc"], ["--quick"]],
  ["mimi-hub.mjs", [], ["--quick"]],
  ["sliding-wake.mjs", [], ["--samples=10"]],
];

for (const [script, flags, quickArgs] of BENCHES) {
  console.log(`\n== ${script}${quick ? " (quick)" : ""}`);
  const { status } = spawnSync(process.execPath, [...flags, join(built, script), ...(quick ? quickArgs : [])], { stdio: "inherit" });
  if (status !== 0) {
    console.error(`${script} exited with ${status}`);
    process.exit(status ?? 1);
  }
}
