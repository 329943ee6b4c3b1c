// A room keeps its one m.room.create event over federation: a participant's LPDU proposing another
// is refused by the hub, a participant's user asking for one gets 403, and a hub-signed create
// event arriving at a participant is refused. Each time the hub's and the participant's state and
// timeline stay exactly as they were.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LM_ROOM_VERSION_ID } from "../../shared/room-versions.js";
import { MatrixApiError, storedEvents, TestClient } from "./client.js";
import { keyOf, lpduIdOf, lpduWith, plainPdu, sendTxn, stateOf } from "./forge.js";
import { startServers, stopServers, type TestServer } from "./harness.js";

describe("a second m.room.create event over federation", () => {
  let servers: TestServer[] = [];
  let hub: TestServer;
  let p1: TestServer;
  let alice: TestClient;
  let bob: TestClient;
  let roomId: string;

  beforeAll(async () => {
    servers = await startServers(["hub.test", "p1.test"]);
    [hub, p1] = servers as [TestServer, TestServer];
    alice = await TestClient.register(hub, "alice");
    bob = await TestClient.register(p1, "bob");
    roomId = (await alice.createRoom({ preset: "public_chat", name: "One creation" })).room_id;
    await bob.join(roomId, hub.name);
    await alice.send(roomId, "after the join");
  });
  afterAll(() => stopServers(servers));

  /** The create event's ID in state and the timeline's event IDs, on one server. */
  async function snapshot(server: TestServer) {
    const state = await stateOf(server, roomId);
    return {
      create: state.get("m.room.create\u0000")?.event_id,
      creator: state.get("m.room.create\u0000")?.pdu.sender,
      stateIds: [...state.values()].map((e) => e.event_id).sort(),
      timeline: (await storedEvents(server, roomId)).map((e) => e.event_id),
    };
  }

  const takeover = (sender: string) => ({
    room_id: roomId,
    type: "m.room.create",
    sender,
    state_key: "",
    content: { room_version: LM_ROOM_VERSION_ID, creator: sender },
  });

  it("the hub refuses a participant's LPDU for a create event (failed_pdus), storing nothing", async () => {
    const before = [await snapshot(hub), await snapshot(p1)];
    expect(before[0]?.creator).toBe(alice.userId);
    const lpdu = await lpduWith(await keyOf(p1), hub.name, takeover(bob.userId));
    const answer = await sendTxn(p1, hub, [lpdu]);
    expect(answer.status).toBe(200);
    const id = await lpduIdOf(lpdu);
    expect(Object.keys(answer.body.failed_pdus ?? {})).toEqual([id]);
    // Refused as a second create event (rule 3.1), not merely because p1 did not create the room (3.2).
    expect(answer.body.failed_pdus?.[id]?.error).toMatch(/create event/);
    expect([await snapshot(hub), await snapshot(p1)]).toEqual(before);
  });

  it("a participant's user asking for a create event through the client API gets 403 M_FORBIDDEN", async () => {
    const before = [await snapshot(hub), await snapshot(p1)];
    const err = await bob.setState(roomId, "m.room.create", "", takeover(bob.userId).content).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(MatrixApiError);
    expect([(err as MatrixApiError).status, (err as MatrixApiError).body.errcode]).toEqual([403, "M_FORBIDDEN"]);
    // Refused as a second create event, not merely because bob's server did not create the room.
    expect((err as MatrixApiError).body.error).toMatch(/create event/);
    expect([await snapshot(hub), await snapshot(p1)]).toEqual(before);
  });

  it("a participant refuses a hub-signed create event, linked or unlinked (failed_pdus), storing nothing", async () => {
    const before = await snapshot(p1);
    const hubKey = await keyOf(hub);
    // Linked to the participant's last event, as the hub would link any event now...
    const linked = await plainPdu(p1, hub.name, hubKey, takeover(alice.userId));
    expect(linked.prev_events).toEqual([before.timeline[before.timeline.length - 1]]);
    // ...and unlinked, as the hub used to build a create event in a room that already had one.
    const unlinked = await plainPdu(p1, hub.name, hubKey, takeover(alice.userId), []);
    for (const pdu of [linked, unlinked]) {
      const answer = await sendTxn(hub, p1, [pdu]);
      expect(answer.status).toBe(200);
      expect(Object.keys(answer.body.failed_pdus ?? {})).toEqual([await lpduIdOf(pdu)]);
    }
    expect(await snapshot(p1)).toEqual(before);
  });
});
