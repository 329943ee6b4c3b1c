// `npm run bench` / `npm run bench:quick`: the orchestrator. It starts Switchboard servers on bare
// Miniflare (one workerd process each), forks the load generator (a separate Node process that plays
// remote servers and clients), runs B1..B6, reads workerd's CPU time and memory from /proc, prints
// every figure beside a baseline measured in the same run. A complete full run writes the files the
// README cites (bench/results/latest-full.json, the B3 plot, the README's table); every other run
// (quick, --only, --cells) writes under the git-ignored bench/.build/results/ only, so trying the
// suite never changes tracked files.
//
// Options: --quick (smaller sizes, < 2 min), --only=B1,B3 (a subset), --cells=10x1 (B1 cells),
// --out=<file> (a partial run's results file), --no-readme (leave README alone).

import { fork } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { LoadGenClient } from "./ipc.js";
import { scalingSvg } from "./plot.js";
import { platformCosts } from "./costs.js";
import { freePort, NO_LIMITS, ROOT, startServer, type BenchServer } from "./servers.js";
import { r0 } from "./stats.js";
import type * as T from "./types.js";
import { resultPaths } from "./result-paths.js";
import { figuresTable } from "./report.js";
import { argv, QUICK, ONLY, CELLS, PARTIAL_OUT, CFG, HUB, PARTICIPANTS, SENDERS, MEMBERS, JOINERS, started, log, results } from "./run-config.js";
import { mib } from "./run-measure.js";
import { runB1 } from "./run-b1.js";
import { runB2, runB3 } from "./run-fanout-scaling.js";
import { runB4, runB5, runB6 } from "./run-joins-inbound-memory.js";

async function main(): Promise<void> {
  log(`mode ${results.mode}; ${results.machine.cpus} × ${results.machine.cpuModel}; load average ${results.machine.loadavgAtStart.join(" ")}`);
  const child = fork(join(ROOT, "bench", ".build", "loadgen.mjs"), [], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const lg = new LoadGenClient(child, (line) => log(line));
  const servers: BenchServer[] = [];
  try {
    const { hostMap: fakeMap } = await lg.call<{ hostMap: Record<string, string> }>("init", { names: [...SENDERS, ...MEMBERS, ...JOINERS] });
    log(`load generator up (pid ${child.pid}): ${Object.keys(fakeMap).length} simulated remote servers; builders match shared/`);
    const needParticipants = ONLY.has("B2");
    const names = [HUB, ...(needParticipants ? PARTICIPANTS : [])];
    const ports = await Promise.all(names.map(() => freePort()));
    const hostMap: Record<string, string> = { ...fakeMap };
    names.forEach((n, i) => (hostMap[n] = `http://127.0.0.1:${ports[i]}`));
    const extra = { RATE_LIMITS: NO_LIMITS };
    const hub = await startServer({ name: HUB, port: ports[0] as number, hostMap, withBaseline: true, bindings: extra });
    servers.push(hub);
    log(`hub ${HUB} on :${hub.port} (workerd pid ${hub.pid}, RSS ${mib(hub.proc().rssKiB)} MiB)`);
    await lg.call("setHub", { name: HUB, url: hub.url });
    const owner = await lg.call<T.Account>("register", { url: hub.url, username: "bench" });

    if (ONLY.has("COSTS") || ONLY.has("B1")) {
      log("Platform unit costs in this workerd (n operations in one request minus none; CPU from /proc)");
      const c = await platformCosts(hub, CFG.costs.n, CFG.costs.reps);
      results.costs = c;
      log(
        `  SQL statement in a writing turn ${c.statement.us} µs; extra row in a multi-row INSERT ${c.batchedRow.us} µs; ` +
          `a write transaction of its own ${c.writeTransaction.us} µs (${c.writeTransaction.cpuUs} µs CPU); DO RPC ${c.rpc.us} µs (${c.rpc.cpuUs} µs CPU); outbound fetch ${c.fetch.us} µs (${c.fetch.cpuUs} µs CPU)`,
      );
    }
    if (ONLY.has("B5")) await runB5(lg, hub, owner);
    if (ONLY.has("B1")) await runB1(lg, hub, owner);
    if (ONLY.has("B2")) {
      // One at a time: each start identifies its workerd as the one new child process.
      const parts: BenchServer[] = [];
      for (const [i, n] of PARTICIPANTS.entries()) parts.push(await startServer({ name: n, port: ports[i + 1] as number, hostMap, bindings: extra }));
      servers.push(...parts);
      await runB2(lg, hub, owner, parts);
      await Promise.all(parts.map((p) => p.dispose()));
      servers.splice(1);
    }
    if (ONLY.has("B3")) await runB3(lg, hub, owner);
    if (ONLY.has("B4")) await runB4(lg, hub, owner);
    await hub.dispose();
    servers.splice(0);
    if (ONLY.has("B6")) await runB6(lg, hostMap, extra);
  } finally {
    await Promise.allSettled(servers.map((s) => s.dispose()));
    child.disconnect();
  }
  results.durationS = r0((Date.now() - started) / 1000);
  const json = JSON.stringify(results, null, 2);
  // A partial run (--only, --cells) never stands in for a whole run, and only a complete full run
  // writes where the README looks (result-paths.ts).
  const paths = resultPaths(ROOT, { quick: QUICK, complete: ONLY.size === 7 && !CELLS, date: results.date, ...(PARTIAL_OUT ? { out: PARTIAL_OUT } : {}) });
  for (const file of [paths.results, paths.dated]) {
    if (file === undefined) continue;
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, json);
  }
  const table = figuresTable(results);
  console.log("\n" + table + "\n");
  if (results.b3 && paths.plot) writeFileSync(paths.plot, scalingSvg(results));
  if (paths.readme && !argv.includes("--no-readme")) updateReadme(table);
  log(`done in ${results.durationS} s; results in ${relative(ROOT, paths.results)}`);
}



function updateReadme(table: string): void {
  const path = join(ROOT, "bench", "README.md");
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return;
  }
  const start = "<!-- figures:start -->";
  const end = "<!-- figures:end -->";
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  if (a < 0 || b < a) return;
  writeFileSync(path, `${text.slice(0, a + start.length)}\n${table}\n${text.slice(b)}`);
  log("bench/README.md figures table updated");
}


main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
