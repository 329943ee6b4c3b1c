// The benchmark suite, run for real at its smallest: `bench/build.mjs`, then the orchestrator with
// B5 and one B1 cell (10 senders x 1 PDU, which also runs the protocol floor). No figure is judged
// (benchmarks are not timed tests); what is pinned is that the suite still builds, drives a real hub,
// its baseline and its floor without a single refused transaction, reports every figure (delivered
// throughput beside accepted included), and leaves every tracked file as it was.

import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..", "..");
const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), "sb-bench-smoke-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Figures {
  eventsPerS: number;
  cpuMsPerEvent: number;
  errors: number;
  failed: number;
  latency: { p50: number; p99: number };
}

describe("npm run bench, smallest run", () => {
  it("builds, runs B5 and the 10 x 1 cell against a hub, the bare append and the protocol floor, and reports every figure", { timeout: 240_000 }, async () => {
    const env = { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false" };
    const tracked = async () => (await run("git", ["status", "--porcelain", "--untracked-files=all"], { cwd: root })).stdout;
    const before = await tracked();
    await run("node", [join(root, "bench", "build.mjs")], { cwd: root, env });
    const out = join(dir, "results.json");
    const { stdout } = await run("node", [join(root, "bench", ".build", "run.mjs"), "--quick", "--only=B1,B5", "--cells=10x1", `--out=${out}`, "--no-readme"], { cwd: root, env, maxBuffer: 16 << 20 });
    // "!!" is the orchestrator's mark for a run with errors or failed PDUs.
    expect(stdout.split("\n").filter((l) => l.includes("!!"))).toEqual([]);
    const r = JSON.parse(readFileSync(out, "utf8")) as {
      b1: {
        cells: Array<{
          senders: number;
          pdusPerTxn: number;
          hub: Figures;
          baseline: Figures;
          floor?: Figures;
          ratio: number;
          floorRatio?: number;
          delivery?: { accepted: number; destinations: number; undelivered: number; deliveredPerS?: number; firstSendToLastDeliveryMs?: number; maxBacklog: number };
        }>;
      };
      b5: { perCheckUs: Record<string, number> };
    };
    expect(r.b1.cells.map((c) => `${c.senders}x${c.pdusPerTxn}`)).toEqual(["10x1"]);
    const cell = r.b1.cells[0];
    for (const [name, f] of [["hub", cell?.hub], ["baseline", cell?.baseline], ["floor", cell?.floor]] as const) {
      expect({ name, errors: f?.errors, failed: f?.failed }).toEqual({ name, errors: 0, failed: 0 });
      expect(f?.eventsPerS, name).toBeGreaterThan(0);
      expect(f?.cpuMsPerEvent, name).toBeGreaterThan(0);
      expect(f?.latency.p99, name).toBeGreaterThanOrEqual(f?.latency.p50 ?? Infinity);
    }
    expect(cell?.ratio).toBeCloseTo((cell?.hub.eventsPerS ?? 0) / (cell?.baseline.eventsPerS ?? 1), 1);
    expect(cell?.floorRatio).toBeCloseTo((cell?.floor?.eventsPerS ?? 0) / (cell?.baseline.eventsPerS ?? 1), 1);
    // Delivered: every accepted event reached all ten simulated servers, and the rate is over the whole span.
    const d = cell?.delivery;
    expect({ destinations: d?.destinations, undelivered: d?.undelivered }).toEqual({ destinations: 10, undelivered: 0 });
    expect(d?.accepted).toBeGreaterThan(0);
    expect(d?.deliveredPerS).toBeCloseTo(((d?.accepted ?? 0) * 1000) / (d?.firstSendToLastDeliveryMs ?? 1), -1);
    expect(d?.maxBacklog).toBeGreaterThanOrEqual(0);
    // Every inbound check B5 times came out as a cost, per 1-PDU and 50-PDU request.
    expect(Object.keys(r.b5.perCheckUs).sort()).toEqual(
      ["ed25519/t1", "eventid/t1", "format/t1", "hash/t1", "lpdu/t1", "signature/t1", "xmatrix/t1", "xmatrix/t50"].sort(),
    );
    expect(r.b5.perCheckUs["signature/t1"]).toBeGreaterThan(0);
    // A partial run writes only where --out says (and the git-ignored build folder): no tracked file changed, none added.
    expect(await tracked()).toBe(before);
  });
});
