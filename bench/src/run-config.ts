// The bench orchestrator's options (--quick, --only, --cells, --out), sizes per mode, server names,
// its log and the results object every benchmark fills in.

import { readFileSync } from "node:fs";
import { cpus, totalmem, loadavg } from "node:os";
import { join } from "node:path";
import { ROOT } from "./servers.js";
import { r2 } from "./stats.js";
import { type Results } from "./report.js";

export const argv = process.argv.slice(2);
export const QUICK = argv.includes("--quick");
export const ONLY = new Set((argv.find((a) => a.startsWith("--only="))?.slice(7) ?? "COSTS,B1,B2,B3,B4,B5,B6").toUpperCase().split(","));
/** --cells=10x1,10x50 runs only those B1 cells (senders x PDUs per transaction), for before/after checks. */
export const CELLS = argv.find((a) => a.startsWith("--cells="))?.slice(8).split(",");
/** --out=<file>: where a partial run writes its results (default bench/.build/results/partial-latest.json). */
export const PARTIAL_OUT = argv.find((a) => a.startsWith("--out="))?.slice(6);

// Quick: every benchmark at a small size (B1 without the 50-sender cells), for a check in < 2 min.
export const CFG = QUICK
  ? {
      b1: { senders: [1, 10], shapes: [1, 50], warmupMs: 400, durationMs: 1_500, baselineMs: 1_000 },
      b2: { rates: [100, 500], durationMs: [2_000, 1_000] },
      b3: { rooms: [1, 4, 16, 64], warmupMs: 300, durationMs: 1_000 },
      b4: { sizes: [10, 100, 1_000], joinsPerSize: 2 },
      b5: { n: 300, reps: 2 },
      b6: { events: 10_000, rooms: 100, idleWaitMs: 3_000 },
      costs: { n: 500, reps: 3 },
    }
  : {
      b1: { senders: [1, 10, 50], shapes: [1, 50], warmupMs: 1_000, durationMs: 5_000, baselineMs: 3_000 },
      b2: { rates: [100, 500], durationMs: [8_000, 3_000] },
      b3: { rooms: [1, 2, 4, 8, 16, 32, 64], warmupMs: 800, durationMs: 3_000 },
      b4: { sizes: [10, 100, 1_000, 5_000], joinsPerSize: 5 },
      b5: { n: 2_000, reps: 5 },
      b6: { events: 100_000, rooms: 1_000, idleWaitMs: 15_000 },
      costs: { n: 2_000, reps: 5 },
    };

export const HUB = "hub.bench.test";
export const PARTICIPANTS = ["p1.bench.test", "p2.bench.test", "p3.bench.test"];
export const SENDERS = Array.from({ length: 64 }, (_, i) => `s${String(i).padStart(2, "0")}.fake.test`);
export const MEMBERS = Array.from({ length: 10 }, (_, i) => `m${i}.fake.test`);
export const JOINERS = Array.from({ length: 4 }, (_, i) => `j${i}.fake.test`);

export const started = Date.now();
export function log(line: string): void {
  const t = ((Date.now() - started) / 1000).toFixed(1).padStart(6);
  console.log(`[bench ${t}s] ${line}`);
}

export const results: Results = {
  mode: QUICK ? "quick" : "full",
  date: new Date().toISOString(),
  machine: {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? "unknown",
    memGiB: r2(totalmem() / 2 ** 30),
    node: process.version,
    loadavgAtStart: loadavg().map(r2),
  },
  versions: versions(),
};

export function versions(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of ["miniflare", "wrangler", "workerd"]) {
    try {
      out[p] = (JSON.parse(readFileSync(join(ROOT, "node_modules", p, "package.json"), "utf8")) as { version: string }).version;
    } catch {
      out[p] = "unknown";
    }
  }
  return out;
}
