// The platform's unit costs inside workerd, measured in the same run as the benchmarks: n operations
// in one request to the baseline Durable Object, minus the same request with none, wall time from
// outside and workerd CPU from /proc. They explain the per-event figures (bench/README.md).

import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { httpRequest, target } from "./http.js";
import { BASELINE_HOST, type BenchServer } from "./servers.js";
import { median, r2 } from "./stats.js";

export interface UnitCost {
  /** Wall time per operation, microseconds. */
  us: number;
  /** workerd CPU per operation (user + system, /proc), microseconds. */
  cpuUs: number;
}

export interface PlatformCosts {
  /** A SQL INSERT in a turn that already writes. */
  statement: UnitCost;
  /** One more row in a json_each multi-row INSERT. */
  batchedRow: UnitCost;
  /** A write transaction of its own (an INSERT in its own turn), beyond the turn itself. */
  writeTransaction: UnitCost;
  /** A Durable Object RPC to another object, there and back. */
  rpc: UnitCost;
  /** An outbound HTTP PUT of a ~1 KB body to a loopback server, as a federation transaction. */
  fetch: UnitCost;
  /** ctx.storage.setAlarm awaited after a write (what Destination.drain does per transaction). */
  setAlarm: UnitCost;
  n: number;
}

export async function platformCosts(hub: BenchServer, n = 2000, reps = 5): Promise<PlatformCosts> {
  const sink = createServer((req, res) => {
    req.resume();
    req.on("end", () => res.writeHead(200, { "content-type": "application/json" }).end('{"failed_pdus":{}}'));
  });
  await new Promise<void>((r) => sink.listen(0, "127.0.0.1", r));
  const sinkUrl = encodeURIComponent(`http://127.0.0.1:${(sink.address() as AddressInfo).port}/send`);
  const to = target(hub.url);
  try {
    const run = async (kind: string, count: number): Promise<{ ms: number; cpuMs: number }> => {
      const c = hub.proc().cpuMs;
      const t = performance.now();
      const res = await httpRequest(to, "GET", `/probe-statements?kind=${kind}&n=${count}&url=${sinkUrl}&log=costs`, { headers: { host: BASELINE_HOST } });
      const ms = performance.now() - t;
      if (res.status !== 200) throw new Error(`probe ${kind}: HTTP ${res.status} ${res.body.toString().slice(0, 200)}`);
      return { ms, cpuMs: hub.proc().cpuMs - c };
    };
    const per = async (kind: string, minus?: string): Promise<UnitCost> => {
      await run(kind, Math.min(n, 200));
      const w: number[] = [];
      const c: number[] = [];
      for (let i = 0; i < reps; i++) {
        const a = await run(kind, n);
        const b = await run(minus ?? "select1", minus ? n : 0);
        w.push(a.ms - b.ms);
        c.push(a.cpuMs - b.cpuMs);
      }
      return { us: r2((median(w) * 1000) / n), cpuUs: r2(Math.max(0, (median(c) * 1000) / n)) };
    };
    return {
      statement: await per("insert"),
      batchedRow: await per("many"),
      writeTransaction: await per("insertTurns", "turns"),
      rpc: await per("rpc"),
      fetch: await per("fetch"),
      setAlarm: await per("insertSetAlarm", "insert"),
      n,
    };
  } finally {
    sink.close();
  }
}
