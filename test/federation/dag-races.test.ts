// Races of state events in a v12 room across three real servers, each race two events on the same
// parent handed to the servers in different orders; once one more event merges the branches, every
// server holds the same current state, event by event, and the one state resolution v2.1 decides:
// - a ban against a topic change by the banned user: banned, and no topic;
// - a power-level demotion against a kick by the demoted user: demoted, and the target stays;
// - a join-rules change to invite against a join: invite only, and the joiner is not in.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { JsonObject } from "../../shared/canonical-json.js";
import type { Pdu } from "../../shared/event.js";
import { eventIdOf } from "../../shared/hashes.js";
import { ROOM_VERSION_12 } from "../../shared/room-versions.js";
import { eventually, TestClient } from "./client.js";
import { extremitiesOn, forgeEvent, pduOn, sameStateEverywhere, sendPdus } from "./dag-helpers.js";
import { stateOf } from "./forge.js";
import { startServers, stopServers, type TestServer } from "./harness.js";

const V = "12";
const idOf = (pdu: Pdu) => eventIdOf(pdu, ROOM_VERSION_12);

describe("state races in a v12 room across three servers", () => {
  let servers: TestServer[] = [];
  let r1: TestServer;
  let r2: TestServer;
  let r3: TestServer;
  let alice: TestClient;
  let bob: TestClient;
  let carol: TestClient;
  let dave: TestClient;
  let roomId: string;

  beforeAll(async () => {
    servers = await startServers(["r1.test", "r2.test", "r3.test"]);
    [r1, r2, r3] = servers as [TestServer, TestServer, TestServer];
    [alice, bob, carol, dave] = await Promise.all([TestClient.register(r1, "alice"), TestClient.register(r2, "bob"), TestClient.register(r3, "carol"), TestClient.register(r3, "dave")]);
    roomId = (await alice.createRoom({ room_version: V, preset: "public_chat" })).room_id;
    // dave keeps r3 in the room after carol is banned.
    for (const c of [bob, carol, dave]) await c.join(roomId, "r1.test");
    const pl = await alice.request<JsonObject>("GET", `/rooms/${encodeURIComponent(roomId)}/state/m.room.power_levels/`);
    await alice.setState(roomId, "m.room.power_levels", "", { ...pl, users: { [bob.userId]: 50, [carol.userId]: 50 } });
    await sameStateEverywhere(servers, roomId);
  });
  afterAll(() => stopServers(servers));

  /** The parent both racing events hang off: the one forward extremity all servers share, and the state there. */
  async function parent() {
    const eventId = await eventually(async () => {
      const ex = await Promise.all(servers.map((s) => extremitiesOn(servers, s, roomId, V)));
      return ex.every((e) => e.length === 1 && e[0] === ex[0]?.[0]) ? ex[0]?.[0] : undefined;
    }, "one common forward extremity");
    return { eventId: eventId as string, depth: (await pduOn(r2, r1, eventId as string, roomId)).depth as number, state: await stateOf(r1, roomId) };
  }

  /** Hands `first` then `second` to r1, and the other way round to r2 and r3; then bob's next event merges. */
  async function race(first: { pdu: Pdu }, second: { pdu: Pdu }): Promise<Map<string, string>> {
    await sendPdus(r2, r1, [first.pdu, second.pdu]);
    await sendPdus(r3, r2, [second.pdu, first.pdu]);
    await sendPdus(r1, r3, [second.pdu, first.pdu]);
    const merge = await bob.send(roomId, "after the race");
    expect((await pduOn(r1, r2, merge, roomId)).prev_events.sort()).toEqual([await idOf(first.pdu), await idOf(second.pdu)].sort());
    const state = await sameStateEverywhere(servers, roomId);
    // make_join shows the extremities, while the room lets anyone join.
    if ((await stateOf(r1, roomId)).get("m.room.join_rules\u0000")?.pdu.content["join_rule"] !== "public") return state;
    await eventually(async () => {
      const ex = await Promise.all(servers.map((s) => extremitiesOn(servers, s, roomId, V)));
      return ex.every((e) => e.length === 1) || undefined;
    }, "one forward extremity on every server after the merge");
    return state;
  }

  it("resolves a ban against a topic change by the banned user: banned, no topic", async () => {
    const p = await parent();
    const ban = await forgeEvent(r1, p.state, roomId, V, { type: "m.room.member", sender: alice.userId, state_key: carol.userId, content: { membership: "ban" } }, [p]);
    const topic = await forgeEvent(r3, p.state, roomId, V, { type: "m.room.topic", sender: carol.userId, state_key: "", content: { topic: "carol was here" } }, [p]);
    const state = await race(ban, topic);
    expect(state.get(`m.room.member\u0000${carol.userId}`)).toBe(ban.eventId);
    expect(state.get("m.room.topic\u0000")).toBeUndefined();
  });

  it("resolves a power-level demotion against a kick by the demoted user: demoted, and the target stays", async () => {
    const p = await parent();
    const pl = p.state.get("m.room.power_levels\u0000")?.pdu.content as JsonObject;
    const demote = await forgeEvent(r1, p.state, roomId, V, { type: "m.room.power_levels", sender: alice.userId, state_key: "", content: { ...pl, users: {} } }, [p]);
    const kick = await forgeEvent(r2, p.state, roomId, V, { type: "m.room.member", sender: bob.userId, state_key: dave.userId, content: { membership: "leave" } }, [p]);
    const state = await race(demote, kick);
    expect(state.get("m.room.power_levels\u0000")).toBe(demote.eventId);
    expect((await stateOf(r2, roomId)).get(`m.room.member\u0000${dave.userId}`)?.pdu.content["membership"]).toBe("join");
  });

  it("resolves a join-rules change to invite against a join: invite only, and the joiner is not in", async () => {
    const p = await parent();
    const erin = `@erin:r3.test`;
    const rules = await forgeEvent(r1, p.state, roomId, V, { type: "m.room.join_rules", sender: alice.userId, state_key: "", content: { join_rule: "invite" } }, [p]);
    const join = await forgeEvent(r3, p.state, roomId, V, { type: "m.room.member", sender: erin, state_key: erin, content: { membership: "join" } }, [p]);
    const state = await race(rules, join);
    expect(state.get("m.room.join_rules\u0000")).toBe(rules.eventId);
    expect(state.get(`m.room.member\u0000${erin}`)).toBeUndefined();
  });
});
