// B1 in the bench orchestrator: one room, LPDUs from remote servers.

import { LoadGenClient } from "./ipc.js";
import { BASELINE_HOST, type BenchServer } from "./servers.js";
import { median, r0, r2 } from "./stats.js";
import type * as T from "./types.js";
import { deliveryLine, type Results, type RunFiguresJson } from "./report.js";
import type { DeliveryFigures } from "./delivery.js";
import { CELLS, CFG, SENDERS, log, results } from "./run-config.js";
import { measured, runFigures, check } from "./run-measure.js";

// ---------------------------------------------------------------------------------------------
// B1: one room, LPDUs from remote servers
// ---------------------------------------------------------------------------------------------

export async function runB1(lg: LoadGenClient, hub: BenchServer, owner: T.Account): Promise<void> {
  const cfg = CFG.b1;
  log("B1: one room's sequencing throughput and latency (LPDUs over /send from simulated remote servers)");
  const [roomId] = await lg.call<string[]>("createRooms", { account: owner, count: 1, concurrency: 1 });
  const room = roomId as string;
  let joined = 0;
  const cells: NonNullable<Results["b1"]>["cells"] = [];
  const lastRate = new Map<number, number>();
  await lg.call("floorKeys", { host: BASELINE_HOST, fakes: SENDERS });
  // An imported binding is not narrowed inside the callback below; a local one is.
  const onlyCells = CELLS;
  for (const k of cfg.senders) {
    if (onlyCells && !cfg.shapes.some((shape) => onlyCells.includes(`${k}x${shape}`))) continue;
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
