// The house rule: no source file over 400 lines, so each concept keeps a small file of its own.

import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const DIRS = ["workers", "durable-objects", "shared", "bin", "scripts", "bench", "test"];
const MAX_LINES = 400;

// Nothing is exempt; a file named here would need a stated reason.
const EXEMPT = new Set<string>([]);

const isSource = (path: string): boolean => /\.(ts|mjs)$/.test(path) && !path.startsWith("bench/.build/");

/** Tracked files under DIRS; outside a git checkout, every file there except dot-folders and node_modules. */
function sourceFiles(): string[] {
  try {
    const out = execFileSync("git", ["ls-files", "-z", "--", ...DIRS], { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    const tracked = out.split("\0").filter((p) => p !== "");
    if (tracked.length > 0) return tracked.filter(isSource);
  } catch {
    // not a git checkout: walk the folders instead
  }
  const found: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      if (name === "node_modules" || name.startsWith(".")) continue;
      const full = join(dir, name);
      if (statSync(full).isDirectory()) walk(full);
      else found.push(relative(ROOT, full).split(sep).join("/"));
    }
  };
  for (const dir of DIRS) {
    try {
      walk(join(ROOT, dir));
    } catch {
      // a folder this checkout lacks
    }
  }
  return found.filter(isSource);
}

const lineCount = (text: string): number => text.split("\n").length - (text.endsWith("\n") ? 1 : 0);

describe("file size", () => {
  it(`no .ts or .mjs file under ${DIRS.join(", ")} is over ${MAX_LINES} lines`, () => {
    const files = sourceFiles();
    expect(files).toContain("shared/ids.ts");
    const offenders = files
      .filter((p) => !EXEMPT.has(p))
      .map((p) => ({ path: p, lines: lineCount(readFileSync(join(ROOT, p), "utf8")) }))
      .filter((f) => f.lines > MAX_LINES)
      .map((f) => `${f.path}: ${f.lines} lines`);
    expect(offenders).toEqual([]);
  });
});
