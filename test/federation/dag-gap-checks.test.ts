// Events learnt at a gap in a full-mesh (v12) room are checked before the gap's state uses them. e2
// is stopped and a server of the test answers on its port with its key, so e1's questions about a
// withheld parent (get_missing_events, state_ids, event, event_auth) get a forged state: one state
// event that fails the auth rules, one with a bad signature, and one whose auth event is withheld
// from the answer and must be fetched with event_auth.

import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Pdu } from "../../shared/event.js";
import { eventually, TestClient } from "./client.js";
import { eventPath, extremitiesOn, forgeEvent, pduOn, sameStateEverywhere, sendPdus } from "./dag-helpers.js";
import { fed, stateOf } from "./forge.js";
import { startServers, stopServers, type TestServer } from "./harness.js";

const V = "12";
const enc = encodeURIComponent;

describe("state fetched at a gap in a v12 room", () => {
  let servers: TestServer[] = [];
  let e1: TestServer;
  let e2: TestServer;
  let e3: TestServer;
  let alice: TestClient;
  let bob: TestClient;
  let roomId: string;
  let impostor: Server | undefined;
  const asked: string[] = [];

  beforeAll(async () => {
    servers = await startServers(["e1.test", "e2.test", "e3.test"]);
    [e1, e2, e3] = servers as [TestServer, TestServer, TestServer];
    [alice, bob] = await Promise.all([TestClient.register(e1, "alice"), TestClient.register(e2, "bob")]);
    roomId = (await alice.createRoom({ room_version: V, preset: "public_chat", topic: "the real topic" })).room_id;
    await bob.join(roomId, "e1.test");
    await sameStateEverywhere([e1, e2], roomId);
  });
  afterAll(async () => {
    await new Promise<void>((r) => (impostor ? impostor.close(() => r()) : r()));
    await stopServers(servers);
  });

  type Answer = (method: string, url: string, body: unknown) => unknown;
  let answer: Answer = () => undefined;

  /** e2's port answered by the test: its key, and `next`'s answers to other servers' questions. */
  async function impersonateE2(next: Answer): Promise<void> {
    answer = next;
    if (impostor) return;
    const keyDoc = await (await e2.fetch("/_matrix/key/v2/server")).text();
    await e2.stop();
    impostor = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        void (async () => {
          const url = req.url ?? "";
          asked.push(`${req.method} ${url}`);
          const text = Buffer.concat(chunks).toString("utf8");
          const body = url === "/_matrix/key/v2/server" ? keyDoc : await answer(req.method ?? "", url, text ? JSON.parse(text) : undefined);
          res.writeHead(body === undefined ? 404 : 200, { "content-type": "application/json" });
          res.end(body === undefined ? JSON.stringify({ errcode: "M_NOT_FOUND", error: "Not here" }) : typeof body === "string" ? body : JSON.stringify(body));
        })();
      });
    });
    await new Promise<void>((r) => impostor?.listen(e2.port, "127.0.0.1", r));
  }

  it("rejects a state event that fails its auth rules, drops one with a bad signature, fetches a withheld auth event, and keeps the gap's state clean", async () => {
    const [tipId] = await extremitiesOn(servers, e1, roomId, V);
    const tip = { eventId: tipId as string, depth: (await pduOn(e2, e1, tipId as string, roomId)).depth as number };
    const state = await stateOf(e1, roomId);
    const realTopic = state.get("m.room.topic\u0000")?.event_id as string;
    const bobKey = `m.room.member\u0000${bob.userId}`;

    // bob (power 0) sets the topic: refused by its own auth events (topics need 50).
    const badTopic = await forgeEvent(e2, state, roomId, V, { type: "m.room.topic", sender: bob.userId, state_key: "", content: { topic: "forged" } }, [tip]);
    // alice's room name, signed as e1 by a key that is not e1's.
    const named = await forgeEvent(e1, state, roomId, V, { type: "m.room.name", sender: alice.userId, state_key: "", content: { name: "forged name" } }, [tip]);
    const keyId = Object.keys(named.pdu.signatures["e1.test"] ?? {})[0] as string;
    const badSig: Pdu = { ...named.pdu, signatures: { "e1.test": { [keyId]: "A".repeat(86) } } };
    // bob renames himself twice; the first rename is the second's auth event and is in no answer.
    const rename1 = await forgeEvent(e2, state, roomId, V, { type: "m.room.member", sender: bob.userId, state_key: bob.userId, content: { membership: "join", displayname: "Bob 1" } }, [tip]);
    const after1 = new Map(state).set(bobKey, { event_id: rename1.eventId, pdu: rename1.pdu });
    const rename2 = await forgeEvent(e2, after1, roomId, V, { type: "m.room.member", sender: bob.userId, state_key: bob.userId, content: { membership: "join", displayname: "Bob 2" } }, [{ eventId: rename1.eventId, depth: rename1.pdu.depth as number }]);
    const after2 = new Map(after1).set(bobKey, { event_id: rename2.eventId, pdu: rename2.pdu });
    const withheld = await forgeEvent(e2, after2, roomId, V, { type: "m.room.message", sender: bob.userId, content: { msgtype: "m.text", body: "withheld" } }, [{ eventId: rename2.eventId, depth: rename2.pdu.depth as number }]);
    const sent = await forgeEvent(e2, after2, roomId, V, { type: "m.room.message", sender: bob.userId, content: { msgtype: "m.text", body: "after the gap" } }, [{ eventId: withheld.eventId, depth: withheld.pdu.depth as number }]);

    const claimed = new Map([...state].map(([k, v]) => [k, v.event_id]));
    claimed.set("m.room.topic\u0000", badTopic.eventId).set("m.room.name\u0000", named.eventId).set(bobKey, rename2.eventId);
    const byId = new Map<string, Pdu>([[badTopic.eventId, badTopic.pdu], [named.eventId, badSig], [rename1.eventId, rename1.pdu], [rename2.eventId, rename2.pdu], [withheld.eventId, withheld.pdu]]);
    for (const [, v] of state) byId.set(v.event_id, v.pdu);
    await impersonateE2((method, url) => {
      if (method === "PUT" && url.startsWith("/_matrix/federation/v1/send/")) return { pdus: {} };
      if (url.startsWith("/_matrix/federation/v1/get_missing_events/")) return { events: [] };
      if (url.startsWith(`/_matrix/federation/v1/state_ids/${enc(roomId)}?event_id=${enc(withheld.eventId)}`)) return { pdu_ids: [...claimed.values()], auth_chain_ids: [] };
      const ev = /^\/_matrix\/federation\/v1\/event\/([^?]+)/.exec(url);
      if (ev) {
        const e = byId.get(decodeURIComponent(ev[1] as string));
        return e && { origin: "e2.test", origin_server_ts: Date.now(), pdus: [e] };
      }
      if (url === `/_matrix/federation/v1/event_auth/${enc(roomId)}/${enc(rename2.eventId)}`) {
        return { auth_chain: [rename1.pdu, ...[...state.values()].filter((s) => s.pdu.type !== "m.room.topic").map((s) => s.pdu)] };
      }
      return undefined;
    });

    expect(await sendPdus(e2, e1, [sent.pdu])).toEqual({});
    await eventually(async () => ((await alice.timeline(roomId)).some((e) => e.event_id === sent.eventId) ? true : undefined), "the event after the gap on alice's timeline");
    expect(asked).toContain(`GET /_matrix/federation/v1/event_auth/${enc(roomId)}/${enc(rename2.eventId)}`);

    // The state e1 holds before the event: what the answer claimed, less the forged topic and name,
    // with bob's second rename.
    const before = await fed<{ pdu_ids: string[] }>(e2, e1, "GET", `/_matrix/federation/v1/state_ids/${enc(roomId)}?event_id=${enc(sent.eventId)}`);
    expect(before.status).toBe(200);
    expect(before.body.pdu_ids).not.toContain(badTopic.eventId);
    expect(before.body.pdu_ids).not.toContain(named.eventId);
    expect(before.body.pdu_ids).toContain(rename2.eventId);
    // The forged topic is kept as rejected and never served; the badly signed name was never stored.
    expect((await fed(e2, e1, "GET", eventPath(badTopic.eventId, roomId))).status).toBe(404);
    expect((await fed(e2, e1, "GET", eventPath(named.eventId, roomId))).status).toBe(404);
    expect((await fed(e2, e1, "GET", eventPath(rename1.eventId, roomId))).status).toBe(200);
    const current = await stateOf(e1, roomId);
    expect(current.get("m.room.topic\u0000")?.event_id).toBe(realTopic);
    expect(current.has("m.room.name\u0000")).toBe(false);
  });

  it("leaves out of the pre-join history it backfills an event that fails its auth rules, served by a dishonest server", async () => {
    // e1 holds a power-level grab by bob as rejected, and a message of his that names it as a parent.
    await alice.send(roomId, "merging before the grab");
    const [tipId] = await eventually(async () => {
      const ex = await extremitiesOn([e1, e3], e1, roomId, V);
      return ex.length === 1 ? ex : undefined;
    }, "one forward extremity on e1");
    const tip = { eventId: tipId as string, depth: (await pduOn(e2, e1, tipId as string, roomId)).depth as number };
    const grab = await forgeEvent(e2, e1, roomId, V, { type: "m.room.power_levels", sender: bob.userId, state_key: "", content: { users: { [bob.userId]: 100 } } }, [tip]);
    expect(Object.keys(await sendPdus(e2, e1, [grab.pdu]))).toEqual([grab.eventId]);
    const child = await forgeEvent(e2, e1, roomId, V, { type: "m.room.message", sender: bob.userId, content: { msgtype: "m.text", body: "after the grab" } }, [{ eventId: grab.eventId, depth: grab.pdu.depth as number }, tip]);
    expect(await sendPdus(e2, e1, [child.pdu])).toEqual({});
    await alice.send(roomId, "said before carol joined");

    // carol joins through "e2", which relays to e1 but slips the rejected grab into its backfill.
    const relayed = (method: string, url: string, body: unknown) => fed(e3, e1, method, url, body).then((r) => (r.status === 200 ? r.body : undefined));
    await impersonateE2(async (method, url, body) => {
      if (method === "PUT" && url.startsWith("/_matrix/federation/v1/send/")) return { pdus: {} };
      if (url.startsWith("/_matrix/federation/v1/backfill/")) {
        const page = (await relayed(method, url, body)) as { pdus: Pdu[] } | undefined;
        return page && { ...page, pdus: [...page.pdus, grab.pdu] };
      }
      return relayed(method, url, body);
    });
    const carol = await TestClient.register(e3, "carol");
    await carol.join(roomId, "e2.test");
    const seen: Array<{ event_id: string; type: string; sender: string }> = [];
    let from: string | undefined;
    for (let page = 0; page < 20; page++) {
      const res = await carol.request<{ chunk: typeof seen; end?: string }>("GET", `/rooms/${enc(roomId)}/messages?dir=b&limit=50${from ? `&from=${from}` : ""}`);
      seen.push(...res.chunk);
      if (!res.end || res.chunk.length === 0) break;
      from = res.end;
    }
    expect(asked.some((a) => a.startsWith(`GET /_matrix/federation/v1/backfill/${enc(roomId)}`))).toBe(true);
    expect(seen.some((e) => e.event_id === child.eventId)).toBe(true);
    expect(seen.some((e) => e.type === "m.room.create")).toBe(true);
    expect(seen.some((e) => e.event_id === grab.eventId)).toBe(false);
  });
});
