// B4, B5 and B6 in the bench orchestrator: send_join cost against room size, inbound verification cost, memory.

import { LoadGenClient } from "./ipc.js";
import { waitQuiet } from "./proc.js";
import { BASELINE_HOST, startServer, type BenchServer } from "./servers.js";
import { median, r0, r2, summarize } from "./stats.js";
import type * as T from "./types.js";
import { type Results } from "./report.js";
import { CFG, HUB, SENDERS, MEMBERS, JOINERS, log, results } from "./run-config.js";
import { mib, measured, runFigures } from "./run-measure.js";

// ---------------------------------------------------------------------------------------------
// B4: send_join cost against room size
// ---------------------------------------------------------------------------------------------

export async function runB4(lg: LoadGenClient, hub: BenchServer, owner: T.Account): Promise<void> {
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

export async function runB5(lg: LoadGenClient, hub: BenchServer, owner: T.Account): Promise<void> {
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

export async function runB6(lg: LoadGenClient, hostMap: Record<string, string>, bindings: Record<string, string>): Promise<void> {
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
