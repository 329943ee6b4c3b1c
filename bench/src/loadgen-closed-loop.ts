// The load generator's prepared transactions and closed loops (B1, B3, B6): signed /send transactions
// against the hub or the bare-append baseline, and the delivery figures of the last run.

import type { Agent } from "node:http";
import { httpRequest, newAgent, type HttpTarget } from "./http.js";
import { makeLpdu, prepareTxn, type PreparedTxn } from "./proto.js";
import { deliveryFigures, type Ack, type DeliveryFigures } from "./delivery.js";
import type * as T from "./types.js";
import { enc, now, sleep } from "./loadgen-common.js";
import { type Fake, fake, requireHub, setRecording } from "./loadgen-fakes.js";

// ---------------------------------------------------------------------------------------------
// Prepared transactions and the closed loop
// ---------------------------------------------------------------------------------------------

export const prepared = new Map<string, Array<{ sender: string; roomId: string; queue: PreparedTxn[] }>>();
let seq = 0;
export const FILLER = "The quick brown fox jumps over the lazy dog. ".repeat(2);

export function messageLpdus(f: Fake, roomId: string, count: number): Record<string, unknown>[] {
  const h = requireHub();
  const out: Record<string, unknown>[] = [];
  const sender = `@bench:${f.id.name}`;
  for (let i = 0; i < count; i++) {
    out.push(makeLpdu(f.id, { room_id: roomId, type: "m.room.message", sender, origin_server_ts: Date.now(), content: { msgtype: "m.text", body: `m${seq++} ${FILLER}` } }, h.name));
  }
  return out;
}

export function prepare(p: T.PrepareParams): T.PrepareResult {
  const t0 = now();
  const h = requireHub();
  const list = p.senders.map((s) => {
    const f = fake(s.fake);
    const queue: PreparedTxn[] = [];
    for (let t = 0; t < p.txnsPerSender; t++) queue.push(prepareTxn(f.id, h.name, messageLpdus(f, s.roomId, p.pdusPerTxn)));
    return { sender: s.fake, roomId: s.roomId, queue };
  });
  prepared.set(p.key, list);
  const events = list.reduce((a, s) => a + s.queue.reduce((b, t) => b + t.pdus, 0), 0);
  return { events, ms: now() - t0, bytesPerTxn: list[0]?.queue[0]?.body.length ?? 0 };
}

/**
 * PUT /send, sent again (same transaction ID, which the hub answers once) when a kept-alive
 * connection turns out to have been closed under us, as a real sender would retry.
 */
export async function sendWithRetry(to: HttpTarget, txn: PreparedTxn, agent: Agent, host?: string): ReturnType<typeof httpRequest> {
  const headers = { authorization: txn.authorization, ...(host === undefined ? {} : { host }) };
  for (let attempt = 1; ; attempt++) {
    try {
      return await httpRequest(to, "PUT", txn.path, { headers, body: txn.body, agent });
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (attempt >= 3 || (code !== "ECONNRESET" && code !== "EPIPE" && !String(e).includes("socket hang up"))) throw e;
    }
  }
}

/** BENCH_SLOW_MS=<ms> logs every B1/B3 transaction slower than that (a diagnostic for latency tails). */
export const SLOW_MS = process.env["BENCH_SLOW_MS"] ? Number(process.env["BENCH_SLOW_MS"]) : undefined;

export interface Sample {
  startMs: number;
  endMs: number;
  pdus: number;
  /** Of them, accepted (not in failed_pdus). */
  accepted: number;
  handlerMs?: number;
}

/** The last closed-loop run's first send, window and acknowledgements, for deliveryReport. */
let lastRun: { firstSend: number; windowStart: number; windowEnd: number; acks: Ack[] } | undefined;

/** How long a 429 asks the sender to wait (retry_after_ms), or 100 ms if it does not say. */
export function retryAfter(body: Buffer): number {
  try {
    const ms = (JSON.parse(body.toString()) as { retry_after_ms?: unknown }).retry_after_ms;
    return typeof ms === "number" && ms >= 0 ? ms : 100;
  } catch {
    return 100;
  }
}

export async function runClosed(p: T.RunParams): Promise<T.RunResult> {
  const list = prepared.get(p.key);
  if (!list) throw new Error(`nothing prepared under ${p.key}`);
  prepared.delete(p.key);
  const h = requireHub();
  const t0 = now();
  const warmEnd = t0 + p.warmupMs;
  let stopAt = warmEnd + p.durationMs;
  let exhaustedAt: number | undefined;
  let failed = 0;
  let errors = 0;
  let firstError: string | undefined;
  let sentEvents = 0;
  let pushedBack = 0;
  let pushedBackMs = 0;
  const perSender: Sample[][] = list.map(() => []);
  await Promise.all(
    list.map(async (s, i) => {
      const f = fake(s.sender);
      const samples = perSender[i] as Sample[];
      let k = 0;
      while (now() < stopAt) {
        const txn = s.queue[k++];
        if (!txn) {
          exhaustedAt ??= now();
          stopAt = Math.min(stopAt, exhaustedAt);
          break;
        }
        const a = now();
        let res;
        try {
          res = await sendWithRetry(h.http, txn, f.agent, p.host);
          // Pushed back (the hub's fan-out is behind): the same transaction again after the wait asked for, as a sender must.
          while (res.status === 429) {
            const wait = retryAfter(res.body);
            pushedBack++;
            pushedBackMs += wait;
            await sleep(wait);
            res = await sendWithRetry(h.http, txn, f.agent, p.host);
          }
        } catch (e) {
          errors++;
          firstError ??= String(e);
          continue;
        }
        const b = now();
        sentEvents += txn.pdus;
        if (res.status !== 200) {
          errors++;
          firstError ??= `HTTP ${res.status} ${res.body.toString().slice(0, 300)}`;
          continue;
        }
        let refused = 0;
        if (res.body.length > 20) {
          const fp = (JSON.parse(res.body.toString()) as { failed_pdus?: Record<string, { error: string }> }).failed_pdus ?? {};
          const keys = Object.keys(fp);
          refused = keys.length;
          failed += keys.length;
          if (keys.length > 0) firstError ??= `failed_pdus: ${JSON.stringify(fp[keys[0] as string])}`;
        }
        samples.push({ startMs: a, endMs: b, pdus: txn.pdus, accepted: txn.pdus - refused, ...(res.handlerMs === undefined ? {} : { handlerMs: res.handlerMs }) });
        if (SLOW_MS !== undefined && b - a >= SLOW_MS) process.stderr.write(`slow txn: sender ${i} started at +${(a - t0).toFixed(0)} ms, took ${(b - a).toFixed(0)} ms\n`);
      }
    }),
  );
  const windowEnd = Math.min(stopAt, now());
  const windowMs = windowEnd - warmEnd;
  // Latency counts every transaction sent inside the window, also one still in flight when the window
  // closed (the loop waits for it): dropping those would hide exactly the longest waits.
  const inWindow = perSender.map((ss) => ss.filter((x) => x.startMs >= warmEnd && x.startMs < windowEnd));
  const latencies: number[][] = inWindow.map((ss) => ss.map((x) => x.endMs - x.startMs));
  const handlerMs = inWindow.flat().flatMap((x) => (x.handlerMs === undefined ? [] : [x.handlerMs]));
  let eventsInWindow = 0;
  let txnsInWindow = 0;
  for (const ss of perSender) {
    for (const x of ss) {
      if (x.endMs > warmEnd && x.endMs <= windowEnd) {
        eventsInWindow += x.pdus;
        txnsInWindow++;
      }
    }
  }
  lastRun = { firstSend: t0, windowStart: warmEnd, windowEnd, acks: perSender.flat().map((x) => ({ t: x.endMs, n: x.accepted })) };
  return {
    windowMs,
    eventsInWindow,
    txnsInWindow,
    sentEvents,
    pushedBack,
    pushedBackMs: Math.round(pushedBackMs),
    failed,
    errors,
    ...(firstError !== undefined ? { firstError } : {}),
    exhausted: exhaustedAt !== undefined,
    latencies,
    handlerMs,
    rooms: list.map((s) => s.roomId),
  };
}

/**
 * After a closed-loop run: waits (up to `timeoutMs`) until each of `destinations` has received every
 * event the hub accepted, then reports delivered throughput and the backlog over time.
 */
export async function deliveryReport(p: { destinations: string[]; timeoutMs: number }): Promise<DeliveryFigures> {
  const run = lastRun;
  if (!run) throw new Error("no closed-loop run to report on");
  const dests = p.destinations.map(fake);
  const accepted = run.acks.reduce((s, a) => s + a.n, 0);
  const deadline = now() + p.timeoutMs;
  const have = (f: Fake) => f.arrivals.reduce((s, a) => s + a.n, 0);
  while (now() < deadline && dests.some((f) => have(f) < accepted)) await sleep(20);
  setRecording(false);
  return deliveryFigures({ ...run, arrivals: dests.map((f) => f.arrivals) });
}

/** The bare-append baseline, closed loop: `concurrency` connections, `rowsPerReq` rows per request. */
export async function baseline(p: T.BaselineParams): Promise<T.RunResult> {
  const h = requireHub();
  const row = JSON.stringify(messageLpdus(fake(p.rowFrom), "!baseline:bench", 1)[0]);
  const body = Buffer.from(JSON.stringify({ rows: Array.from({ length: p.rowsPerReq }, () => row) }));
  const headers = { host: p.host };
  const t0 = now();
  const warmEnd = t0 + p.warmupMs;
  const stopAt = warmEnd + p.durationMs;
  let errors = 0;
  let firstError: string | undefined;
  let sent = 0;
  const perConn: Sample[][] = [];
  await Promise.all(
    Array.from({ length: p.concurrency }, async (_, i) => {
      const agent = newAgent(1);
      const samples: Sample[] = [];
      perConn[i] = samples;
      while (now() < stopAt) {
        const a = now();
        const res = await httpRequest(h.http, "POST", `/append?log=${enc(p.log)}${p.hops ? `&hops=${p.hops}` : ""}`, { headers, body, agent });
        const b = now();
        sent += p.rowsPerReq;
        if (res.status !== 200) {
          errors++;
          firstError ??= `HTTP ${res.status} ${res.body.toString().slice(0, 200)}`;
          continue;
        }
        samples.push({ startMs: a, endMs: b, pdus: p.rowsPerReq, accepted: p.rowsPerReq });
      }
      agent.destroy();
    }),
  );
  const windowEnd = now();
  const windowMs = Math.min(windowEnd, stopAt) - warmEnd;
  let eventsInWindow = 0;
  let txnsInWindow = 0;
  for (const ss of perConn) for (const x of ss) if (x.endMs > warmEnd && x.endMs <= stopAt) (eventsInWindow += x.pdus), txnsInWindow++;
  return {
    windowMs,
    eventsInWindow,
    txnsInWindow,
    sentEvents: sent,
    failed: 0,
    errors,
    ...(firstError !== undefined ? { firstError } : {}),
    exhausted: false,
    latencies: perConn.map((ss) => ss.filter((x) => x.startMs >= warmEnd && x.startMs < stopAt).map((x) => x.endMs - x.startMs)),
    rooms: [],
  };
}

/** Appends `rows` rows to a bare-append log in requests of `batch` (B6's memory baseline). */
export async function baselineRows(p: { host: string; log: string; rows: number; batch: number; concurrency: number; rowFrom: string }): Promise<T.RunResult> {
  const h = requireHub();
  const row = JSON.stringify(messageLpdus(fake(p.rowFrom), "!baseline:bench", 1)[0]);
  const body = Buffer.from(JSON.stringify({ rows: Array.from({ length: p.batch }, () => row) }));
  let sent = 0;
  let errors = 0;
  await Promise.all(
    Array.from({ length: p.concurrency }, async () => {
      const agent = newAgent(1);
      while (sent < p.rows) {
        sent += p.batch;
        const res = await httpRequest(h.http, "POST", `/append?log=${enc(p.log)}`, { headers: { host: p.host }, body, agent });
        if (res.status !== 200) errors++;
      }
      agent.destroy();
    }),
  );
  return { windowMs: 0, eventsInWindow: 0, txnsInWindow: 0, sentEvents: sent, failed: 0, errors, exhausted: false, latencies: [], rooms: [] };
}
