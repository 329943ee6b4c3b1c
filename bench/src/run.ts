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
import { cpus, totalmem, loadavg } from "node:os";
import { dirname, join, relative } from "node:path";
import { LoadGenClient } from "./ipc.js";
import { scalingSvg } from "./plot.js";
import { platformCosts } from "./costs.js";
import { waitQuiet } from "./proc.js";
import { BASELINE_HOST, freePort, NO_LIMITS, ROOT, startServer, type BenchServer } from "./servers.js";
import { median, r0, r2, summarize } from "./stats.js";
import type * as T from "./types.js";
import { resultPaths } from "./result-paths.js";
import { deliveryLine, figuresTable, type Results, type RunFiguresJson } from "./report.js";
import type { DeliveryFigures } from "./delivery.js";

const argv = process.argv.slice(2);
const QUICK = argv.includes("--quick");
const ONLY = new Set((argv.find((a) => a.startsWith("--only="))?.slice(7) ?? "COSTS,B1,B2,B3,B4,B5,B6").toUpperCase().split(","));
/** --cells=10x1,10x50 runs only those B1 cells (senders x PDUs per transaction), for before/after checks. */
const CELLS = argv.find((a) => a.startsWith("--cells="))?.slice(8).split(",");
/** --out=<file>: where a partial run writes its results (default bench/.build/results/partial-latest.json). */
const PARTIAL_OUT = argv.find((a) => a.startsWith("--out="))?.slice(6);

// Quick: every benchmark at a small size (B1 without the 50-sender cells), for a check in < 2 min.
const CFG = QUICK
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

const HUB = "hub.bench.test";
const PARTICIPANTS = ["p1.bench.test", "p2.bench.test", "p3.bench.test"];
const SENDERS = Array.from({ length: 64 }, (_, i) => `s${String(i).padStart(2, "0")}.fake.test`);
const MEMBERS = Array.from({ length: 10 }, (_, i) => `m${i}.fake.test`);
const JOINERS = Array.from({ length: 4 }, (_, i) => `j${i}.fake.test`);

const started = Date.now();
function log(line: string): void {
  const t = ((Date.now() - started) / 1000).toFixed(1).padStart(6);
  console.log(`[bench ${t}s] ${line}`);
}

const results: Results = {
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

function versions(): Record<string, string> {
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

const mib = (kib: number) => r0(kib / 1024);

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

// ---------------------------------------------------------------------------------------------
// CPU accounting: workerd's own CPU time (utime + stime from /proc) from before a run until the
// hub is quiet again (fan-out included), divided by the events it accepted.
// ---------------------------------------------------------------------------------------------

async function measured<R extends T.RunResult>(server: BenchServer, lg: LoadGenClient, run: () => Promise<R>): Promise<R & { cpuMs: number; wallMs: number; genCpuMs: number; peakCorePct: number }> {
  await waitQuiet(server.pid);
  const c0 = server.proc().cpuMs;
  const g0 = await lg.call<number>("selfCpu");
  const w0 = Date.now();
  let peak = 0;
  let last = { t: w0, c: c0 };
  const timer = setInterval(() => {
    const c = server.proc().cpuMs;
    const t = Date.now();
    if (t > last.t) peak = Math.max(peak, (100 * (c - last.c)) / (t - last.t));
    last = { t, c };
  }, 500);
  const r = await run();
  const g1 = await lg.call<number>("selfCpu");
  await waitQuiet(server.pid);
  clearInterval(timer);
  const c1 = server.proc().cpuMs;
  return { ...r, cpuMs: c1 - c0, wallMs: Date.now() - w0, genCpuMs: g1 - g0, peakCorePct: r0(peak) };
}

function runFigures(r: T.RunResult & { cpuMs: number }): RunFiguresJson {
  const all = r.latencies.flat();
  const accepted = r.sentEvents - r.failed;
  return {
    eventsPerS: r0((r.eventsInWindow * 1000) / r.windowMs),
    txnsPerS: r0((r.txnsInWindow * 1000) / r.windowMs),
    latency: summarize(all),
    ...(r.handlerMs && r.handlerMs.length > 0 ? { handler: summarize(r.handlerMs) } : {}),
    windowMs: r0(r.windowMs),
    accepted,
    failed: r.failed,
    errors: r.errors,
    ...(r.firstError !== undefined ? { firstError: r.firstError } : {}),
    cpuMsPerEvent: accepted > 0 ? Math.round((r.cpuMs / accepted) * 1000) / 1000 : NaN,
    exhausted: r.exhausted,
    ...(r.pushedBack ? { pushedBack: r.pushedBack, pushedBackMs: r.pushedBackMs ?? 0 } : {}),
  };
}

function check(r: RunFiguresJson, what: string): void {
  if (r.errors > 0 || r.failed > 0) log(`  !! ${what}: ${r.errors} errors, ${r.failed} failed PDUs: ${r.firstError ?? ""}`);
}

// ---------------------------------------------------------------------------------------------
// B1: one room, LPDUs from remote servers
// ---------------------------------------------------------------------------------------------

async function runB1(lg: LoadGenClient, hub: BenchServer, owner: T.Account): Promise<void> {
  const cfg = CFG.b1;
  log("B1: one room's sequencing throughput and latency (LPDUs over /send from simulated remote servers)");
  const [roomId] = await lg.call<string[]>("createRooms", { account: owner, count: 1, concurrency: 1 });
  const room = roomId as string;
  let joined = 0;
  const cells: NonNullable<Results["b1"]>["cells"] = [];
  const lastRate = new Map<number, number>();
  await lg.call("floorKeys", { host: BASELINE_HOST, fakes: SENDERS });
  for (const k of cfg.senders) {
    if (CELLS && !cfg.shapes.some((shape) => CELLS.includes(`${k}x${shape}`))) continue;
    if (joined < k) {
      const timings = await lg.call<T.JoinTiming[]>("joinFakes", { roomId: room, fakes: SENDERS.slice(joined, k) });
      log(`  joined ${k - joined} more servers via make_join/send_join (send_join p50 ${r2(median(timings.map((t) => t.sendJoinMs)))} ms)`);
      joined = k;
    }
    for (const shape of cfg.shapes) {
      if (CELLS && !CELLS.includes(`${k}x${shape}`)) continue;
      const base = await measured(hub, lg, () =>
        lg.call<T.RunResult>("baseline", { host: BASELINE_HOST, log: `b1-${k}-${shape}`, concurrency: k, rowsPerReq: shape, warmupMs: cfg.warmupMs, durationMs: cfg.baselineMs, rowFrom: SENDERS[0] }),
      );
      const bf = runFigures(base);
      check(bf, "baseline");
      // Enough prepared for the window at up to 3x the last rate seen for this shape (the first
      // cell of a shape assumes a generous ceiling); should it run out, the window ends early.
      // (50-PDU transactions are answered as soon as they are sequenced while wide fan-out drains
      // behind them, so their acceptance rate can far exceed the last cell's: always 9,000/s.)
      const capRate = shape === 1 ? Math.min(2_500, 3 * (lastRate.get(shape) ?? Infinity)) : 9_000;
      // With 50 servers every event fans out 50 ways and the backlog drains after the window (its
      // CPU is counted): a shorter window keeps the cell's time down without changing its rate.
      // Not for 50 x 50: 2,500 PDUs in flight take seconds each, and the window must hold some.
      const windowMs = k >= 50 && shape === 1 ? Math.round(cfg.durationMs / 2) : cfg.durationMs;
      // Senders are not served equally under saturation (one of 50 has been seen sending 3-12x its
      // share), and the window ends when any sender's queue runs dry: with 1-PDU transactions from
      // several senders each gets 4x its share. (50-PDU cells keep the fixed ceiling, already ≈ 3x
      // what they reach; 4x of it would be hundreds of MB of prepared bodies, whose GC in the load
      // generator competes with the hub for the two cores.)
      const share = shape === 1 && k > 1 ? 4 : 1;
      const txnsPerSender = Math.ceil((share * capRate * (cfg.warmupMs + windowMs)) / 1000 / k / shape);
      const prep = await lg.call<T.PrepareResult>("prepare", {
        key: "b1",
        senders: SENDERS.slice(0, k).map((fake) => ({ fake, roomId: room })),
        pdusPerTxn: shape,
        txnsPerSender,
      });
      const s0 = await lg.call<{ received: number; transactions: number }>("fanoutStats");
      await lg.call("deliveryStart");
      let delivery: DeliveryFigures | undefined;
      const r = await measured(hub, lg, async () => {
        const closed = await lg.call<T.RunResult>("runClosed", { key: "b1", warmupMs: cfg.warmupMs, durationMs: windowMs });
        // Delivered: until every simulated server (each a destination of every event) has what was accepted.
        delivery = await lg.call<DeliveryFigures>("deliveryReport", { destinations: SENDERS.slice(0, joined), timeoutMs: 60_000 });
        return closed;
      });
      const s1 = await lg.call<{ received: number; transactions: number }>("fanoutStats");
      const fanOutPdusPerTxn = s1.transactions > s0.transactions ? r2((s1.received - s0.received) / (s1.transactions - s0.transactions)) : undefined;
      const f = runFigures(r);
      check(f, `B1 ${k}x${shape}`);
      const ratio = r2(f.eventsPerS / bf.eventsPerS);
      lastRate.set(shape, Math.max(200, f.eventsPerS));
      // The target cells also get the protocol floor: the same signed transactions through only the
      // checks, completion and append the draft requires (bench/baseline/worker.ts), as a second
      // baseline, to show how much of the bare append's rate any hub could keep.
      let floor: RunFiguresJson | undefined;
      if (k === 10) {
        // Prepared for a little above the bare append's rate, which the floor cannot beat.
        const floorCap = Math.min(shape === 1 ? 2_500 : 9_000, 1.2 * bf.eventsPerS);
        await lg.call<T.PrepareResult>("prepare", {
          key: "floor",
          senders: SENDERS.slice(0, k).map((fake) => ({ fake, roomId: room })),
          pdusPerTxn: shape,
          txnsPerSender: Math.ceil((share * floorCap * (cfg.warmupMs + cfg.durationMs)) / 1000 / k / shape),
        });
        floor = runFigures(await measured(hub, lg, () => lg.call<T.RunResult>("runClosed", { key: "floor", warmupMs: cfg.warmupMs, durationMs: cfg.durationMs, host: BASELINE_HOST })));
        check(floor, `B1 ${k}x${shape} protocol floor`);
      }
      cells.push({
        senders: k,
        pdusPerTxn: shape,
        hub: f,
        baseline: bf,
        ratio,
        ...(floor ? { floor, floorRatio: r2(floor.eventsPerS / bf.eventsPerS) } : {}),
        fanOutServers: joined,
        ...(delivery ? { delivery } : {}),
        prepMs: r0(prep.ms),
        txnBytes: prep.bytesPerTxn,
        genCpuMs: r0(r.genCpuMs),
        peakCorePct: r.peakCorePct,
        ...(fanOutPdusPerTxn === undefined ? {} : { fanOutPdusPerTxn }),
      });
      log(
        `  ${String(k).padStart(2)} senders × ${String(shape).padStart(2)} PDU/txn: ${f.eventsPerS} events/s accepted, txn p50 ${f.latency.p50} p99 ${f.latency.p99} ms` +
          (f.handler ? ` (inside the hub's Worker p50 ${f.handler.p50} p99 ${f.handler.p99})` : "") +
          `, ` +
          `hub CPU ${f.cpuMsPerEvent} ms/event (one core sustains ≈ ${r0(1000 / f.cpuMsPerEvent)}/s) | baseline ${bf.eventsPerS} rows/s p50 ${bf.latency.p50} p99 ${bf.latency.p99} ms, ${bf.cpuMsPerEvent} ms/row | ratio ${ratio}` +
          (fanOutPdusPerTxn === undefined ? "" : `; fan-out ${fanOutPdusPerTxn} events per outgoing transaction`) +
          (delivery ? `; ${deliveryLine(delivery)}` : "") +
          (f.pushedBack ? `; ${f.pushedBack} answers 429 (waited ${f.pushedBackMs} ms in all)` : "") +
          (floor ? ` | protocol floor ${floor.eventsPerS} events/s, ${floor.cpuMsPerEvent} ms/event, ratio ${r2(floor.eventsPerS / bf.eventsPerS)}` : "") +
          (f.exhausted ? " (window ended early: prepared load used up)" : ""),
      );
    }
  }
  // By subtraction across cells: the same 50-PDU transactions fanned out to 1, 10 and 50 servers.
  // A least-squares line through (servers, CPU per event) splits the hub's CPU per accepted event
  // into acceptance (the intercept: checks, completion, signing, persistence, ack) and fan-out
  // (the slope: per destination server).
  const fit = (shape: number) => {
    const pts = cells.filter((c) => c.pdusPerTxn === shape && Number.isFinite(c.hub.cpuMsPerEvent)).map((c) => [c.fanOutServers, c.hub.cpuMsPerEvent] as const);
    if (pts.length < 2) return undefined;
    const mx = pts.reduce((a, p) => a + p[0], 0) / pts.length;
    const my = pts.reduce((a, p) => a + p[1], 0) / pts.length;
    const sxx = pts.reduce((a, p) => a + (p[0] - mx) ** 2, 0);
    const slope = pts.reduce((a, p) => a + (p[0] - mx) * (p[1] - my), 0) / sxx;
    return { acceptanceMs: Math.round((my - slope * mx) * 1000) / 1000, perDestinationMs: Math.round(slope * 1000) / 1000, cells: pts.length };
  };
  const split = fit(50);
  if (split) log(`  hub CPU per event, 50 PDU/txn, by subtraction across fan-out widths: ${split.acceptanceMs} ms acceptance + ${split.perDestinationMs} ms per destination server`);
  results.b1 = { roomId: room, cells, ...(split ? { cpuSplit50: split } : {}) };
}

// ---------------------------------------------------------------------------------------------
// B2: fan-out latency to 3 real participant servers
// ---------------------------------------------------------------------------------------------

async function runB2(lg: LoadGenClient, hub: BenchServer, owner: T.Account, parts: BenchServer[]): Promise<void> {
  const cfg = CFG.b2;
  log("B2: fan-out latency, hub to 3 participant servers (each a Switchboard on its own workerd)");
  const [roomId] = await lg.call<string[]>("createRooms", { account: owner, count: 1, concurrency: 1 });
  const accounts = await Promise.all(parts.map((p) => lg.call<T.Account>("register", { url: p.url, username: "reader" })));
  for (const a of accounts) await lg.call("clientJoin", { account: a, roomId, via: HUB });
  const base = await measured(hub, lg, () =>
    lg.call<T.RunResult>("baseline", { host: BASELINE_HOST, log: "b2", concurrency: 1, rowsPerReq: 1, warmupMs: 300, durationMs: 1_500, rowFrom: SENDERS[0] }),
  );
  const bf = runFigures(base);
  const points: NonNullable<Results["b2"]>["points"] = [];
  for (let i = 0; i < cfg.rates.length; i++) {
    const rate = cfg.rates[i] as number;
    const r = await lg.call<T.B2Result>("b2Run", { roomId, sender: owner, participants: accounts, rate, durationMs: cfg.durationMs[i] });
    const fromAck = summarize(r.fromAck);
    const fromSend = summarize(r.fromSend);
    const accept = summarize(r.accept);
    points.push({ rate, offered: r.offered, achievedRate: r0((r.offered * 1000) / r.offeredMs), fromAck, fromSend, accept, missing: r.missing, errors: r.errors, limitedSyncs: r.limitedSyncs, ...(r.firstError ? { firstError: r.firstError } : {}) });
    log(
      `  ${rate}/s offered (${r.offered} events): accepted→all 3 stored p50 ${fromAck.p50} p99 ${fromAck.p99} ms; ` +
        `send→all 3 p50 ${fromSend.p50} p99 ${fromSend.p99}; hub accept p50 ${accept.p50} p99 ${accept.p99} | baseline round trip p50 ${bf.latency.p50} p99 ${bf.latency.p99} ms` +
        (r.missing ? `; ${r.missing} not seen everywhere` : "") +
        (r.errors ? `; ${r.errors} errors: ${r.firstError}` : ""),
    );
    await waitQuiet(hub.pid);
  }
  results.b2 = { roomId: roomId as string, baseline: bf, points };
}

// ---------------------------------------------------------------------------------------------
// B3: per-room scaling
// ---------------------------------------------------------------------------------------------

async function runB3(lg: LoadGenClient, hub: BenchServer, owner: T.Account): Promise<void> {
  const cfg = CFG.b3;
  const max = Math.max(...cfg.rooms);
  log(`B3: per-room scaling over ${cfg.rooms.join(", ")} rooms (one sending server per room, 1 PDU per transaction, closed loop)`);
  const rooms = await lg.call<string[]>("createRooms", { account: owner, count: max, concurrency: 4 });
  await Promise.all(rooms.map((roomId, i) => lg.call("joinFakes", { roomId, fakes: [SENDERS[i]], concurrency: 1 })));
  const points: NonNullable<Results["b3"]>["points"] = [];
  for (const n of cfg.rooms) {
    const base = await measured(hub, lg, () =>
      lg.call<T.RunResult>("baseline", { host: BASELINE_HOST, log: `b3-${n}`, concurrency: n, rowsPerReq: 1, warmupMs: cfg.warmupMs, durationMs: cfg.durationMs, rowFrom: SENDERS[0] }),
    );
    const bf = runFigures(base);
    const perRoomRate = Math.min(900, 3_000 / n);
    const txnsPerSender = Math.ceil((perRoomRate * (cfg.warmupMs + cfg.durationMs)) / 1000);
    await lg.call<T.PrepareResult>("prepare", { key: "b3", senders: rooms.slice(0, n).map((roomId, i) => ({ fake: SENDERS[i], roomId })), pdusPerTxn: 1, txnsPerSender });
    const r = await measured(hub, lg, () => lg.call<T.RunResult>("runClosed", { key: "b3", warmupMs: cfg.warmupMs, durationMs: cfg.durationMs }));
    const f = runFigures(r);
    check(f, `B3 ${n} rooms`);
    // Rooms with no transaction inside the window have no p99; they are counted, not averaged in.
    const perRoomP99 = r.latencies.filter((l) => l.length > 0).map((l) => summarize(l).p99);
    const silentRooms = r.latencies.filter((l) => l.length === 0).length;
    const perRoomRateList = r.latencies.map((l) => (l.length * 1000) / r.windowMs);
    points.push({
      rooms: n,
      aggregate: f,
      perRoomP99: { median: r2(median(perRoomP99)), worst: r2(Math.max(...perRoomP99)) },
      perRoomEventsPerS: { median: r2(median(perRoomRateList)), min: r2(Math.min(...perRoomRateList)) },
      silentRooms,
      baseline: bf,
      peakCorePct: r.peakCorePct,
    });
    log(
      `  ${String(n).padStart(2)} rooms: ${f.eventsPerS} events/s aggregate, per-room p99 median ${r2(median(perRoomP99))} worst ${r2(Math.max(...perRoomP99))} ms, ` +
        `workerd peak ${r.peakCorePct}% of a core${silentRooms ? `, ${silentRooms} rooms without a completed transaction in the window` : ""} | baseline (${n} connections) ${bf.eventsPerS} rows/s p99 ${bf.latency.p99} ms`,
    );
  }
  results.b3 = { points };
}

// ---------------------------------------------------------------------------------------------
// B4: send_join cost against room size
// ---------------------------------------------------------------------------------------------

async function runB4(lg: LoadGenClient, hub: BenchServer, owner: T.Account): Promise<void> {
  const cfg = CFG.b4;
  log(`B4: send_join latency and answer size for ${cfg.sizes.join(", ")} joined members`);
  const [roomId] = await lg.call<string[]>("createRooms", { account: owner, count: 1, concurrency: 1 });
  const base = await measured(hub, lg, () =>
    lg.call<T.RunResult>("baseline", { host: BASELINE_HOST, log: "b4", concurrency: 1, rowsPerReq: 1, warmupMs: 300, durationMs: 1_500, rowFrom: SENDERS[0] }),
  );
  const bf = runFigures(base);
  let members = 1; // the creator
  let round = 0;
  let joiner = 0;
  const points: NonNullable<Results["b4"]>["points"] = [];
  for (const size of cfg.sizes) {
    const need = size - members;
    if (need > 0) {
      const s = await lg.call<{ ms: number; failed: number }>("seedMembers", { roomId, fakes: MEMBERS, count: need, round: round++ });
      if (s.failed > 0) throw new Error(`B4 seeding: ${s.failed} joins refused`);
      members += need;
      log(`  seeded ${need} joins through /send in ${r0(s.ms)} ms (room now ${members} members)`);
    }
    await waitQuiet(hub.pid);
    const timings: T.JoinTiming[] = [];
    for (let i = 0; i < cfg.joinsPerSize; i++) {
      const fake = JOINERS[joiner % JOINERS.length] as string;
      timings.push(await lg.call<T.JoinTiming>("measureJoin", { roomId, fake, user: `@join${joiner++}:${fake}` }));
      members++;
      await waitQuiet(hub.pid, { stepMs: 100 });
    }
    const sj = summarize(timings.map((t) => t.sendJoinMs));
    const mj = summarize(timings.map((t) => t.makeJoinMs));
    const bytes = median(timings.map((t) => t.bytes));
    points.push({ members: size, sendJoin: sj, makeJoin: mj, bytes, stateEvents: median(timings.map((t) => t.stateEvents)), authChain: median(timings.map((t) => t.authChain)) });
    log(`  ${String(size).padStart(5)} members: send_join p50 ${sj.p50} ms (max ${sj.max}), ${r0(bytes / 1024)} KiB answer; make_join p50 ${mj.p50} ms | baseline round trip p50 ${bf.latency.p50} ms`);
  }
  results.b4 = { roomId: roomId as string, baseline: bf, points };
}

// ---------------------------------------------------------------------------------------------
// B5: inbound verification cost
// ---------------------------------------------------------------------------------------------

async function runB5(lg: LoadGenClient, hub: BenchServer, owner: T.Account): Promise<void> {
  const cfg = CFG.b5;
  log("B5: inbound verification per event, keys cached (the hub's own check functions, timed from outside workerd by subtraction)");
  const [roomId] = await lg.call<string[]>("createRooms", { account: owner, count: 1, concurrency: 1 });
  await waitQuiet(hub.pid);
  const r = await lg.call<T.B5Result>("b5", { host: BASELINE_HOST, fake: SENDERS[0], roomId, n: cfg.n, reps: cfg.reps });
  const u = r.perCheckUs;
  const perEvent1 = (u["lpdu/t1"] ?? 0) + (u["xmatrix/t1"] ?? 0);
  const perEvent50 = (u["lpdu/t1"] ?? 0) + (u["xmatrix/t50"] ?? 0) / 50;
  results.b5 = { perCheckUs: Object.fromEntries(Object.entries(u).map(([k, v]) => [k, r2(v)])), perEventUs: { txn1: r2(perEvent1), txn50: r2(perEvent50) }, n: r.n, reps: r.reps };
  log(
    `  per LPDU: format ${r2(u["format/t1"] ?? 0)} µs, signature ${r2(u["signature/t1"] ?? 0)} µs, content hash ${r2(u["hash/t1"] ?? 0)} µs, event ID ${r2(u["eventid/t1"] ?? 0)} µs, ` +
      `all (as onSend) ${r2(u["lpdu/t1"] ?? 0)} µs | baseline raw Ed25519 verify ${r2(u["ed25519/t1"] ?? 0)} µs`,
  );
  log(`  X-Matrix per request: ${r2(u["xmatrix/t1"] ?? 0)} µs (1-PDU body), ${r2(u["xmatrix/t50"] ?? 0)} µs (50-PDU body); per event: ${r2(perEvent1)} µs at 1 PDU/txn, ${r2(perEvent50)} µs at 50`);
}

// ---------------------------------------------------------------------------------------------
// B6: memory
// ---------------------------------------------------------------------------------------------

async function runB6(lg: LoadGenClient, hostMap: Record<string, string>, bindings: Record<string, string>): Promise<void> {
  const cfg = CFG.b6;
  log(`B6: workerd resident memory after a ${cfg.events.toLocaleString("en")}-event room and after ${cfg.rooms.toLocaleString("en")} idle rooms (fresh hub)`);
  const port = Number(new URL(hostMap[HUB] as string).port);
  const hub = await startServer({ name: HUB, port, hostMap, withBaseline: true, bindings });
  try {
    await lg.call("setHub", { name: HUB, url: hub.url });
    const owner = await lg.call<T.Account>("register", { url: hub.url, username: "bench" });
    await waitQuiet(hub.pid);
    const fresh = hub.proc().rssKiB;
    log(`  fresh workerd: ${mib(fresh)} MiB`);
    // Baseline: the bare-append object with as many rows.
    const rows = cfg.events;
    const batch = 50;
    const baseRun = await lg.call<T.RunResult>("baselineRows", { host: BASELINE_HOST, log: "b6", rows, batch, concurrency: 4, rowFrom: SENDERS[0] });
    await waitQuiet(hub.pid);
    const afterBaseline = hub.proc().rssKiB;
    log(`  baseline: bare-append object with ${baseRun.sentEvents.toLocaleString("en")} rows: ${mib(afterBaseline)} MiB (+${mib(afterBaseline - fresh)})`);

    const [roomId] = await lg.call<string[]>("createRooms", { account: owner, count: 1, concurrency: 1 });
    // One sending server (fan-out to one): loading the room fast matters here, not its fan-out.
    const senders = SENDERS.slice(0, 1);
    await lg.call("joinFakes", { roomId, fakes: senders });
    const before = hub.proc().rssKiB;
    let sent = 0;
    const chunk = 10_000;
    const t0 = Date.now();
    while (sent < cfg.events) {
      const n = Math.min(chunk, cfg.events - sent);
      await lg.call("prepare", { key: "b6", senders: senders.map((fake) => ({ fake, roomId })), pdusPerTxn: 50, txnsPerSender: Math.ceil(n / senders.length / 50) });
      const r = await lg.call<T.RunResult>("runClosed", { key: "b6", warmupMs: 0, durationMs: 600_000 });
      if (r.errors || r.failed) throw new Error(`B6 load: ${r.errors} errors, ${r.failed} failed: ${r.firstError}`);
      sent += r.sentEvents;
      log(`  room at ${sent.toLocaleString("en")} events (RSS ${mib(hub.proc().rssKiB)} MiB)`);
    }
    await waitQuiet(hub.pid);
    const afterRoom = hub.proc().rssKiB;
    log(`  after a ${sent.toLocaleString("en")}-event room (${r0((Date.now() - t0) / 1000)} s to load): ${mib(afterRoom)} MiB (+${mib(afterRoom - before)} for the room)`);
    await lg.call("createRooms", { account: owner, count: cfg.rooms, concurrency: 4 });
    await waitQuiet(hub.pid);
    const afterRooms = hub.proc().rssKiB;
    log(`  after ${cfg.rooms} more rooms, idle: ${mib(afterRooms)} MiB (+${mib(afterRooms - afterRoom)}, ${r2((afterRooms - afterRoom) / cfg.rooms)} KiB per room)`);
    await new Promise((r) => setTimeout(r, cfg.idleWaitMs));
    const later = hub.proc().rssKiB;
    log(`  ${cfg.idleWaitMs / 1000} s later: ${mib(later)} MiB`);
    results.b6 = {
      freshKiB: fresh,
      baselineRows: baseRun.sentEvents,
      afterBaselineKiB: afterBaseline,
      roomEvents: sent,
      beforeRoomKiB: before,
      afterRoomKiB: afterRoom,
      idleRooms: cfg.rooms,
      afterRoomsKiB: afterRooms,
      afterRoomsLaterKiB: later,
      idleWaitMs: cfg.idleWaitMs,
    };
  } finally {
    await hub.dispose();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
