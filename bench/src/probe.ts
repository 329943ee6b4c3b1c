// Probes in workerd, timed from outside (n operations minus none): the Room's pendingOutbox query
// over events/outbox tables of a given size, and the platform unit costs (costs.ts).
// `node bench/.build/probe.mjs [events] [indexRows]`.

import { httpRequest, target } from "./http.js";
import { platformCosts } from "./costs.js";
import { BASELINE_HOST, freePort, startServer } from "./servers.js";

async function main(): Promise<void> {
  const events = Number(process.argv[2] ?? 20000);
  const indexRows = Number(process.argv[3] ?? 1000);
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
    console.log(JSON.stringify(await platformCosts(hub), null, 1));
  } finally {
    await hub.dispose();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
