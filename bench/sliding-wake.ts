// How fast a new message wakes a waiting sync (issue 18): a user long-polls simplified sliding sync
// (MSC4186) with a `pos`, another user sends a message into their shared room, and we time from the
// send request leaving to the long-poll's answer arriving. The baseline, measured in the same run
// against the same server and room, is the same for GET /sync. The send's own round trip is shown
// too: the wake can never beat it, since the room notifies the stream when the event is committed.
//
// `node bench/build.mjs && node bench/.build/sliding-wake.mjs [--samples=40] [--port=N]`; the
// figures are in bench/README.md ("Sliding sync wake-up").

import { performance } from "node:perf_hooks";
import { httpJson, httpRequest, target, type HttpTarget } from "./src/http.js";
import { freePort, NO_LIMITS, startServer } from "./src/servers.js";
import { r2, summarize } from "./src/stats.js";

const arg = (name: string): string | undefined => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const SAMPLES = Number(arg("samples") ?? 40);
const C = "/_matrix/client/v3";
const SS = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync";
/** Time the long-poll is given to park in its stream before the message is sent. */
const PARK_MS = 50;

interface User {
  userId: string;
  token: string;
}

async function register(to: HttpTarget, name: string): Promise<User> {
  const r = await httpJson<{ user_id: string; access_token: string }>(to, "POST", `${C}/register`, { body: JSON.stringify({ username: name, password: "bench-pw", auth: { type: "m.login.dummy" } }) });
  return { userId: r.user_id, token: r.access_token };
}

const auth = (u: User) => ({ authorization: `Bearer ${u.token}` });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One sample: catch up, start `poll`, let it park, send, and time send-start -> poll answer (and the send alone). */
async function sample(path: { catchUp: () => Promise<void>; poll: () => Promise<void> }, send: () => Promise<void>): Promise<{ wake: number; send: number }> {
  // The other path's samples sent messages this one has not seen yet: take them first.
  await path.catchUp();
  let answered = 0;
  const waiting = path.poll().then(() => void (answered = performance.now()));
  await sleep(PARK_MS);
  const t0 = performance.now();
  await send();
  const sent = performance.now();
  await waiting;
  return { wake: answered - t0, send: sent - t0 };
}

async function main(): Promise<void> {
  const port = Number(arg("port") ?? (await freePort()));
  const name = "wake.bench.test";
  const server = await startServer({ name, port, hostMap: {}, bindings: { RATE_LIMITS: NO_LIMITS } });
  try {
    const to = target(server.url);
    const stamp = Date.now().toString(36);
    const alice = await register(to, `alice${stamp}`);
    const bob = await register(to, `bob${stamp}`);
    const { room_id: roomId } = await httpJson<{ room_id: string }>(to, "POST", `${C}/createRoom`, { headers: auth(alice), body: JSON.stringify({ preset: "public_chat" }) });
    await httpJson(to, "POST", `${C}/join/${encodeURIComponent(roomId)}`, { headers: auth(bob), body: "{}" });
    let txn = 0;
    const send = async () => {
      const r = await httpRequest(to, "PUT", `${C}/rooms/${encodeURIComponent(roomId)}/send/m.room.message/w${++txn}`, { headers: auth(alice), body: JSON.stringify({ msgtype: "m.text", body: `m${txn}` }) });
      if (r.status !== 200) throw new Error(`send: HTTP ${r.status}`);
    };

    const body = JSON.stringify({ conn_id: "room-list", lists: { all: { ranges: [[0, 19]], timeline_limit: 1, required_state: [["m.room.name", ""]] } } });
    let pos = (await httpJson<{ pos: string }>(to, "POST", SS, { headers: auth(bob), body })).pos;
    const slidingOnce = async (timeout: number) => {
      const r = await httpJson<{ pos: string; rooms: Record<string, { timeline?: Array<{ content: { body?: string } }> }> }>(to, "POST", `${SS}?pos=${pos}&timeout=${timeout}`, { headers: auth(bob), body });
      pos = r.pos;
      return r.rooms[roomId]?.timeline?.map((e) => e.content.body) ?? [];
    };
    const sliding = {
      catchUp: async () => void (await slidingOnce(0)),
      poll: async () => {
        const bodies = await slidingOnce(30_000);
        if (!bodies.includes(`m${txn}`)) throw new Error(`sliding sync answered without the new message: ${bodies.join(",")}`);
      },
    };
    let since = (await httpJson<{ next_batch: string }>(to, "GET", `${C}/sync`, { headers: auth(bob) })).next_batch;
    const syncOnce = async (timeout: number) => {
      const r = await httpJson<{ next_batch: string; rooms: { join: Record<string, { timeline: { events: Array<{ content: { body?: string } }> } }> } }>(to, "GET", `${C}/sync?since=${since}&timeout=${timeout}`, { headers: auth(bob) });
      since = r.next_batch;
      return r.rooms.join[roomId]?.timeline.events.map((e) => e.content.body) ?? [];
    };
    const sync = {
      catchUp: async () => void (await syncOnce(0)),
      poll: async () => {
        const bodies = await syncOnce(30_000);
        if (!bodies.includes(`m${txn}`)) throw new Error(`/sync answered without the new message: ${bodies.join(",")}`);
      },
    };

    // Warm both paths, then interleave them so load on the shared machine falls on both alike.
    for (let i = 0; i < 5; i++) await sample(sliding, send), await sample(sync, send);
    const ss = { wake: [] as number[], send: [] as number[] };
    const base = { wake: [] as number[], send: [] as number[] };
    for (let i = 0; i < SAMPLES; i++) {
      const a = await sample(sliding, send);
      ss.wake.push(a.wake);
      ss.send.push(a.send);
      const b = await sample(sync, send);
      base.wake.push(b.wake);
      base.send.push(b.send);
    }
    const row = (what: string, xs: number[]) => {
      const s = summarize(xs);
      return `${what.padEnd(44)} median ${r2(s.p50)} ms  p90 ${r2(s.p90)} ms  p99 ${r2(s.p99)} ms  max ${r2(s.max)} ms`;
    };
    console.log(`[bench] sliding sync wake-up, ${SAMPLES} samples each, interleaved`);
    console.log(row("sliding sync: send start -> long-poll answer", ss.wake));
    console.log(row("/sync (baseline): send start -> answer", base.wake));
    console.log(row("the send's own round trip", [...ss.send, ...base.send]));
  } finally {
    await server.dispose();
  }
}

await main();
