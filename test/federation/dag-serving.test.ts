// What a server of a full-mesh (v12) room serves to other servers: never a rejected event (event,
// state, state_ids, event_auth, get_missing_events, backfill), soft-failed ones as Synapse does,
// backfill by walking prev_events rather than local order, and nothing at all (403 M_FORBIDDEN) to a
// server with no member in the room; and the other side of backfill, a server that joined the room
// through another fetching the history from before its join for /messages.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Pdu } from "../../shared/event.js";
import { eventually, TestClient } from "./client.js";
import { eventPath, extremitiesOn, forgeEvent, pduOn, sameStateEverywhere, sendPdus } from "./dag-helpers.js";
import { fed, stateOf } from "./forge.js";
import { startServers, stopServers, type TestServer } from "./harness.js";

const V = "12";
const enc = encodeURIComponent;
const V1 = "/_matrix/federation/v1";

describe("serving a v12 room over federation", () => {
  let servers: TestServer[] = [];
  let e1: TestServer;
  let e2: TestServer;
  let e3: TestServer;
  let alice: TestClient;
  let bob: TestClient;
  let roomId: string;

  beforeAll(async () => {
    servers = await startServers(["e1.test", "e2.test", "e3.test"]);
    [e1, e2, e3] = servers as [TestServer, TestServer, TestServer];
    [alice, bob] = await Promise.all([TestClient.register(e1, "alice"), TestClient.register(e2, "bob")]);
    roomId = (await alice.createRoom({ room_version: V, preset: "public_chat" })).room_id;
    await bob.join(roomId, "e1.test");
    await sameStateEverywhere([e1, e2], roomId);
  });
  afterAll(() => stopServers(servers));

  async function tip(): Promise<{ eventId: string; depth: number }> {
    const id = await eventually(async () => {
      const ex = await extremitiesOn(servers, e1, roomId, V);
      return ex.length === 1 ? ex[0] : undefined;
    }, "one forward extremity on e1");
    return { eventId: id as string, depth: (await pduOn(e2, e1, id as string, roomId)).depth as number };
  }

  const bobSays = (body: string, prev: Array<{ eventId: string; depth: number }>) =>
    forgeEvent(e2, e1, roomId, V, { type: "m.room.message", sender: bob.userId, content: { msgtype: "m.text", body } }, prev);
  const link = (e: { eventId: string; pdu: Pdu }) => ({ eventId: e.eventId, depth: e.pdu.depth as number });

  it("backfills by walking prev_events from the events asked for, not by local order", async () => {
    const t = await tip();
    const [a, b] = [await bobSays("branch a", [t]), await bobSays("branch b", [t])];
    expect(await sendPdus(e2, e1, [a.pdu, b.pdu])).toEqual({});
    // alice's message lands between the branches and bob's merge in e1's local order, but is no ancestor of it.
    const local = await alice.send(roomId, "beside the merge");
    const merge = await bobSays("merge", [link(a), link(b)]);
    expect(await sendPdus(e2, e1, [merge.pdu])).toEqual({});
    const back = await fed<{ pdus: Pdu[] }>(e2, e1, "GET", `${V1}/backfill/${enc(roomId)}?v=${enc(merge.eventId)}&limit=3`);
    expect(back.status).toBe(200);
    const bodies = back.body.pdus.map((p) => p.content["body"]);
    expect(bodies).toHaveLength(3);
    expect(bodies.slice(0, 2).sort()).toEqual(["branch a", "branch b"]);
    expect(bodies[2]).toBe("merge");
    expect((await alice.timeline(roomId)).some((e) => e.event_id === local)).toBe(true);
    // Asking from alice's message walks its own ancestry.
    const fromLocal = await fed<{ pdus: Pdu[] }>(e2, e1, "GET", `${V1}/backfill/${enc(roomId)}?v=${enc(local)}&limit=3`);
    expect(fromLocal.body.pdus.map((p) => p.content["body"]).slice(0, 2).sort()).toEqual(["branch a", "branch b"]);
  });

  it("never serves a rejected event: not by event, state, state_ids, event_auth, get_missing_events or backfill", async () => {
    await alice.send(roomId, "merging what came before");
    const parent = await tip();
    const grab = await forgeEvent(e2, e1, roomId, V, { type: "m.room.power_levels", sender: bob.userId, state_key: "", content: { users: { [bob.userId]: 100 } } }, [parent]);
    expect(Object.keys(await sendPdus(e2, e1, [grab.pdu]))).toEqual([grab.eventId]);
    const child = await bobSays("after the grab", [link(grab), parent]);
    expect(await sendPdus(e2, e1, [child.pdu])).toEqual({});
    // Positive control: the child is served.
    expect((await fed(e2, e1, "GET", eventPath(child.eventId, roomId))).status).toBe(200);
    for (const path of [eventPath(grab.eventId, roomId), `${V1}/state_ids/${enc(roomId)}?event_id=${enc(grab.eventId)}`, `${V1}/state/${enc(roomId)}?event_id=${enc(grab.eventId)}`, `${V1}/event_auth/${enc(roomId)}/${enc(grab.eventId)}`]) {
      const res = await fed(e2, e1, "GET", path);
      expect([path, res.status, res.body.errcode]).toEqual([path, 404, "M_NOT_FOUND"]);
    }
    const missing = await fed<{ events: Pdu[] }>(e2, e1, "POST", `${V1}/get_missing_events/${enc(roomId)}`, { earliest_events: [], latest_events: [child.eventId], limit: 10, min_depth: 0 });
    expect(missing.status).toBe(200);
    expect(missing.body.events.length).toBeGreaterThan(0);
    expect(missing.body.events.some((e) => e.type === "m.room.power_levels" && e.sender === bob.userId)).toBe(false);
    const back = await fed<{ pdus: Pdu[] }>(e2, e1, "GET", `${V1}/backfill/${enc(roomId)}?v=${enc(child.eventId)}&v=${enc(grab.eventId)}&limit=20`);
    expect(back.status).toBe(200);
    expect(back.body.pdus.some((e) => e.content["body"] === "after the grab")).toBe(true);
    expect(back.body.pdus.some((e) => e.type === "m.room.power_levels" && e.sender === bob.userId)).toBe(false);
  });

  it("serves a soft-failed event to servers, as Synapse does, while clients never see it", async () => {
    const pl = (await stateOf(e1, roomId)).get("m.room.power_levels\u0000")?.pdu.content as Record<string, unknown>;
    const users = pl["users"] as Record<string, number>;
    await alice.setState(roomId, "m.room.power_levels", "", { ...pl, users: { ...users, [bob.userId]: 50 } });
    const promoted = await tip();
    const whilePromoted = await stateOf(e1, roomId);
    await alice.setState(roomId, "m.room.power_levels", "", { ...pl, users });
    await tip();
    // bob's topic on the event that promoted him passes there, but current state has demoted him.
    const topic = await forgeEvent(e2, whilePromoted, roomId, V, { type: "m.room.topic", sender: bob.userId, state_key: "", content: { topic: "late" } }, [promoted]);
    expect(await sendPdus(e2, e1, [topic.pdu])).toEqual({});
    expect((await alice.timeline(roomId)).some((e) => e.event_id === topic.eventId)).toBe(false);
    expect((await fed(e2, e1, "GET", eventPath(topic.eventId, roomId))).status).toBe(200);
  });

  it("answers 403 M_FORBIDDEN to a server with no member in the room", async () => {
    const some = (await tip()).eventId;
    const requests: Array<[string, string, unknown?]> = [
      ["GET", eventPath(some, roomId)],
      ["GET", `${V1}/state/${enc(roomId)}?event_id=${enc(some)}`],
      ["GET", `${V1}/state_ids/${enc(roomId)}?event_id=${enc(some)}`],
      ["GET", `${V1}/event_auth/${enc(roomId)}/${enc(some)}`],
      ["GET", `${V1}/backfill/${enc(roomId)}?v=${enc(some)}&limit=5`],
      ["POST", `${V1}/get_missing_events/${enc(roomId)}`, { earliest_events: [], latest_events: [some], limit: 5, min_depth: 0 }],
    ];
    for (const [method, path, body] of requests) {
      // The same request from a server in the room is answered.
      expect([path, (await fed(e2, e1, method, path, body)).status]).toEqual([path, 200]);
      const res = await fed(e3, e1, method, path, body);
      expect([path, res.status, res.body.errcode]).toEqual([path, 403, "M_FORBIDDEN"]);
    }
  });

  it("shows a user who joined on another server the history from before the join in /messages, fetched by backfill", async () => {
    await alice.send(roomId, "merging before carol");
    const before = await alice.send(roomId, "said before carol joined");
    const carol = await TestClient.register(e3, "carol");
    await carol.join(roomId, "e1.test");
    const seen: Array<{ event_id: string; type: string }> = [];
    let from: string | undefined;
    for (let page = 0; page < 20; page++) {
      const res = await carol.request<{ chunk: Array<{ event_id: string; type: string }>; end?: string }>("GET", `/rooms/${enc(roomId)}/messages?dir=b&limit=50${from ? `&from=${from}` : ""}`);
      seen.push(...res.chunk);
      if (!res.end || res.chunk.length === 0) break;
      from = res.end;
    }
    expect(seen.filter((e) => e.event_id === before)).toHaveLength(1);
    expect(seen.some((e) => e.type === "m.room.create")).toBe(true);
    // e3 had no member before carol's join; now it may read the room.
    expect((await fed(e3, e1, "GET", eventPath(before, roomId))).status).toBe(200);
  });
});
