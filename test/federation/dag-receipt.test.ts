// The checks on receipt of a PDU in a full-mesh (v12) room between two real servers, with events
// built and signed as one of them where the test needs a shape the servers would not make on cue:
// withheld history (3, 15 and 40 unseen parents, filled by get_missing_events and, past its rounds,
// the state at the gap), rejection (never state, never a parent) and soft failure (stored, not shown,
// not an extremity).

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Pdu } from "../../shared/event.js";
import { eventually, TestClient } from "./client.js";
import { eventPath, extremitiesOn, forgeEvent, pduOn, sameStateEverywhere, sendPdus } from "./dag-helpers.js";
import { fed, stateOf } from "./forge.js";
import { startServers, stopServers, type TestServer } from "./harness.js";

const V = "12";

describe("receiving PDUs in a v12 room", () => {
  let servers: TestServer[] = [];
  let e1: TestServer;
  let e2: TestServer;
  let alice: TestClient;
  let bob: TestClient;
  let roomId: string;

  beforeAll(async () => {
    servers = await startServers(["e1.test", "e2.test"]);
    [e1, e2] = servers as [TestServer, TestServer];
    [alice, bob] = await Promise.all([TestClient.register(e1, "alice"), TestClient.register(e2, "bob")]);
    roomId = (await alice.createRoom({ room_version: V, preset: "public_chat" })).room_id;
    await bob.join(roomId, "e1.test");
    await sameStateEverywhere(servers, roomId);
  });
  afterAll(() => stopServers(servers));

  /** The one forward extremity both servers agree on, with its depth. */
  async function tip(): Promise<{ eventId: string; depth: number }> {
    const id = await eventually(async () => {
      const [a, b] = await Promise.all([extremitiesOn(servers, e1, roomId, V), extremitiesOn(servers, e2, roomId, V)]);
      return a.length === 1 && b.length === 1 && a[0] === b[0] ? a[0] : undefined;
    }, "one common forward extremity");
    return { eventId: id as string, depth: (await pduOn(e2, e1, id as string, roomId)).depth as number };
  }

  /** A chain of `n` messages by bob on `parent`, signed as e2. */
  async function bobChain(parent: { eventId: string; depth: number }, n: number, label: string): Promise<Array<{ eventId: string; pdu: Pdu }>> {
    const out: Array<{ eventId: string; pdu: Pdu }> = [];
    let prev = parent;
    for (let i = 0; i < n; i++) {
      const e = await forgeEvent(e2, e2, roomId, V, { type: "m.room.message", sender: bob.userId, content: { msgtype: "m.text", body: `${label} ${i}` } }, [prev]);
      out.push(e);
      prev = { eventId: e.eventId, depth: e.pdu.depth as number };
    }
    return out;
  }

  /** bob's server holds `chain`; e1 is sent only an event on its last link, and must fetch the rest. */
  async function withhold(n: number, label: string): Promise<{ chain: string[]; last: string; parent: string }> {
    const parent = await tip();
    const chain = await bobChain(parent, n + 1, label);
    const withheld = chain.slice(0, n);
    const lastEvent = chain[n] as { eventId: string; pdu: Pdu };
    // e2 learns the chain as if relayed to it; it does not send received events on.
    expect(await sendPdus(e1, e2, chain.map((e) => e.pdu))).toEqual({});
    expect(await sendPdus(e2, e1, [lastEvent.pdu])).toEqual({});
    return { chain: withheld.map((e) => e.eventId), last: lastEvent.eventId, parent: parent.eventId };
  }

  it.each([3, 15])("fetches %i unseen parents with get_missing_events, and every message reaches /messages on both servers", async (n) => {
    const { chain, last } = await withhold(n, `gap${n}`);
    await eventually(async () => {
      const [a, b] = await Promise.all([alice.timeline(roomId), bob.timeline(roomId)]);
      return [...chain, last].every((id) => a.some((e) => e.event_id === id) && b.some((e) => e.event_id === id)) || undefined;
    }, `all ${n + 1} messages in /messages on both servers`);
    expect((await extremitiesOn(servers, e1, roomId, V))).toEqual([last]);
  });

  it("bridges a gap longer than get_missing_events' rounds with the state at it, kept off the timeline", async () => {
    const { chain, last, parent } = await withhold(40, "long");
    const timeline = await alice.timeline(roomId);
    expect(timeline.some((e) => e.event_id === last)).toBe(true);
    // The newest 30 came by get_missing_events; the parent of the oldest of them is an outlier with
    // the state at it, served over federation but not in /messages; older ones were never fetched.
    for (const id of chain.slice(10)) expect(timeline.some((e) => e.event_id === id)).toBe(true);
    const gapParent = chain[9] as string;
    expect(timeline.some((e) => e.event_id === gapParent)).toBe(false);
    expect((await fed(e2, e1, "GET", eventPath(gapParent, roomId))).status).toBe(200);
    expect((await fed(e2, e1, "GET", eventPath(chain[0] as string, roomId))).status).toBe(404);
    // e1 cannot see that the chain descends from its old tip, so both stay extremities until its
    // next event names them both.
    expect(await extremitiesOn(servers, e1, roomId, V)).toEqual([last, parent].sort());
    const merge = await alice.send(roomId, "merging the branches");
    expect((await pduOn(e2, e1, merge, roomId)).prev_events.sort()).toEqual([last, parent].sort());
    await sameStateEverywhere(servers, roomId);
  });

  it("rejects an event that fails auth: it is never state nor a parent, and a child of it is judged on the state without it", async () => {
    const parent = await tip();
    // bob (power 0) makes himself admin: refused by the auth rules against its own auth events.
    const grab = await forgeEvent(e2, e1, roomId, V, { type: "m.room.power_levels", sender: bob.userId, state_key: "", content: { users: { [bob.userId]: 100 } } }, [parent]);
    const failed = await sendPdus(e2, e1, [grab.pdu]);
    expect(Object.keys(failed)).toEqual([grab.eventId]);
    const child = await forgeEvent(e2, e1, roomId, V, { type: "m.room.message", sender: bob.userId, content: { msgtype: "m.text", body: "after the grab" } }, [{ eventId: grab.eventId, depth: grab.pdu.depth as number }, parent]);
    expect(await sendPdus(e2, e1, [child.pdu])).toEqual({});
    // bob's own server, handed the same two events, judges them the same way.
    expect(Object.keys(await sendPdus(e1, e2, [grab.pdu, child.pdu]))).toEqual([grab.eventId]);
    const state = await stateOf(e1, roomId);
    expect(state.get("m.room.power_levels\u0000")?.event_id).not.toBe(grab.eventId);
    expect(await extremitiesOn(servers, e1, roomId, V)).toEqual([child.eventId]);
    expect((await alice.timeline(roomId)).some((e) => e.event_id === grab.eventId)).toBe(false);
  });

  it("soft-fails an event that passes at its place in the graph but not against current state", async () => {
    const beforeBan = await tip();
    const stateBeforeBan = await stateOf(e2, roomId);
    await alice.ban(roomId, bob.userId);
    await eventually(async () => ((await stateOf(e1, roomId)).get(`m.room.member\u0000${bob.userId}`)?.pdu.content["membership"] === "ban") || undefined, "the ban on e1");
    const extremities = await extremitiesOn(servers, e1, roomId, V);
    // bob's server pretends not to have seen the ban: its message hangs off the event before it.
    const sneaky = await forgeEvent(e2, stateBeforeBan, roomId, V, { type: "m.room.message", sender: bob.userId, content: { msgtype: "m.text", body: "evading the ban" } }, [beforeBan]);
    expect(await sendPdus(e2, e1, [sneaky.pdu]), "soft failure is not an error to the sender").toEqual({});
    expect((await alice.timeline(roomId)).some((e) => e.event_id === sneaky.eventId)).toBe(false);
    expect(await extremitiesOn(servers, e1, roomId, V)).toEqual(extremities);
    // Never a parent of what e1 sends next.
    const next = await alice.send(roomId, "carry on");
    expect((await alice.timeline(roomId)).some((e) => e.event_id === next)).toBe(true);
    expect(await extremitiesOn(servers, e1, roomId, V)).toEqual([next]);
  });
});
