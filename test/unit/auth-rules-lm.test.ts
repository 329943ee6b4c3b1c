// LM auth rules (draft -04 "Auth Rules Algorithm"), one accepting and one rejecting row per step from
// rule 3 on. Rules 1-2 (signatures) belong to event-signatures.ts.

import { describe, expect, it } from "vitest";
import { authEventKeysLm, checkAuthLm } from "../../shared/auth-rules-lm.js";
import type { Pdu } from "../../shared/event.js";
import { MapState } from "../../shared/event.js";
import { ALICE, ALLOWED as A, BOB, CAROL, DAVE, MALLORY, checkCreate, checkIn, createEvent, pdu, room, table } from "./fixtures/auth-fixtures.js";

const create = (content = {}, extra: Partial<Pdu> = {}) => checkCreate("lm", createEvent("lm", ALICE, content, extra));

describe("LM 3: the create event", () => {
  table([
    ["LM 3.1: a create event without prev_events is allowed", () => create(), A],
    ["LM 3.1: a create event with prev_events is rejected", () => create({}, { prev_events: ["$x"] }), "3.1"],
    ["LM 3.2: a room_id on the sender's server is allowed", () => create(), A],
    ["LM 3.2: a room_id on another server is rejected", () => create({}, { room_id: "!room:b.test" }), "3.2"],
    ["LM 3.2: a missing room_id is rejected", () => create({}, { room_id: undefined }), "3.2"],
    ["LM 3.3: room_version I.1 is allowed", () => create({ room_version: "I.1" }), A],
    ["LM 3.3: the wire identifier ...linearized-matrix.02 is allowed", () => create(), A],
    ["LM 3.3: room_version 11 is rejected", () => create({ room_version: "11" }), "3.3"],
    ["LM 3.3: a missing room_version is rejected", () => create({}, { content: {} }), "3.3"],
    ["LM 3.4: otherwise the create event is allowed", () => create({ "m.federate": false }), A],
    ["LM 3.4: not reached when an earlier step rejects", () => create({ room_version: "I.2" }), "3.3"],
  ]);
});

describe("LM 3.1: a room has one create event", () => {
  // A member's own create event, unlinked (as the room once built it) or linked to the last event:
  // either way the room's existing create event must stay the only one.
  const r = room();
  const second = (extra: Partial<Pdu>) => createEvent("lm", BOB, {}, { room_id: r.roomId, ...extra });
  table([
    ["LM 3.1: a second create event without prev_events is rejected", () => r.check(second({ prev_events: [] })), "3.1"],
    ["LM 3.1: a second create event linked to the room's last event is rejected", () => r.check(second({ prev_events: ["$last"] })), "3.1"],
    ["LM 3.1: the same event as a room's first is allowed", () => checkCreate("lm", createEvent("lm", BOB)), A],
  ]);
});

describe("LM 4: auth events", () => {
  const r = room();
  const msg = () => r.msg(ALICE);
  table([
    ["LM 4.1: distinct auth events are allowed", () => r.check(msg()), A],
    ["LM 4.1: two power-levels auth events are rejected", () => {
      const other = r.pl(ALICE, {});
      const e = msg();
      return r.check({ ...e, auth_events: [...e.auth_events, r.id(other)] });
    }, "4.1"],
    ["LM 4.1: the same auth event listed twice is rejected", () => {
      const e = msg();
      return r.check({ ...e, auth_events: [...e.auth_events, r.sid("m.room.create")] });
    }, "4.1"],
    ["LM 4.2: auth events the selection picks are allowed", () => r.check(r.join(ALICE)), A],
    ["LM 4.2: join rules cited by a message are rejected", () => {
      const e = msg();
      return r.check({ ...e, auth_events: [...e.auth_events, r.sid("m.room.join_rules")] });
    }, "4.2"],
    ["LM 4.2: a non-state auth event is rejected", () => {
      const e = msg();
      return r.check({ ...e, auth_events: [...e.auth_events, r.id(r.msg(ALICE))] });
    }, "4.2"],
    ["LM 4.3: auth events with the create event are allowed", () => r.check(msg()), A],
    ["LM 4.3: auth events without the create event are rejected", () => {
      const e = msg();
      return r.check({ ...e, auth_events: e.auth_events.filter((id) => id !== r.sid("m.room.create")) });
    }, "4.3"],
  ]);
});

describe("LM 5: membership", () => {
  const pub = room({ joinRule: "public", members: { [ALICE]: "join", [DAVE]: "ban" } });
  const inv = room({ members: { [ALICE]: "join", [BOB]: "invite", [DAVE]: "join" } });
  const knock = room({ joinRule: "knock", members: { [ALICE]: "join", [BOB]: "invite", [DAVE]: "join", [CAROL]: "ban" } });
  const fresh = room({ members: {} });
  table([
    ["LM 5.1: a member event with state_key and membership is allowed", () => pub.check(pub.join(BOB)), A],
    ["LM 5.1: a member event without membership is rejected", () => pub.check(pub.ev(BOB, "m.room.member", {}, BOB)), "5.1"],
    ["LM 5.1: a member event without state_key is rejected", () => pub.check(pub.ev(BOB, "m.room.member", { membership: "join" })), "5.1"],
    ["LM 5.1: a non-string membership is rejected", () => pub.check(pub.ev(BOB, "m.room.member", { membership: 1 }, BOB)), "5.1"],

    ["LM 5.2.1: the creator's join right after the create event is allowed", () => fresh.check(fresh.join(ALICE), { prevEvent: fresh.create }), A],
    ["LM 5.2.1: not applied when the previous event is not the create event", () => fresh.check(fresh.join(ALICE)), "5.2.4"],
    ["LM 5.2.1: not applied to anyone but the creator", () => fresh.check(fresh.join(BOB), { prevEvent: fresh.create }), "5.2.4"],
    ["LM 5.2.2: joining as oneself is allowed", () => pub.check(pub.join(BOB)), A],
    ["LM 5.2.2: joining on behalf of another user is rejected", () => pub.check(pub.member(ALICE, BOB, "join")), "5.2.2"],
    ["LM 5.2.3: a user who is not banned may join", () => pub.check(pub.join(CAROL)), A],
    ["LM 5.2.3: a banned user's join is rejected", () => pub.check(pub.join(DAVE)), "5.2.3"],
    ["LM 5.2.4: invite-only join is allowed when the sender is invited", () => inv.check(inv.join(BOB)), A],
    ["LM 5.2.4: invite-only join is allowed when the sender is already joined", () => inv.check(inv.join(DAVE)), A],
    ["LM 5.2.4: knock-rule join is allowed when the sender is invited", () => knock.check(knock.join(BOB)), A],
    ["LM 5.2.4: invite-only join is rejected when not invited", () => inv.check(inv.join(CAROL)), "5.2.4"],
    ["LM 5.2.4: knock-rule join is rejected when not invited", () => knock.check(knock.join(MALLORY)), "5.2.4"],
    ["LM 5.2.4: a room without join rules is treated as invite-only", () => checkIn({ joinRule: null }, (r) => r.join(BOB)), "5.2.4"],
    ["LM 5.2.5: a public room admits anyone", () => pub.check(pub.join(CAROL)), A],
    ["LM 5.2.5: not reached for a private join rule", () => checkIn({ joinRule: "private" }, (r) => r.join(BOB)), "5.2.6"],
    ["LM 5.2.6: otherwise a join is rejected (restricted is not an LM rule)", () => checkIn({ joinRule: "restricted" }, (r) => r.join(BOB)), "5.2.6"],
    ["LM 5.2.6: not reached for a public room", () => pub.check(pub.join(BOB)), A],

    ["LM 5.3.1: a joined sender may invite", () => inv.check(inv.member(ALICE, CAROL, "invite")), A],
    ["LM 5.3.1: a sender who is not joined may not invite", () => inv.check(inv.member(BOB, CAROL, "invite")), "5.3.1"],
    ["LM 5.3.2: inviting a user who left is allowed", () => inv.check(inv.member(ALICE, CAROL, "invite")), A],
    ["LM 5.3.2: inviting a joined user is rejected", () => inv.check(inv.member(ALICE, DAVE, "invite")), "5.3.2"],
    ["LM 5.3.2: inviting a banned user is rejected", () => pub.check(pub.member(ALICE, DAVE, "invite")), "5.3.2"],
    ["LM 5.3.3: the default invite level 0 lets anyone joined invite", () => inv.check(inv.member(DAVE, CAROL, "invite")), A],
    ["LM 5.3.3: below the invite level an invite is rejected", () => {
      const r = room({ members: { [ALICE]: "join", [DAVE]: "join" }, power: { users: { [ALICE]: 100 }, invite: 50 } });
      return r.check(r.member(DAVE, CAROL, "invite"));
    }, "5.3.4"],
    ["LM 5.3.4: otherwise an invite is rejected", () => {
      const r = room({ members: { [ALICE]: "join", [DAVE]: "join" }, power: { users: { [ALICE]: 100, [DAVE]: 49 }, invite: 50 } });
      return r.check(r.member(DAVE, CAROL, "invite"));
    }, "5.3.4"],
    ["LM 5.3.4: not reached at the invite level", () => {
      const r = room({ members: { [ALICE]: "join", [DAVE]: "join" }, power: { users: { [ALICE]: 100, [DAVE]: 50 }, invite: 50 } });
      return r.check(r.member(DAVE, CAROL, "invite"));
    }, A],
  ]);
});

describe("LM 5.4-5.7: leave, ban, knock, unknown", () => {
  const power = { users: { [ALICE]: 100, [BOB]: 50, [DAVE]: 50 }, kick: 50, ban: 75 };
  const r = room({ power, members: { [ALICE]: "join", [BOB]: "join", [DAVE]: "join", [CAROL]: "ban", "@inv:b.test": "invite", "@kn:b.test": "knock" } });
  const knock = room({ joinRule: "knock", members: { [ALICE]: "join", [BOB]: "invite", [DAVE]: "join", [CAROL]: "ban" } });
  table([
    ["LM 5.4.1: a joined user may leave", () => r.check(r.member(BOB, BOB, "leave")), A],
    ["LM 5.4.1: an invited user may reject the invite", () => r.check(r.member("@inv:b.test", "@inv:b.test", "leave")), A],
    ["LM 5.4.1: a knocking user may retract the knock", () => r.check(r.member("@kn:b.test", "@kn:b.test", "leave")), A],
    ["LM 5.4.1: a banned user may not leave", () => r.check(r.member(CAROL, CAROL, "leave")), "5.4.1"],
    ["LM 5.4.1: a user who already left may not leave", () => r.check(r.member(MALLORY, MALLORY, "leave")), "5.4.1"],
    ["LM 5.4.2: a joined moderator may kick", () => r.check(r.member(ALICE, BOB, "leave")), A],
    ["LM 5.4.2: a sender who is not joined may not kick", () => r.check(r.member("@inv:b.test", BOB, "leave")), "5.4.2"],
    ["LM 5.4.3: unbanning at the ban level is allowed", () => r.check(r.member(ALICE, CAROL, "leave")), A],
    ["LM 5.4.3: unbanning below the ban level is rejected", () => r.check(r.member(BOB, CAROL, "leave")), "5.4.3"],
    ["LM 5.4.4: kicking a lower user at the kick level is allowed", () => r.check(r.member(BOB, "@inv:b.test", "leave")), A],
    ["LM 5.4.4: kicking an equal user is rejected", () => r.check(r.member(BOB, DAVE, "leave")), "5.4.5"],
    ["LM 5.4.5: otherwise a kick is rejected", () => r.check(r.member(BOB, ALICE, "leave")), "5.4.5"],
    ["LM 5.4.5: not reached by a moderator kicking a lower user", () => r.check(r.member(ALICE, DAVE, "leave")), A],

    ["LM 5.5.1: a joined sender may ban", () => r.check(r.member(ALICE, BOB, "ban")), A],
    ["LM 5.5.1: a sender who is not joined may not ban", () => r.check(r.member("@inv:b.test", BOB, "ban")), "5.5.1"],
    ["LM 5.5.2: banning a lower user at the ban level is allowed", () => r.check(r.member(ALICE, MALLORY, "ban")), A],
    ["LM 5.5.2: banning a higher user is rejected", () => checkIn({ power: { users: { [ALICE]: 100, [BOB]: 80 }, ban: 75 }, members: { [ALICE]: "join", [BOB]: "join" } }, (x) => x.member(BOB, ALICE, "ban")), "5.5.3"],
    ["LM 5.5.3: otherwise a ban is rejected (below the ban level)", () => r.check(r.member(BOB, "@inv:b.test", "ban")), "5.5.3"],
    ["LM 5.5.3: not reached at the ban level", () => r.check(r.member(ALICE, "@inv:b.test", "ban")), A],

    ["LM 5.6.1: knocking under the knock rule is allowed", () => knock.check(knock.member(MALLORY, MALLORY, "knock")), A],
    ["LM 5.6.1: knocking under the invite rule is rejected", () => r.check(r.member(MALLORY, MALLORY, "knock")), "5.6.1"],
    ["LM 5.6.1: knocking on a public room is rejected", () => checkIn({ joinRule: "public" }, (x) => x.member(MALLORY, MALLORY, "knock")), "5.6.1"],
    ["LM 5.6.2: knocking as oneself is allowed", () => knock.check(knock.member(MALLORY, MALLORY, "knock")), A],
    ["LM 5.6.2: knocking for someone else is rejected", () => knock.check(knock.member(ALICE, MALLORY, "knock")), "5.6.2"],
    ["LM 5.6.3: an invited user may knock (LM excludes only ban and join)", () => knock.check(knock.member(BOB, BOB, "knock")), A],
    ["LM 5.6.3: a user who left may knock", () => knock.check(knock.member(MALLORY, MALLORY, "knock")), A],
    ["LM 5.6.3: not applied to a joined user", () => knock.check(knock.member(DAVE, DAVE, "knock")), "5.6.4"],
    ["LM 5.6.4: a joined user may not knock", () => knock.check(knock.member(DAVE, DAVE, "knock")), "5.6.4"],
    ["LM 5.6.4: not reached for a user who left", () => knock.check(knock.member(MALLORY, MALLORY, "knock")), A],
    ["LM 5.6.4: a banned user may not knock", () => knock.check(knock.member(CAROL, CAROL, "knock")), "5.6.4"],

    ["LM 5.7: a known membership is evaluated", () => r.check(r.member(BOB, BOB, "leave")), A],
    ["LM 5.7: an unknown membership is rejected", () => r.check(r.member(BOB, BOB, "frobnicate")), "5.7"],
  ]);
});

describe("LM 6-8: non-member events", () => {
  const r = room({ members: { [ALICE]: "join", [BOB]: "join", [CAROL]: "invite" }, power: { users: { [ALICE]: 100 }, events: { "org.example.owned": 0, "m.room.message": 0 } } });
  const strict = room({ members: { [ALICE]: "join", [BOB]: "join" }, power: { users: { [ALICE]: 100 }, events_default: 50 } });
  const none = room({ members: { [ALICE]: "join", [BOB]: "join" }, power: null });
  table([
    ["LM 6: a joined sender may send", () => r.check(r.msg(BOB)), A],
    ["LM 6: an invited sender may not send", () => r.check(r.msg(CAROL)), "6"],
    ["LM 6: a stranger may not send", () => r.check(r.msg(DAVE)), "6"],
    ["LM 7: a sender at the event's level may send it", () => strict.check(strict.msg(ALICE)), A],
    ["LM 7: a sender below events_default is rejected", () => strict.check(strict.msg(BOB)), "7"],
    ["LM 7: a sender below state_default may not send state", () => r.check(r.ev(BOB, "m.room.topic", { topic: "x" }, "")), "7"],
    ["LM 7: without power levels the creator has 100", () => none.check(none.ev(ALICE, "m.room.topic", { topic: "x" }, "")), A],
    ["LM 7: without power levels others have 0 and state needs 50", () => none.check(none.ev(BOB, "m.room.topic", { topic: "x" }, "")), "7"],
    ["LM 7: without power levels messages need 0", () => none.check(none.msg(BOB)), A],
    ["LM 8: a state_key naming the sender is allowed", () => r.check(r.ev(BOB, "org.example.owned", {}, BOB)), A],
    ["LM 8: a state_key naming another user is rejected", () => r.check(r.ev(BOB, "org.example.owned", {}, ALICE)), "8"],
    ["LM 8: a state_key without @ is not owned", () => r.check(r.ev(BOB, "org.example.owned", {}, "x")), A],
  ]);
});

describe("LM 9-10: power levels", () => {
  const users = { [ALICE]: 100, [BOB]: 50, [CAROL]: 75, [DAVE]: 50 };
  const base = { users, ban: 75, events: { "m.room.name": 75, "m.room.topic": 50 } };
  const r = room({ power: base, members: { [ALICE]: "join", [BOB]: "join", [CAROL]: "join", [DAVE]: "join" } });
  const defined = (o: object) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
  const bob = (content: object) => r.check(r.pl(BOB, defined({ ...base, ...content })));
  const bobUsers = (u: Record<string, number | undefined>) => bob({ users: defined({ ...users, ...u }) });
  const none = room({ power: null });
  table([
    ["LM 9.1: integer top-level levels are allowed", () => bob({ kick: 40 }), A],
    ["LM 9.1: a string level is rejected", () => bob({ kick: "40" }), "9.1"],
    ["LM 9.1: a fractional level is rejected", () => bob({ invite: 1.5 }), "9.1"],
    ["LM 9.1: a null level is rejected", () => bob({ users_default: null }), "9.1"],
    ["LM 9.2: integer event levels are allowed", () => bob({ events: { ...base.events, "m.room.avatar": 50 } }), A],
    ["LM 9.2: a string event level is rejected", () => bob({ events: { "m.room.name": "75" } }), "9.2"],
    ["LM 9.2: events that is not an object is rejected", () => bob({ events: [] }), "9.2"],
    ["LM 9.2: notifications are not validated in LM", () => bob({ notifications: { room: "50" } }), A],
    ["LM 9.3: user IDs with integer levels are allowed", () => bobUsers({ "@new:b.test": 10 }), A],
    ["LM 9.3: a key that is not a user ID is rejected", () => bobUsers({ bob: 10 }), "9.3"],
    ["LM 9.3: a string user level is rejected", () => bob({ users: { ...users, [DAVE]: "50" } }), "9.3"],
    ["LM 9.3: users that is not an object is rejected", () => bob({ users: [] }), "9.3"],
    ["LM 9.4: the first power-levels event is allowed as is", () => none.check(none.pl(ALICE, { users: { [ALICE]: 1000 } })), A],
    ["LM 9.4: not applied once power levels exist", () => r.check(r.pl(ALICE, { users: { [ALICE]: 1000 } })), "9.9.1"],
    ["LM 9.5.1: changing a field at or below the sender's level is allowed", () => bob({ kick: 40 }), A],
    ["LM 9.5.1: changing a field above the sender's level is rejected", () => bob({ ban: 50 }), "9.5.1"],
    ["LM 9.5.1: removing a field above the sender's level is rejected", () => bob({ ban: undefined }), "9.5.1"],
    ["LM 9.5.2: setting a field to the sender's level is allowed", () => bob({ redact: 50 }), A],
    ["LM 9.5.2: setting a field above the sender's level is rejected", () => bob({ redact: 51 }), "9.5.2"],
    ["LM 9.6.1: changing an event level the sender holds is allowed", () => bob({ events: { "m.room.name": 75, "m.room.topic": 0 } }), A],
    ["LM 9.6.1: changing an event level above the sender is rejected", () => bob({ events: { "m.room.name": 50, "m.room.topic": 50 } }), "9.6.1"],
    ["LM 9.6.1: removing an event level above the sender is rejected", () => bob({ events: { "m.room.topic": 50 } }), "9.6.1"],
    ["LM 9.7.1: adding an event level up to the sender's is allowed", () => bob({ events: { ...base.events, "m.room.avatar": 50 } }), A],
    ["LM 9.7.1: adding an event level above the sender is rejected", () => bob({ events: { ...base.events, "m.room.tombstone": 100 } }), "9.7.1"],
    ["LM 9.8.1: changing a user at the sender's level is allowed in LM", () => bobUsers({ [DAVE]: 0 }), A],
    ["LM 9.8.1: the sender may lower their own level", () => bobUsers({ [BOB]: 10 }), A],
    ["LM 9.8.1: changing a higher user is rejected", () => bobUsers({ [CAROL]: 0 }), "9.8.1"],
    ["LM 9.8.1: removing a higher user is rejected", () => bobUsers({ [ALICE]: undefined }), "9.8.1"],
    ["LM 9.9.1: granting up to the sender's level is allowed", () => bobUsers({ "@new:b.test": 50 }), A],
    ["LM 9.9.1: granting above the sender's level is rejected", () => bobUsers({ "@new:b.test": 51 }), "9.9.1"],
    ["LM 9.9.1: raising oneself is rejected", () => bobUsers({ [BOB]: 51 }), "9.9.1"],
    ["LM 9.10: otherwise a power-levels change is allowed", () => r.check(r.pl(ALICE, { ...base, users: { ...users, [BOB]: 99 } })), A],
    ["LM 9.10: not reached when an escalation step rejects", () => bobUsers({ [DAVE]: 99 }), "9.9.1"],
    ["LM 10: otherwise an event is allowed", () => r.check(r.ev(ALICE, "org.example.state", {}, "")), A],
    ["LM 10: not reached when an earlier rule rejects", () => r.check(r.ev(MALLORY, "org.example.state", {}, "")), "6"],
  ]);
});

describe("LM auth events selection", () => {
  it("picks create, power levels and the sender's member event", () => {
    expect(authEventKeysLm({ type: "m.room.message", sender: BOB, content: {} })).toEqual([
      ["m.room.create", ""],
      ["m.room.power_levels", ""],
      ["m.room.member", BOB],
    ]);
  });
  it("adds the target and join rules for joins and invites, once each", () => {
    expect(authEventKeysLm({ type: "m.room.member", sender: BOB, state_key: BOB, content: { membership: "join" } })).toEqual([
      ["m.room.create", ""],
      ["m.room.power_levels", ""],
      ["m.room.member", BOB],
      ["m.room.join_rules", ""],
    ]);
    expect(authEventKeysLm({ type: "m.room.member", sender: ALICE, state_key: BOB, content: { membership: "ban" } })).toContainEqual(["m.room.member", BOB]);
    expect(authEventKeysLm({ type: "m.room.member", sender: ALICE, state_key: BOB, content: { membership: "ban" } })).not.toContainEqual(["m.room.join_rules", ""]);
  });
  it("is empty for the create event", () => {
    expect(authEventKeysLm({ type: "m.room.create", sender: ALICE, state_key: "", content: {} })).toEqual([]);
  });
});

describe("LM hostile input", () => {
  const r = room();
  const odd: Array<[string, Pdu, string]> = [
    ["a message's content is a string (content is not the auth rules' concern)", { ...r.msg(ALICE), content: "x" as never }, A],
    ["a member event's content is a string", { ...r.member(ALICE, ALICE, "leave"), content: "x" as never }, "5.1"],
    ["sender is a number", { ...r.msg(ALICE), sender: 5 as never }, "format"],
    ["auth_events is not an array", { ...r.msg(ALICE), auth_events: "x" as never }, "4.3"],
    ["membership is an object", r.ev(ALICE, "m.room.member", { membership: { join: true } }, ALICE), "5.1"],
    ["power levels are nested junk", r.pl(ALICE, { users: { [ALICE]: { a: 1 } }, events: null }), "9.2"],
    ["create content is null", { ...createEvent("lm"), content: null as never }, "3.3"],
    ["create prev_events is missing", { ...createEvent("lm"), prev_events: undefined as never }, "3.1"],
  ];
  it.each(odd)("never throws when %s", (_n, e, expected) => {
    const authEvents = Array.isArray(e.auth_events) ? r.input(e).authEvents : [];
    // A create event is checked as a room's first event: in a room that has one, it is refused outright.
    const res = e.type === "m.room.create" ? checkCreate("lm", e) : checkAuthLm({ event: e, state: r.state, authEvents });
    if (expected === A) expect(res).toEqual({ allowed: true });
    else expect(res).toMatchObject({ allowed: false, rule: expected });
  });
  it("rejects against malformed power levels in state rather than guessing", () => {
    const bad = pdu({ type: "m.room.power_levels", state_key: "", sender: ALICE, content: { ban: "1" } });
    const state = MapState.of([...r.state.map.values(), bad]);
    const e = r.msg(ALICE);
    const res = checkAuthLm({ ...r.input(e), state });
    expect(res).toMatchObject({ allowed: false, rule: "7" });
  });
});
