// The load generator: a Node process of its own, separate from every server under test. It plays the
// remote participant servers (each with its own Ed25519 key, its key document served on its own
// loopback port, its own connection to the hub, one transaction in flight at a time), acts as the
// clients of the real Switchboard servers, and times everything from outside workerd.
//
// The orchestrator (run.ts) drives it over Node IPC; see the methods in `handlers`.

import { createServer, type Server } from "node:http";
import type { Agent } from "node:http";
import type { AddressInfo } from "node:net";
import { canonicalJson } from "../../shared/canonical-json.js";
import type { AnswerMessage, CallMessage } from "./ipc.js";
import { httpJson, httpRequest, newAgent, target, type HttpTarget } from "./http.js";
import { authHeader, keyDocument, LM_PREFIX, LM_VERSION, makeLpdu, newIdentity, prepareTxn, selfTest, type Identity, type PreparedTxn } from "./proto.js";
import { deliveryFigures, type Ack, type Arrival, type DeliveryFigures } from "./delivery.js";
import { median } from "./stats.js";
import type * as T from "./types.js";

const enc = encodeURIComponent;
const now = (): number => performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function progress(line: string): void {
  process.send?.({ progress: line });
}

// ---------------------------------------------------------------------------------------------
// Fake remote servers
// ---------------------------------------------------------------------------------------------

interface Fake {
  id: Identity;
  port: number;
  server: Server;
  agent: Agent;
  /** PDUs the hub fanned out to this server. */
  received: number;
  transactions: number;
  /** While delivery is being recorded (B1): each fan-out transaction's arrival. */
  arrivals: Arrival[];
}

let recording = false;

const fakes = new Map<string, Fake>();
let hub: { name: string; http: HttpTarget } | undefined;

function fake(name: string): Fake {
  const f = fakes.get(name);
  if (!f) throw new Error(`unknown fake server ${name}`);
  return f;
}

function requireHub(): { name: string; http: HttpTarget } {
  if (!hub) throw new Error("hub not configured");
  return hub;
}

async function startFake(name: string): Promise<Fake> {
  const id = newIdentity(name);
  const doc = keyDocument(id, Date.now());
  const f: Fake = { id, port: 0, server: createServer(), agent: newAgent(4), received: 0, transactions: 0, arrivals: [] };
  f.server.keepAliveTimeout = 60_000;
  f.server.on("request", (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const path = req.url ?? "";
      if (req.method === "GET" && path === "/_matrix/key/v2/server") {
        res.writeHead(200, { "content-type": "application/json" }).end(doc);
        return;
      }
      if (req.method === "PUT" && path.includes("/send/")) {
        // Fan-out from the hub. Count PDUs cheaply (every PDU carries exactly one "hub_server").
        const text = Buffer.concat(chunks).toString("utf8");
        let n = 0;
        for (let i = text.indexOf('"hub_server"'); i >= 0; i = text.indexOf('"hub_server"', i + 1)) n++;
        f.received += n;
        f.transactions++;
        if (recording) f.arrivals.push({ t: now(), n });
        res.writeHead(200, { "content-type": "application/json" }).end('{"failed_pdus":{}}');
        return;
      }
      res.writeHead(404, { "content-type": "application/json" }).end('{"errcode":"M_UNRECOGNIZED","error":"bench fake server"}');
    });
  });
  await new Promise<void>((resolve) => f.server.listen(0, "127.0.0.1", resolve));
  f.port = (f.server.address() as AddressInfo).port;
  fakes.set(name, f);
  return f;
}

/** A federation request signed as `from` to the hub. */
async function fed(from: Fake, method: string, path: string, body?: unknown, agent?: Agent): Promise<{ status: number; body: Buffer; ms: number }> {
  const h = requireHub();
  const headers: Record<string, string> = { authorization: authHeader(from.id, h.name, method, path, body) };
  const t0 = now();
  const res = await httpRequest(h.http, method, path, { headers, ...(body === undefined ? {} : { body: canonicalJson(body) }), agent: agent ?? from.agent });
  return { ...res, ms: now() - t0 };
}

/** make_join + send_join for `user` of server `f`; returns timings and the send_join answer size. */
async function joinViaHandshake(f: Fake, roomId: string, user: string): Promise<T.JoinTiming> {
  const mk = await fed(f, "GET", `/_matrix/federation/v1/make_join/${enc(roomId)}/${enc(user)}?ver=${enc(LM_VERSION)}`);
  if (mk.status !== 200) throw new Error(`make_join ${user}: ${mk.status} ${mk.body.toString().slice(0, 300)}`);
  const tpl = JSON.parse(mk.body.toString()) as { event: Record<string, unknown> };
  const e = tpl.event;
  const lpdu = makeLpdu(
    f.id,
    { room_id: roomId, type: "m.room.member", state_key: user, sender: user, origin_server_ts: Date.now(), content: e["content"] as { membership: string } },
    String(e["hub_server"]),
  );
  const sj = await fed(f, "POST", `${LM_PREFIX}/send_join/${enc(`j${Date.now()}.${Math.random().toString(36).slice(2)}`)}`, lpdu);
  if (sj.status !== 200) throw new Error(`send_join ${user}: ${sj.status} ${sj.body.toString().slice(0, 300)}`);
  const answer = JSON.parse(sj.body.toString()) as { state: unknown[]; auth_chain: unknown[] };
  return { makeJoinMs: mk.ms, sendJoinMs: sj.ms, bytes: sj.body.length, stateEvents: answer.state.length, authChain: answer.auth_chain.length };
}

// ---------------------------------------------------------------------------------------------
// Prepared transactions and the closed loop
// ---------------------------------------------------------------------------------------------

const prepared = new Map<string, Array<{ sender: string; roomId: string; queue: PreparedTxn[] }>>();
let seq = 0;
const FILLER = "The quick brown fox jumps over the lazy dog. ".repeat(2);

function messageLpdus(f: Fake, roomId: string, count: number): Record<string, unknown>[] {
  const h = requireHub();
  const out: Record<string, unknown>[] = [];
  const sender = `@bench:${f.id.name}`;
  for (let i = 0; i < count; i++) {
    out.push(makeLpdu(f.id, { room_id: roomId, type: "m.room.message", sender, origin_server_ts: Date.now(), content: { msgtype: "m.text", body: `m${seq++} ${FILLER}` } }, h.name));
  }
  return out;
}

function prepare(p: T.PrepareParams): T.PrepareResult {
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
async function sendWithRetry(to: HttpTarget, txn: PreparedTxn, agent: Agent, host?: string): ReturnType<typeof httpRequest> {
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
const SLOW_MS = process.env["BENCH_SLOW_MS"] ? Number(process.env["BENCH_SLOW_MS"]) : undefined;

interface Sample {
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
function retryAfter(body: Buffer): number {
  try {
    const ms = (JSON.parse(body.toString()) as { retry_after_ms?: unknown }).retry_after_ms;
    return typeof ms === "number" && ms >= 0 ? ms : 100;
  } catch {
    return 100;
  }
}

async function runClosed(p: T.RunParams): Promise<T.RunResult> {
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
async function deliveryReport(p: { destinations: string[]; timeoutMs: number }): Promise<DeliveryFigures> {
  const run = lastRun;
  if (!run) throw new Error("no closed-loop run to report on");
  const dests = p.destinations.map(fake);
  const accepted = run.acks.reduce((s, a) => s + a.n, 0);
  const deadline = now() + p.timeoutMs;
  const have = (f: Fake) => f.arrivals.reduce((s, a) => s + a.n, 0);
  while (now() < deadline && dests.some((f) => have(f) < accepted)) await sleep(20);
  recording = false;
  return deliveryFigures({ ...run, arrivals: dests.map((f) => f.arrivals) });
}

/** The bare-append baseline, closed loop: `concurrency` connections, `rowsPerReq` rows per request. */
async function baseline(p: T.BaselineParams): Promise<T.RunResult> {
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
async function baselineRows(p: { host: string; log: string; rows: number; batch: number; concurrency: number; rowFrom: string }): Promise<T.RunResult> {
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

// ---------------------------------------------------------------------------------------------
// Client API
// ---------------------------------------------------------------------------------------------

async function register(p: T.RegisterParams): Promise<T.Account> {
  const r = await httpJson<{ user_id: string; access_token: string }>(target(p.url), "POST", "/_matrix/client/v3/register", {
    body: JSON.stringify({ username: p.username, password: "bench password 1234", auth: { type: "m.login.dummy" } }),
  });
  return { url: p.url, userId: r.user_id, token: r.access_token };
}

async function createRooms(p: T.CreateRoomsParams): Promise<string[]> {
  const out: string[] = new Array(p.count);
  let next = 0;
  let done = 0;
  const agent = newAgent(p.concurrency);
  await Promise.all(
    Array.from({ length: p.concurrency }, async () => {
      while (next < p.count) {
        const i = next++;
        const r = await httpJson<{ room_id: string }>(target(p.account.url), "POST", "/_matrix/client/v3/createRoom", {
          headers: { authorization: `Bearer ${p.account.token}` },
          body: JSON.stringify({ preset: "public_chat", name: `bench ${i}` }),
          agent,
        });
        out[i] = r.room_id;
        if (++done % 100 === 0) progress(`  created ${done}/${p.count} rooms`);
      }
    }),
  );
  agent.destroy();
  return out;
}

async function clientJoin(p: T.ClientJoinParams): Promise<void> {
  await httpJson(target(p.account.url), "POST", `/_matrix/client/v3/join/${enc(p.roomId)}?server_name=${enc(p.via)}`, {
    headers: { authorization: `Bearer ${p.account.token}` },
    body: "{}",
  });
}

/** Client sends in a closed loop (profiling the client path): `concurrency` clients, `count` sends in all. */
async function clientClosed(p: { account: T.Account; roomId: string; concurrency: number; count: number }): Promise<{ ms: number; latencies: number[] }> {
  const to = target(p.account.url);
  const headers = { authorization: `Bearer ${p.account.token}` };
  const agent = newAgent(p.concurrency);
  const latencies: number[] = [];
  let next = 0;
  const t0 = now();
  await Promise.all(
    Array.from({ length: p.concurrency }, async () => {
      while (next < p.count) {
        const i = next++;
        const a = now();
        await httpJson(to, "PUT", `/_matrix/client/v3/rooms/${enc(p.roomId)}/send/m.room.message/c${t0}.${i}`, { headers, body: JSON.stringify({ msgtype: "m.text", body: `c${i} ${FILLER}` }), agent });
        latencies.push(now() - a);
      }
    }),
  );
  agent.destroy();
  return { ms: now() - t0, latencies };
}

// ---------------------------------------------------------------------------------------------
// B2: fan-out latency to real participant servers, observed through their clients' /sync
// ---------------------------------------------------------------------------------------------

async function syncLoop(acc: T.Account, roomId: string, seen: Map<number, number>, stop: () => boolean, stats: { limited: number }): Promise<void> {
  const to = target(acc.url);
  const agent = newAgent(1);
  const headers = { authorization: `Bearer ${acc.token}` };
  const filter = enc(JSON.stringify({ room: { timeline: { limit: 500 } } }));
  let since = (await httpJson<{ next_batch: string }>(to, "GET", `/_matrix/client/v3/sync?filter=${filter}`, { headers, agent })).next_batch;
  while (!stop()) {
    const r = await httpJson<{ next_batch: string; rooms?: { join?: Record<string, { timeline?: { events?: Array<{ content?: { body?: unknown } }>; limited?: boolean } }> } }>(
      to,
      "GET",
      `/_matrix/client/v3/sync?since=${enc(since)}&timeout=2000&filter=${filter}`,
      { headers, agent },
    );
    const t = now();
    since = r.next_batch;
    const tl = r.rooms?.join?.[roomId]?.timeline;
    if (tl?.limited) stats.limited++;
    for (const e of tl?.events ?? []) {
      const body = e.content?.body;
      if (typeof body === "string" && body.startsWith("b2:")) {
        const n = Number(body.slice(3, body.indexOf(" ")));
        if (!seen.has(n)) seen.set(n, t);
      }
    }
  }
  agent.destroy();
}

/** A client PUT with a transaction ID (idempotent), sent again when a kept-alive connection was reset. */
async function sendIdempotent(to: HttpTarget, path: string, headers: Record<string, string>, body: string, agent: Agent): ReturnType<typeof httpRequest> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await httpRequest(to, "PUT", path, { headers, body, agent });
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (attempt >= 3 || (code !== "ECONNRESET" && code !== "EPIPE" && !String(e).includes("socket hang up"))) throw e;
    }
  }
}

async function b2Run(p: T.B2Params): Promise<T.B2Result> {
  const seen = p.participants.map(() => new Map<number, number>());
  let stopping = false;
  const stats = { limited: 0 };
  const loops = p.participants.map((acc, i) => syncLoop(acc, p.roomId, seen[i] as Map<number, number>, () => stopping, stats));
  await sleep(300); // let the long polls settle
  const to = target(p.sender.url);
  const agent = newAgent(64);
  const headers = { authorization: `Bearer ${p.sender.token}` };
  const total = Math.round((p.rate * p.durationMs) / 1000);
  const sendAt: number[] = [];
  const ackAt: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const t0 = now() + 5;
  const inflight: Promise<void>[] = [];
  const base = Date.now();
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / p.rate;
    const wait = due - now();
    if (wait > 1) await sleep(wait);
    const body = JSON.stringify({ msgtype: "m.text", body: `b2:${i} ${FILLER}` });
    sendAt[i] = now();
    inflight.push(
      sendIdempotent(to, `/_matrix/client/v3/rooms/${enc(p.roomId)}/send/m.room.message/b2.${base}.${i}`, headers, body, agent).then(
        (res) => {
          ackAt[i] = now();
          if (res.status !== 200) {
            errors++;
            firstError ??= `HTTP ${res.status} ${res.body.toString().slice(0, 200)}`;
          }
        },
        (e: unknown) => {
          errors++;
          firstError ??= String(e);
        },
      ),
    );
  }
  const offeredMs = now() - t0;
  await Promise.all(inflight);
  // Wait for every participant to have everything (or give up after 30 s).
  const deadline = now() + 30_000;
  while (now() < deadline && seen.some((m) => m.size < total)) await sleep(50);
  stopping = true;
  await Promise.all(loops);
  agent.destroy();
  const fromAck: number[] = [];
  const fromSend: number[] = [];
  const accept: number[] = [];
  let missing = 0;
  for (let i = 0; i < total; i++) {
    const times = seen.map((m) => m.get(i));
    const a = ackAt[i];
    const s = sendAt[i] as number;
    if (a !== undefined) accept.push(a - s);
    if (times.some((x) => x === undefined) || a === undefined) {
      missing++;
      continue;
    }
    const last = Math.max(...(times as number[]));
    fromAck.push(Math.max(0, last - a));
    fromSend.push(last - s);
  }
  return { offered: total, offeredMs, errors, ...(firstError !== undefined ? { firstError } : {}), missing, limitedSyncs: stats.limited, fromAck, fromSend, accept };
}

// ---------------------------------------------------------------------------------------------
// B4: seeding members through /send, then timed make_join/send_join
// ---------------------------------------------------------------------------------------------

async function seedMembers(p: T.SeedParams): Promise<{ ms: number; failed: number }> {
  const h = requireHub();
  const t0 = now();
  let failed = 0;
  let made = 0;
  const perServer = Math.ceil(p.count / p.fakes.length);
  await Promise.all(
    p.fakes.map(async (name, si) => {
      const f = fake(name);
      const users: string[] = [];
      for (let u = 0; u < perServer && si * perServer + u < p.count; u++) users.push(`@r${p.round}m${u}:${name}`);
      for (let i = 0; i < users.length; i += 50) {
        const lpdus = users.slice(i, i + 50).map((user) =>
          makeLpdu(f.id, { room_id: p.roomId, type: "m.room.member", state_key: user, sender: user, origin_server_ts: Date.now(), content: { membership: "join" } }, h.name),
        );
        const txn = prepareTxn(f.id, h.name, lpdus);
        for (;;) {
          const res = await sendWithRetry(h.http, txn, f.agent);
          const text = res.body.toString();
          if (res.status === 400 && text.includes("M_BAD_STATE")) {
            await sleep(50);
            continue;
          }
          // The hub's fan-out is behind (its joins go to every member's server): wait as asked.
          if (res.status === 429) {
            await sleep(retryAfter(res.body));
            continue;
          }
          if (res.status !== 200) throw new Error(`seeding members: HTTP ${res.status} ${text.slice(0, 300)}`);
          failed += Object.keys((JSON.parse(text) as { failed_pdus?: object }).failed_pdus ?? {}).length;
          break;
        }
        made += lpdus.length;
      }
    }),
  );
  if (made !== p.count) throw new Error(`seeded ${made} of ${p.count}`);
  return { ms: now() - t0, failed };
}

// ---------------------------------------------------------------------------------------------
// B5: the hub's inbound checks, timed from outside the baseline worker
// ---------------------------------------------------------------------------------------------

/** server name -> key ID -> public key, as the baseline worker's key lookups take them. */
function verifyKeys(list: Fake[]): Record<string, Record<string, string>> {
  return Object.fromEntries(list.map((f) => [f.id.name, { [f.id.keyId]: f.id.publicKeyB64 }]));
}

async function b5(p: T.B5Params): Promise<T.B5Result> {
  const h = requireHub();
  const f = fake(p.fake);
  const lpdus = messageLpdus(f, p.roomId, 200);
  const txn1 = { origin: f.id.name, origin_server_ts: Date.now(), pdus: lpdus.slice(0, 1) };
  const txn50 = { origin: f.id.name, origin_server_ts: Date.now(), pdus: lpdus.slice(0, 50) };
  const uri = `${LM_PREFIX}/send/b5`;
  const keys = verifyKeys([f]);
  const bodyFor = (content: object) =>
    JSON.stringify({ lpdus, keys, destination: h.name, request: { uri, authorization: authHeader(f.id, h.name, "PUT", uri, content), content } });
  const bodies = { t1: bodyFor(txn1), t50: bodyFor(txn50) };
  const agent = newAgent(1);
  const time = async (mode: string, n: number, body: string): Promise<number> => {
    const a = now();
    const res = await httpRequest(h.http, "POST", `/verify?mode=${mode}&n=${n}`, { headers: { host: p.host }, body, agent });
    const ms = now() - a;
    if (res.status !== 200) throw new Error(`verify ${mode}: HTTP ${res.status} ${res.body.toString().slice(0, 300)}`);
    const done = (JSON.parse(res.body.toString()) as { done: number }).done;
    if (mode !== "parse" && done !== n) throw new Error(`verify ${mode}: only ${done} of ${n} checks passed`);
    return ms;
  };
  const modes: Array<{ name: string; body: "t1" | "t50" }> = [
    { name: "ed25519", body: "t1" },
    { name: "format", body: "t1" },
    { name: "signature", body: "t1" },
    { name: "hash", body: "t1" },
    { name: "eventid", body: "t1" },
    { name: "lpdu", body: "t1" },
    { name: "xmatrix", body: "t1" },
    { name: "xmatrix", body: "t50" },
  ];
  const samples = new Map<string, number[]>();
  const parse = { t1: [] as number[], t50: [] as number[] };
  for (let i = 0; i < 3; i++) await time("parse", 0, bodies.t1); // warm up the isolate
  for (const m of modes) await time(m.name, 50, bodies[m.body]);
  for (let rep = 0; rep < p.reps; rep++) {
    for (const m of modes) {
      parse[m.body].push(await time("parse", p.n, bodies[m.body]));
      const key = `${m.name}/${m.body}`;
      const list = samples.get(key) ?? [];
      list.push(await time(m.name, p.n, bodies[m.body]));
      samples.set(key, list);
    }
  }
  agent.destroy();
  const out: T.B5Result["perCheckUs"] = {};
  for (const [key, list] of samples) {
    const base = median(parse[key.endsWith("t50") ? "t50" : "t1"]);
    out[key] = Math.max(0, ((median(list) - base) * 1000) / p.n);
  }
  return { perCheckUs: out, n: p.n, reps: p.reps, parseMs: { t1: median(parse.t1), t50: median(parse.t50) } };
}

// ---------------------------------------------------------------------------------------------

const handlers: Record<string, (params: never) => Promise<unknown> | unknown> = {
  async init(p: { names: string[] }) {
    await selfTest();
    const hostMap: Record<string, string> = {};
    for (const name of p.names) hostMap[name] = `http://127.0.0.1:${(await startFake(name)).port}`;
    return { hostMap };
  },
  setHub(p: { name: string; url: string }) {
    hub = { name: p.name, http: target(p.url) };
    for (const f of fakes.values()) f.agent.destroy(), (f.agent = newAgent(4));
    return {};
  },
  register,
  createRooms,
  clientJoin,
  async joinFakes(p: { roomId: string; fakes: string[]; concurrency?: number }) {
    const timings: T.JoinTiming[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: p.concurrency ?? 4 }, async () => {
        while (next < p.fakes.length) {
          const f = fake(p.fakes[next++] as string);
          timings.push(await joinViaHandshake(f, p.roomId, `@bench:${f.id.name}`));
        }
      }),
    );
    return timings;
  },
  async measureJoin(p: { roomId: string; fake: string; user: string }) {
    return joinViaHandshake(fake(p.fake), p.roomId, p.user);
  },
  prepare,
  runClosed,
  baseline,
  baselineRows,
  b2Run,
  clientClosed,
  seedMembers,
  b5,
  /** Gives the baseline worker's protocol floor the simulated servers' keys and the hub's name. */
  async floorKeys(p: { host: string; fakes: string[] }) {
    const h = requireHub();
    const keys = verifyKeys(p.fakes.map(fake));
    const res = await httpRequest(h.http, "POST", "/floor-keys", { headers: { host: p.host }, body: JSON.stringify({ keys, hub: h.name }) });
    if (res.status !== 200) throw new Error(`floor-keys: HTTP ${res.status} ${res.body.toString().slice(0, 300)}`);
    return {};
  },
  /** Starts noting fan-out arrivals at every simulated server (for deliveryReport after the next runClosed). */
  deliveryStart() {
    for (const f of fakes.values()) f.arrivals = [];
    recording = true;
    return {};
  },
  deliveryReport,
  fanoutStats() {
    let received = 0;
    let transactions = 0;
    for (const f of fakes.values()) (received += f.received), (transactions += f.transactions);
    return { received, transactions };
  },
  selfCpu() {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  },
};

process.on("message", (m: CallMessage) => {
  const h = handlers[m.method];
  const reply = (a: AnswerMessage) => process.send?.(a);
  if (!h) return reply({ id: m.id, error: `unknown method ${m.method}` });
  Promise.resolve()
    .then(() => h(m.params as never))
    .then(
      (result) => reply({ id: m.id, result: result ?? {} }),
      (e: unknown) => reply({ id: m.id, error: e instanceof Error ? (e.stack ?? e.message) : String(e) }),
    );
});
process.on("disconnect", () => process.exit(0));
