// B2 and B3 in the bench orchestrator: fan-out latency to real participant servers, and per-room scaling.

import { LoadGenClient } from "./ipc.js";
import { waitQuiet } from "./proc.js";
import { BASELINE_HOST, type BenchServer } from "./servers.js";
import { median, r0, r2, summarize } from "./stats.js";
import type * as T from "./types.js";
import { type Results } from "./report.js";
import { CFG, HUB, SENDERS, log, results } from "./run-config.js";
import { measured, runFigures, check } from "./run-measure.js";

// ---------------------------------------------------------------------------------------------
// B2: fan-out latency to 3 real participant servers
// ---------------------------------------------------------------------------------------------

export async function runB2(lg: LoadGenClient, hub: BenchServer, owner: T.Account, parts: BenchServer[]): Promise<void> {
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

export async function runB3(lg: LoadGenClient, hub: BenchServer, owner: T.Account): Promise<void> {
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
