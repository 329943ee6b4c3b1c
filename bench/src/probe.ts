// SQL probe in workerd: the Room's pendingOutbox query over a room's events/outbox tables of a
// given size, timed from outside (reps=N minus reps=0). `node bench/.build/probe.mjs [events] [indexRows]`.

import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { httpRequest, target } from "./http.js";
import { BASELINE_HOST, freePort, startServer } from "./servers.js";

async function main(): Promise<void> {
  const events = Number(process.argv[2] ?? 20000);
  const indexRows = Number(process.argv[3] ?? 1000);
  const sink = createServer((req, res) => {
    req.resume();
    req.on("end", () => res.writeHead(200, { "content-type": "application/json" }).end('{"failed_pdus":{}}'));
  });
  await new Promise<void>((r) => sink.listen(0, "127.0.0.1", r));
  const sinkUrl = encodeURIComponent(`http://127.0.0.1:${(sink.address() as AddressInfo).port}/send`);
  const port = await freePort();
  const hub = await startServer({ name: "hub.bench.test", port, hostMap: {}, withBaseline: true });
  try {
    const to = target(hub.url);
    const call = async (reps: number) => {
      const t = performance.now();
      const res = await httpRequest(to, "GET", `/probe-outbox?events=${events}&index=${indexRows}&dests=3&destRows=10&reps=${reps}&log=p${events}-${indexRows}`, { headers: { host: BASELINE_HOST } });
      return { ms: performance.now() - t, body: res.body.toString() };
    };
    console.log("setup", (await call(0)).ms.toFixed(1), "ms");
    const base = [];
    const runs = [];
    for (let i = 0; i < 5; i++) {
      base.push((await call(0)).ms);
      runs.push((await call(200)).ms);
    }
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
    console.log((await call(0)).body);
    console.log(`pendingOutbox over ${events} events, ${indexRows} index rows + 30 destination rows: ${(((med(runs) - med(base)) * 1000) / 200).toFixed(1)} µs per query`);
    // Cost of one SQL statement in a DO, by kind (n statements minus none).
    let cpu = 0;
    const stmt = async (kind: string, n: number) => {
      const t = performance.now();
      const c = hub.proc().cpuMs;
      await httpRequest(to, "GET", `/probe-statements?kind=${kind}&n=${n}&url=${sinkUrl}`, { headers: { host: BASELINE_HOST } });
      cpu = hub.proc().cpuMs - c;
      return performance.now() - t;
    };
    await stmt("insert", 2000);
    await stmt("rpc", 10);
    const parts: string[] = [];
    for (const kind of ["select1", "insert", "many", "delete", "insert", "deleteMany", "turns", "insertTurns", "digest", "insertDigest", "rpc", "insertRpc", "fetch"]) {
      const xs: number[] = [];
      const zs: number[] = [];
      const cs: number[] = [];
      for (let i = 0; i < 5; i++) (xs.push(await stmt(kind, 2000)), cs.push(cpu), zs.push(await stmt("select1", 0)));
      parts.push(`${kind} ${(((med(xs) - med(zs)) * 1000) / 2000).toFixed(2)} µs (workerd CPU ${((med(cs) * 1000) / 2000).toFixed(2)} µs)`);
    }
    console.log(`per statement (or per row for many/deleteMany), 2000 each: ${parts.join(", ")}`);
    // Per-event Room storage cycle, by subtraction of each step.
    for (const dests of [1, 10]) {
      const cycle = async (skip: string, cycles: number) => {
        const t = performance.now();
        await httpRequest(to, "GET", `/probe-cycle?cycles=${cycles}&dests=${dests}&skip=${skip}&log=c${dests}`, { headers: { host: BASELINE_HOST } });
        return performance.now() - t;
      };
      await cycle("", 500);
      const out: string[] = [];
      const full: number[] = [];
      const zero: number[] = [];
      for (let i = 0; i < 3; i++) (full.push(await cycle("", 500)), zero.push(await cycle("", 0)));
      const per = ((med(full) - med(zero)) * 1000) / 500;
      out.push(`all ${per.toFixed(1)} µs`);
      for (const skip of ["insert", "outbox", "pending", "delete"]) {
        const xs: number[] = [];
        for (let i = 0; i < 3; i++) xs.push(await cycle(skip, 500));
        out.push(`${skip} ${(per - ((med(xs) - med(zero)) * 1000) / 500).toFixed(1)} µs`);
      }
      console.log(`Room storage per event, ${dests} destinations: ${out.join(", ")}`);
    }
  } finally {
    await hub.dispose();
    sink.close();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
