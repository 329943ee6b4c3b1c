// The figures of the MLS commit benchmark: its result rows and the Markdown table bench/mls-commit.md shows.

import { r2, type LatencySummary } from "./src/stats.js";

export interface Row {
  members: number;
  kind: string;
  addsPerCommit: number;
  bytes: number;
  latency: LatencySummary;
  cpuMsPerEvent: number;
  /** Every commit's latency in order, so outliers can be told from a trend. */
  samplesMs: number[];
  baseline: { bytes: number; latency: LatencySummary; cpuMsPerEvent: number; samplesMs: number[] };
}

export interface ClaimLevel {
  concurrency: number;
  claims: number;
  latency: LatencySummary;
  claimsPerSecond: number;
  distinct: number;
}

/** The README table: commit cost per group size beside a plain event, then concurrent KeyPackage claims. */
export function table(rows: Row[], claimRows: ClaimLevel[]): string {
  const lines = [
    "| members | commit | bytes | p50 ms | p90 ms | plain event p50 ms | MLS overhead p50 ms | CPU ms/commit | CPU ms/plain |",
    "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ...rows.map(
      (r) =>
        `| ${r.members} | ${r.kind} | ${r.bytes} | ${r.latency.p50} | ${r.latency.p90} | ${r.baseline.latency.p50} | ${r2(r.latency.p50 - r.baseline.latency.p50)} | ${r.cpuMsPerEvent} | ${r.baseline.cpuMsPerEvent} |`,
    ),
    "",
    "| concurrent claimers | claims | p50 ms | p99 ms | claims/s | distinct KeyPackages |",
    "|---:|---:|---:|---:|---:|---:|",
    ...claimRows.map((c) => `| ${c.concurrency} | ${c.claims} | ${c.latency.p50} | ${c.latency.p99} | ${c.claimsPerSecond} | ${c.distinct} |`),
  ];
  return lines.join("\n");
}
