// Where a run of the suite writes. Only a complete full run writes the tracked files the README
// cites (bench/results/latest-full.json, the B3 plot, the README's table); quick and partial runs,
// and every run's dated copy, go to the git-ignored bench/.build/results/, so trying the suite never
// changes what is checked in.

import { join } from "node:path";

export interface RunKind {
  quick: boolean;
  /** Every benchmark and every B1 cell (no --only, no --cells). */
  complete: boolean;
  /** --out=<file>, for a partial run. */
  out?: string;
  /** ISO date of the run, for the dated copy. */
  date: string;
}

export interface ResultPaths {
  /** The results file to write (JSON). */
  results: string;
  /** A dated copy, for complete runs. */
  dated?: string;
  /** The B3 plot, for complete runs. */
  plot?: string;
  /** Whether the README's figures table is rewritten. */
  readme: boolean;
}

export function resultPaths(root: string, run: RunKind): ResultPaths {
  const tracked = join(root, "bench", "results");
  const scratch = join(root, "bench", ".build", "results");
  const mode = run.quick ? "quick" : "full";
  if (!run.complete) return { results: run.out ?? join(scratch, "partial-latest.json"), readme: false };
  const cited = !run.quick;
  const dir = cited ? tracked : scratch;
  return {
    results: join(dir, `latest-${mode}.json`),
    dated: join(scratch, `${mode}-${run.date.replace(/[:.]/g, "-")}.json`),
    plot: join(dir, `b3-scaling-${mode}.svg`),
    readme: cited,
  };
}
