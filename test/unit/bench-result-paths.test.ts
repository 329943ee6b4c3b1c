// Where the benchmark suite writes (bench/src/result-paths.ts): trying it (`npm run bench:quick`, a
// partial run) must leave every tracked file alone; only a complete full run writes the results the
// README cites.

import { execFileSync } from "node:child_process";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { resultPaths } from "../../bench/src/result-paths.js";

const root = join(import.meta.dirname, "..", "..");
const date = "2026-12-06T08:00:00.000Z";

/** Whether git ignores `file` (so writing it cannot change `git status`). */
function ignored(file: string): boolean {
  try {
    execFileSync("git", ["check-ignore", "-q", relative(root, file)], { cwd: root });
    return true;
  } catch {
    return false;
  }
}

describe("benchmark result files", () => {
  it("a quick run writes only git-ignored files and leaves the README alone", () => {
    const p = resultPaths(root, { quick: true, complete: true, date });
    expect(p.readme).toBe(false);
    for (const f of [p.results, p.dated, p.plot]) expect({ f: relative(root, f ?? ""), ignored: ignored(f ?? "") }).toEqual({ f: relative(root, f ?? ""), ignored: true });
  });

  it("a partial run writes one git-ignored file, or the one --out names", () => {
    const p = resultPaths(root, { quick: false, complete: false, date });
    expect(p).toEqual({ results: p.results, readme: false });
    expect(ignored(p.results)).toBe(true);
    expect(resultPaths(root, { quick: true, complete: false, date, out: "/tmp/x.json" })).toEqual({ results: "/tmp/x.json", readme: false });
  });

  it("a complete full run writes the tracked results file, plot and table the README cites, and its dated copy where git ignores it", () => {
    const p = resultPaths(root, { quick: false, complete: true, date });
    expect(relative(root, p.results)).toBe(join("bench", "results", "latest-full.json"));
    expect(relative(root, p.plot ?? "")).toBe(join("bench", "results", "b3-scaling-full.svg"));
    expect(p.readme).toBe(true);
    expect(ignored(p.results)).toBe(false);
    expect(ignored(p.dated ?? "")).toBe(true);
  });
});
