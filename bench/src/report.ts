// The results file's shape and the Markdown figures table printed at the end of a run (and copied
// into bench/README.md after a full run).

import type { DeliveryFigures } from "./delivery.js";
import type { LatencySummary } from "./stats.js";
import { r2 } from "./stats.js";

export interface RunFiguresJson {
  eventsPerS: number;
  txnsPerS: number;
  latency: LatencySummary;
  /** The same transactions' time inside the hub's Worker (Server-Timing); the rest was spent in front of it. */
  handler?: LatencySummary;
  windowMs: number;
  accepted: number;
  failed: number;
  errors: number;
  firstError?: string;
  cpuMsPerEvent: number;
  exhausted: boolean;
  /** Transactions answered 429 M_LIMIT_EXCEEDED and sent again after the wait asked for (and those waits, in all). */
  pushedBack?: number;
  pushedBackMs?: number;
}

export interface Results {
  mode: "quick" | "full";
  date: string;
  durationS?: number;
  machine: { cpus: number; cpuModel: string; memGiB: number; node: string; loadavgAtStart: number[] };
  versions: Record<string, string>;
  b1?: {
    roomId: string;
    cells: Array<{
      senders: number;
      pdusPerTxn: number;
      hub: RunFiguresJson;
      baseline: RunFiguresJson;
      ratio: number;
      /** The protocol floor (10-sender cells): the same transactions through only the draft's required checks, completion and an append. */
      floor?: RunFiguresJson;
      floorRatio?: number;
      fanOutServers: number;
      prepMs: number;
      txnBytes: number;
      genCpuMs: number;
      peakCorePct: number;
      /** Events per outbound transaction the simulated servers received during the cell (fan-out batching). */
      fanOutPdusPerTxn?: number;
      /** What reached every destination, beside what was accepted (bench/src/delivery.ts). */
      delivery?: DeliveryFigures;
    }>;
    /** Hub CPU per event (50-PDU transactions) = acceptanceMs + perDestinationMs × destination servers, fitted over the cells. */
    cpuSplit50?: { acceptanceMs: number; perDestinationMs: number; cells: number };
  };
  b2?: {
    roomId: string;
    baseline: RunFiguresJson;
    points: Array<{
      rate: number;
      offered: number;
      achievedRate: number;
      fromAck: LatencySummary;
      fromSend: LatencySummary;
      accept: LatencySummary;
      missing: number;
      errors: number;
      limitedSyncs: number;
      firstError?: string;
    }>;
  };
  b3?: {
    points: Array<{
      rooms: number;
      aggregate: RunFiguresJson;
      perRoomP99: { median: number; worst: number };
      perRoomEventsPerS: { median: number; min: number };
      silentRooms: number;
      baseline: RunFiguresJson;
      peakCorePct: number;
    }>;
  };
  b4?: {
    roomId: string;
    baseline: RunFiguresJson;
    points: Array<{ members: number; sendJoin: LatencySummary; makeJoin: LatencySummary; bytes: number; stateEvents: number; authChain: number }>;
  };
  b5?: { perCheckUs: Record<string, number>; perEventUs: { txn1: number; txn50: number }; n: number; reps: number };
  b6?: {
    freshKiB: number;
    baselineRows: number;
    afterBaselineKiB: number;
    roomEvents: number;
    beforeRoomKiB: number;
    afterRoomKiB: number;
    idleRooms: number;
    afterRoomsKiB: number;
    afterRoomsLaterKiB: number;
    idleWaitMs: number;
  };
  costs?: import("./costs.js").PlatformCosts;
}

const mib = (kib: number) => `${Math.round(kib / 1024)} MiB`;
const verdict = (ok: boolean) => (ok ? "met" : "**missed**");
const n = (x: number) => x.toLocaleString("en");

/**
 * Delivered throughput beside accepted, for the log and the table. Sustained delivery is what the
 * slowest destination received while the senders kept sending (the window); the span from the first
 * send to the last delivery also counts the catching up after they stopped.
 */
export function deliveryLine(d: DeliveryFigures): string {
  const span =
    d.deliveredPerS === undefined
      ? `${n(d.undelivered)} of ${n(d.accepted)} accepted events still undelivered at the end`
      : `first send → last delivery ${n(d.firstSendToLastDeliveryMs ?? 0)} ms for ${n(d.accepted)} events (${n(d.deliveredPerS)} events/s), last delivery ${n(d.lastAckToLastDeliveryMs ?? 0)} ms after the last answer`;
  return `delivered to ${d.destinations === 1 ? "the one server" : `all ${d.destinations} servers`} ${n(d.windowDeliveredPerS)} events/s in the window; ${span}; backlog max ${n(d.maxBacklog)}, at the last answer ${n(d.backlogAtLastAck)}, 5 s later ${n(d.backlog5sAfterLastAck)}`;
}

export function figuresTable(r: Results): string {
  const rows: string[][] = [];
  const add = (...cells: string[]) => rows.push(cells);
  for (const c of r.b1?.cells ?? []) {
    let target = "";
    if (c.senders === 10 && c.pdusPerTxn === 1) target = `≥ 0.5× baseline: ${verdict(c.ratio >= 0.5)}`;
    if (c.senders === 10 && c.pdusPerTxn === 50) target = `≥ 5,000 events/s: ${verdict(c.hub.eventsPerS >= 5000)}`;
    add(
      `B1 ${c.senders} sender${c.senders > 1 ? "s" : ""} × ${c.pdusPerTxn} PDU/txn`,
      `${n(c.hub.eventsPerS)} events/s accepted; txn p50 ${c.hub.latency.p50} / p99 ${c.hub.latency.p99} ms${c.hub.handler ? ` (inside the hub's Worker p50 ${c.hub.handler.p50} / p99 ${c.hub.handler.p99})` : ""}; CPU ${c.hub.cpuMsPerEvent} ms/event (one core sustains ≈ ${n(Math.round(1000 / c.hub.cpuMsPerEvent))}/s)${c.fanOutPdusPerTxn === undefined ? "" : `; fan-out ${c.fanOutPdusPerTxn} events per outgoing transaction`}${c.delivery ? `; ${deliveryLine(c.delivery)}` : ""}${c.hub.pushedBack ? `; ${n(c.hub.pushedBack)} answers 429` : ""}`,
      `${n(c.baseline.eventsPerS)} rows/s; p50 ${c.baseline.latency.p50} / p99 ${c.baseline.latency.p99} ms`,
      `${c.ratio}×`,
      target,
    );
    if (c.floor) {
      add(
        `B1 ${c.senders} senders × ${c.pdusPerTxn} PDU/txn, protocol floor (only the draft's checks, completion and an append)`,
        `${n(c.floor.eventsPerS)} events/s; txn p50 ${c.floor.latency.p50} / p99 ${c.floor.latency.p99} ms; CPU ${c.floor.cpuMsPerEvent} ms/event`,
        `${n(c.baseline.eventsPerS)} rows/s (the same bare append)`,
        `${c.floorRatio}×`,
        "",
      );
    }
  }
  for (const c of r.b1?.cells ?? []) {
    if (c.senders !== 10) continue;
    add(
      `Hub CPU per accepted event (B1 10 × ${c.pdusPerTxn})`,
      `${c.hub.cpuMsPerEvent} ms (workerd utime+stime ÷ events; fan-out to ${c.fanOutServers} servers included)`,
      `${c.baseline.cpuMsPerEvent} ms per appended row`,
      `${r2(c.hub.cpuMsPerEvent / c.baseline.cpuMsPerEvent)}×`,
      `≤ 1 ms: ${verdict(c.hub.cpuMsPerEvent <= 1)}`,
    );
  }
  const split = r.b1?.cpuSplit50;
  if (split) {
    add(
      "Hub CPU per event by subtraction (50 PDU/txn, fan-out to 1/10/50 servers)",
      `${split.acceptanceMs} ms acceptance + ${split.perDestinationMs} ms per destination server`,
      "",
      "",
      `acceptance ≤ 1 ms: ${verdict(split.acceptanceMs <= 1)}`,
    );
  }
  for (const p of r.b2?.points ?? []) {
    add(
      `B2 fan-out to 3 servers at ${p.rate}/s offered`,
      `accepted → stored on all 3: p50 ${p.fromAck.p50} / p99 ${p.fromAck.p99} ms (hub accept p50 ${p.accept.p50} ms)${p.missing ? `; ${p.missing} missing` : ""}`,
      `bare-append round trip p50 ${r.b2?.baseline.latency.p50} / p99 ${r.b2?.baseline.latency.p99} ms`,
      "",
      p.rate === 100 ? `p99 ≤ 50 ms: ${verdict(p.fromAck.p99 <= 50 && p.missing === 0)}` : "",
    );
  }
  for (const p of r.b3?.points ?? []) {
    add(
      `B3 ${p.rooms} room${p.rooms > 1 ? "s" : ""}`,
      `${n(p.aggregate.eventsPerS)} events/s aggregate; per-room p99 ${p.perRoomP99.median} ms (worst ${p.perRoomP99.worst})`,
      `${n(p.baseline.eventsPerS)} rows/s (${p.rooms} connections); p99 ${p.baseline.latency.p99} ms`,
      `${r2(p.aggregate.eventsPerS / p.baseline.eventsPerS)}×`,
      "",
    );
  }
  for (const p of r.b4?.points ?? []) {
    add(
      `B4 send_join, ${n(p.members)} members`,
      `p50 ${p.sendJoin.p50} ms (max ${p.sendJoin.max}); ${n(Math.round(p.bytes / 1024))} KiB answer`,
      `bare-append round trip p50 ${r.b4?.baseline.latency.p50} ms`,
      "",
      p.members === 1000 ? `≤ 250 ms: ${verdict(p.sendJoin.p50 <= 250)}` : "",
    );
  }
  if (r.b5) {
    const u = r.b5.perCheckUs;
    add(
      "B5 inbound checks per LPDU (keys cached)",
      `${u["lpdu/t1"]} µs (format ${u["format/t1"]}, signature ${u["signature/t1"]}, hash ${u["hash/t1"]}, event ID ${u["eventid/t1"]})`,
      `raw Ed25519 verify ${u["ed25519/t1"]} µs`,
      `${r2((u["lpdu/t1"] ?? 0) / (u["ed25519/t1"] ?? 1))}×`,
      "",
    );
    add(
      "B5 X-Matrix per request",
      `${u["xmatrix/t1"]} µs (1-PDU body), ${u["xmatrix/t50"]} µs (50-PDU body); per event with LPDU checks: ${r.b5.perEventUs.txn1} µs / ${r.b5.perEventUs.txn50} µs`,
      `raw Ed25519 verify ${u["ed25519/t1"]} µs`,
      "",
      "",
    );
  }
  if (r.b6) {
    const b = r.b6;
    add(
      `B6 workerd RSS, ${n(b.roomEvents)}-event room`,
      `${mib(b.afterRoomKiB)} (room added ${mib(b.afterRoomKiB - b.beforeRoomKiB)})`,
      `fresh ${mib(b.freshKiB)}; bare-append ${n(b.baselineRows)} rows +${mib(b.afterBaselineKiB - b.freshKiB)}`,
      "",
      "",
    );
    add(
      `B6 workerd RSS, + ${n(b.idleRooms)} idle rooms`,
      `${mib(b.afterRoomsKiB)} (+${mib(b.afterRoomsKiB - b.afterRoomKiB)}, ${r2((b.afterRoomsKiB - b.afterRoomKiB) / b.idleRooms)} KiB/room); ${b.idleWaitMs / 1000} s later ${mib(b.afterRoomsLaterKiB)}`,
      `fresh ${mib(b.freshKiB)}`,
      "",
      "",
    );
  }
  if (r.costs) {
    const c = r.costs;
    add(
      "Unit costs in this workerd",
      `write transaction of its own ${c.writeTransaction.us} µs (${c.writeTransaction.cpuUs} µs CPU); DO RPC ${c.rpc.us} µs; outbound fetch ${c.fetch.us} µs (${c.fetch.cpuUs} µs CPU)`,
      `SQL statement in a writing turn ${c.statement.us} µs; multi-row INSERT ${c.batchedRow.us} µs/row`,
      "",
      "",
    );
  }
  const header = ["Benchmark", "Switchboard", "Baseline (same run)", "Ratio", "Target"];
  const lines = [`| ${header.join(" | ")} |`, `|${header.map(() => "---").join("|")}|`, ...rows.map((c) => `| ${c.join(" | ")} |`)];
  const m = r.machine;
  return [
    `Run ${r.date} (${r.mode}), ${m.cpus} × ${m.cpuModel}, ${m.memGiB} GiB, Node ${m.node}, miniflare ${r.versions["miniflare"]}, workerd ${r.versions["workerd"]}; load average at start ${m.loadavgAtStart.join(" ")}.`,
    "",
    ...lines,
  ].join("\n");
}
