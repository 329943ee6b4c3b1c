// The soft-fail check of a full-mesh room (durable-objects/room/dag-soft-fail.ts): an event allowed
// at its place in the graph is judged against auth events chosen from current state, whatever its
// own auth_events say.

import { describe, expect, it } from "vitest";
import { authAgainst } from "../../durable-objects/room/dag-auth.js";
import { authStateFromCurrent, softFailCheck } from "../../durable-objects/room/dag-soft-fail.js";
import { stateKeyOf, type Pdu } from "../../shared/event.js";
import { ROOM_VERSION_11, ROOM_VERSION_12 } from "../../shared/room-versions.js";
import { ALICE, BOB, CHARLIE, initialRoom, member, membership, message, pl, PL, topic } from "../support/state-res-dag.js";

const CREATE = stateKeyOf("m.room.create", "");

describe.each([ROOM_VERSION_11, ROOM_VERSION_12])("the soft-fail check in room v$id", (v) => {
  it("refuses a message whose own auth events allow it when the sender has been banned since", () => {
    const dag = initialRoom(v);
    dag.add("BAN", membership(ALICE, BOB, "ban"), ["START"]);
    dag.add("MSG", message(BOB), ["START"]);
    const msg = dag.events.get(dag.id("MSG")) as Pdu;
    const own = new Map(msg.auth_events.map((id) => {
      const e = dag.events.get(id) as Pdu;
      return [stateKeyOf(e.type, e.state_key as string), id];
    }));
    expect(authAgainst(v, msg, own, msg.auth_events, dag.getEvent, dag.events.get(dag.id("CREATE")))).toEqual({ ok: true });
    const verdict = softFailCheck(v, msg, dag.stateAfter("BAN"), dag.getEvent);
    expect(verdict.ok).toBe(false);
    // Bob's membership now is the ban, not the join his message cites.
    expect(authStateFromCurrent(v, dag.stateAfter("BAN"), msg).get(member(BOB))).toBe(dag.id("BAN"));
    expect(msg.auth_events).toContain(dag.id("IMB"));
  });

  it("allows an event by the power current state gives, not the power levels it cites", () => {
    const dag = initialRoom(v);
    dag.add("PROMOTE", pl(v, ALICE, { [CHARLIE]: 50 }), ["START"]);
    dag.add("DEMOTE", pl(v, ALICE, {}), ["PROMOTE"]);
    // Charlie's topic, made while he had 50, cites the promotion; current state has demoted him.
    dag.add("TOPIC", topic(CHARLIE, "mine"), ["PROMOTE"]);
    const t = dag.events.get(dag.id("TOPIC")) as Pdu;
    expect(t.auth_events).toContain(dag.id("PROMOTE"));
    const afterDemotion = dag.stateAfter("DEMOTE");
    expect(softFailCheck(v, t, afterDemotion, dag.getEvent).ok).toBe(false);
    // Promoted again later: the same event passes against that state.
    dag.add("REPROMOTE", pl(v, ALICE, { [CHARLIE]: 100 }), ["DEMOTE"]);
    expect(softFailCheck(v, t, dag.stateAfter("REPROMOTE"), dag.getEvent)).toEqual({ ok: true });
  });

  it("selects only the auth events the algorithm picks for the event, with the room's create event", () => {
    const dag = initialRoom(v);
    const current = dag.stateAfter("START");
    const selected = authStateFromCurrent(v, current, { type: "m.room.message", sender: BOB, content: {} });
    expect([...selected.keys()].sort()).toEqual([CREATE, PL, member(BOB)].sort());
    const join = authStateFromCurrent(v, current, { type: "m.room.member", sender: CHARLIE, state_key: BOB, content: { membership: "ban" } });
    expect([...join.keys()].sort()).toEqual([CREATE, PL, member(BOB), member(CHARLIE)].sort());
  });
});
