// The load generator as the clients of the real servers: accounts, rooms, client sends, and B2's fan-out
// latency observed through participant clients' /sync.

import type { Agent } from "node:http";
import { httpJson, httpRequest, newAgent, target, type HttpTarget } from "./http.js";
import type * as T from "./types.js";
import { enc, now, sleep, progress } from "./loadgen-common.js";
import { FILLER } from "./loadgen-closed-loop.js";

// ---------------------------------------------------------------------------------------------
// Client API
// ---------------------------------------------------------------------------------------------

export async function register(p: T.RegisterParams): Promise<T.Account> {
  const r = await httpJson<{ user_id: string; access_token: string }>(target(p.url), "POST", "/_matrix/client/v3/register", {
    body: JSON.stringify({ username: p.username, password: "bench password 1234", auth: { type: "m.login.dummy" } }),
  });
  return { url: p.url, userId: r.user_id, token: r.access_token };
}

export async function createRooms(p: T.CreateRoomsParams): Promise<string[]> {
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

export async function clientJoin(p: T.ClientJoinParams): Promise<void> {
  await httpJson(target(p.account.url), "POST", `/_matrix/client/v3/join/${enc(p.roomId)}?server_name=${enc(p.via)}`, {
    headers: { authorization: `Bearer ${p.account.token}` },
    body: "{}",
  });
}

/** Client sends in a closed loop (profiling the client path): `concurrency` clients, `count` sends in all. */
export async function clientClosed(p: { account: T.Account; roomId: string; concurrency: number; count: number }): Promise<{ ms: number; latencies: number[] }> {
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

export async function syncLoop(acc: T.Account, roomId: string, seen: Map<number, number>, stop: () => boolean, stats: { limited: number }): Promise<void> {
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
export async function sendIdempotent(to: HttpTarget, path: string, headers: Record<string, string>, body: string, agent: Agent): ReturnType<typeof httpRequest> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await httpRequest(to, "PUT", path, { headers, body, agent });
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (attempt >= 3 || (code !== "ECONNRESET" && code !== "EPIPE" && !String(e).includes("socket hang up"))) throw e;
    }
  }
}

export async function b2Run(p: T.B2Params): Promise<T.B2Result> {
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
