// Matrix v11/v12 auth rules for non-member events and power levels, and v12 creators outranking every level.
// The table machinery and its rule numbering are described in auth-rules-matrix.test.ts.

import { describe, expect, it } from "vitest";
import { createEventReferenceHash } from "../../shared/auth-rules-matrix.js";
import { eventIdOf, roomIdFromCreateEvent } from "../../shared/hashes.js";
import { ROOM_VERSION_11 } from "../../shared/room-versions.js";
import type { RoomOptions } from "./fixtures/auth-fixtures.js";
import { ALICE, ALLOWED as A, BOB, CAROL, DAVE, MALLORY, room as baseRoom, table } from "./fixtures/auth-fixtures.js";
import { VERSIONS, versionKit } from "./auth-rules-matrix-versions.js";

describe.each(VERSIONS)("Matrix v$v auth rules", (ver) => {
  const { pw, room, run } = versionKit(ver);

  describe("non-member events", () => {
    const r = room({ members: { [ALICE]: "join", [BOB]: "join", [CAROL]: "invite" }, power: pw({}, { events: { "org.example.owned": 0 } }) });
    const strictInvite = room({ members: { [ALICE]: "join", [BOB]: "join" }, power: pw({}, { invite: 50, events_default: 50 }) });
    run([
      ["5", "a joined sender may send", () => r.check(r.msg(BOB)), A],
      ["5", "an invited sender may not send", () => r.check(r.msg(CAROL)), "5"],
      ["6.1", "a third-party invite at the invite level is allowed", () => strictInvite.check(strictInvite.ev(ALICE, "m.room.third_party_invite", {}, "t")), A],
      ["6.1", "the invite level alone decides, not state_default", () => r.check(r.ev(BOB, "m.room.third_party_invite", {}, "t")), A],
      ["6.1", "a third-party invite below the invite level is rejected", () => strictInvite.check(strictInvite.ev(BOB, "m.room.third_party_invite", {}, "t")), "6.1"],
      ["7", "a sender at the event's level may send it", () => strictInvite.check(strictInvite.msg(ALICE)), A],
      ["7", "a sender below events_default is rejected", () => strictInvite.check(strictInvite.msg(BOB)), "7"],
      ["7", "a redaction needs only its send level, not the redact level", () => r.check(r.ev(BOB, "m.room.redaction", { redacts: "$x" })), A],
      ["8", "a state_key naming the sender is allowed", () => r.check(r.ev(BOB, "org.example.owned", {}, BOB)), A],
      ["8", "a state_key naming another user is rejected", () => r.check(r.ev(BOB, "org.example.owned", {}, ALICE)), "8"],
    ]);
  });

  describe("power levels", () => {
    const users = ver.plUsers;
    const base = { users, ban: 75, events: { "m.room.name": 75, "m.room.topic": 50 }, notifications: { room: 75 } };
    const r = room({ power: base, members: { [ALICE]: "join", [BOB]: "join", [CAROL]: "join", [DAVE]: "join" } });
    const defined = (o: object) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
    const bob = (content: object) => r.check(r.pl(BOB, defined({ ...base, ...content })));
    const bobUsers = (u: Record<string, number | undefined>) => bob({ users: defined({ ...users, ...u }) });
    const none = room({ power: null });
    run([
      ["9.1", "integer top-level levels are allowed", () => bob({ kick: 40 }), A],
      ["9.1", "a string level is rejected (no stringy levels since v10)", () => bob({ kick: "40" }), "9.1"],
      ["9.2", "integer event and notification levels are allowed", () => bob({ notifications: { room: 75, other: 10 } }), A],
      ["9.2", "a string event level is rejected", () => bob({ events: { "m.room.name": "75" } }), "9.2"],
      ["9.2", "a string notification level is rejected", () => bob({ notifications: { room: "75" } }), "9.2"],
      ["9.3", "user IDs with integer levels are allowed", () => bobUsers({ "@new:b.test": 10 }), A],
      ["9.3", "a key that is not a user ID is rejected", () => bobUsers({ bob: 10 }), "9.3"],
      ["9.3", "a string user level is rejected", () => bob({ users: { ...users, [DAVE]: "50" } }), "9.3"],
      ["10.4", "users without the room creators are allowed", () => r.check(r.pl(ALICE, base)), A, "12"],
      ["10.4", "users listing the create event's sender is rejected", () => r.check(r.pl(ALICE, { ...base, users: { ...users, [ALICE]: 100 } })), "10.4", "12"],
      ["10.4", "users listing an additional creator is rejected", () => {
        const c = room({ createContent: { additional_creators: [BOB] }, members: { [ALICE]: "join", [BOB]: "join" } });
        return c.check(c.pl(BOB, { users: { [BOB]: 0 } }));
      }, "10.4", "12"],
      ["9.4", "the first power-levels event is allowed as is", () => none.check(none.pl(ALICE, { users: { [ALICE]: 1000 } })), A, "11"],
      ["9.4", "not applied once power levels exist", () => r.check(r.pl(ALICE, { users: { [ALICE]: 1000 } })), "9.9.1", "11"],
      ["10.5", "the first power-levels event is allowed as is", () => none.check(none.pl(ALICE, { users: { [BOB]: 1000 } })), A, "12"],
      ["10.5", "not applied once power levels exist", () => r.check(r.pl(CAROL, { ...base, users: { ...users, [BOB]: 1000 } })), "10.10.1", "12"],
      ["9.5.1", "changing a field at or below the sender's level is allowed", () => bob({ kick: 40 }), A],
      ["9.5.1", "changing a field above the sender's level is rejected", () => bob({ ban: 50 }), "9.5.1"],
      ["9.5.2", "setting a field to the sender's level is allowed", () => bob({ redact: 50 }), A],
      ["9.5.2", "setting a field above the sender's level is rejected", () => bob({ invite: 51 }), "9.5.2"],
      ["9.6.1", "changing an event level the sender holds is allowed", () => bob({ events: { "m.room.name": 75, "m.room.topic": 0 } }), A],
      ["9.6.1", "changing an event level above the sender is rejected", () => bob({ events: { "m.room.topic": 50 } }), "9.6.1"],
      ["9.6.1", "changing a notification level above the sender is rejected", () => bob({ notifications: { room: 50 } }), "9.6.1"],
      ["9.7.1", "adding an event level up to the sender's is allowed", () => bob({ events: { ...base.events, "m.room.avatar": 50 } }), A],
      ["9.7.1", "adding an event level above the sender is rejected", () => bob({ events: { ...base.events, "m.room.tombstone": 100 } }), "9.7.1"],
      ["9.7.1", "adding a notification level above the sender is rejected", () => bob({ notifications: { room: 75, other: 51 } }), "9.7.1"],
      ["9.8.1", "the sender may lower their own level", () => bobUsers({ [BOB]: 10 }), A],
      ["9.8.1", "changing a lower user is allowed", () => r.check(r.pl(CAROL, { ...base, users: { ...users, [DAVE]: 0 } })), A],
      ["9.8.1", "changing a user at the sender's level is rejected", () => bobUsers({ [DAVE]: 0 }), "9.8.1"],
      ["9.8.1", "removing a higher user is rejected", () => bobUsers({ [ALICE]: undefined }), "9.8.1", "11"],
      ["10.9.1", "removing a higher user is rejected", () => bobUsers({ [CAROL]: undefined }), "10.9.1", "12"],
      ["9.9.1", "granting up to the sender's level is allowed", () => bobUsers({ "@new:b.test": 50 }), A],
      ["9.9.1", "raising oneself is rejected", () => bobUsers({ [BOB]: 51 }), "9.9.1"],
      ["9.10", "otherwise a power-levels change is allowed", () => r.check(r.pl(ALICE, { ...base, users: { ...users, [BOB]: 99 } })), A],
      ["9.10", "not reached when an escalation step rejects", () => bobUsers({ "@new:b.test": 99 }), "9.9.1"],
      ["10", "otherwise an event is allowed", () => r.check(r.ev(ALICE, "org.example.state", {}, "")), A],
      ["10", "not reached when an earlier rule rejects", () => r.check(r.ev(MALLORY, "org.example.state", {}, "")), "5"],
    ]);
  });

});

// Room v12 only: creators outrank every power level.
describe("v12 creators", () => {
  const room = (o: RoomOptions = {}) => baseRoom({ version: "12", ...o });
  const MAX = Number.MAX_SAFE_INTEGER;
  const members = { [ALICE]: "join", [BOB]: "join", [CAROL]: "join", [DAVE]: "join" };
  const co = room({ createContent: { additional_creators: [BOB] }, members, power: { users: { [DAVE]: MAX, [CAROL]: MAX }, kick: MAX, ban: MAX } });
  const noPl = room({ createContent: { additional_creators: [BOB] }, members, power: null });
  table([
    ["v12 8: an additional creator outranks any level without power levels", () => noPl.check(noPl.ev(BOB, "m.room.topic", { topic: "x" }, "")), A],
    ["v12 8: a non-creator still has 0 without power levels", () => noPl.check(noPl.ev(CAROL, "m.room.topic", { topic: "x" }, "")), "8"],
    ["v12 5.5.4: a creator may kick a user at the highest integer level", () => co.check(co.member(ALICE, DAVE, "leave")), A],
    ["v12 5.5.4: the highest integer level cannot kick a creator", () => co.check(co.member(DAVE, BOB, "leave")), "5.5.5"],
    ["v12 5.5.4: creators cannot kick each other", () => co.check(co.member(ALICE, BOB, "leave")), "5.5.5"],
    ["v12 5.6.2: an additional creator may ban at any ban level", () => co.check(co.member(BOB, DAVE, "ban")), A],
    ["v12 10.9.1: a creator may demote users at the highest integer level", () => co.check(co.pl(BOB, { users: { [DAVE]: 0, [CAROL]: 0 }, kick: MAX, ban: MAX })), A],
    ["v12 10.9.1: the highest integer level cannot demote its peer", () => co.check(co.pl(DAVE, { users: { [DAVE]: MAX, [CAROL]: 0 }, kick: MAX, ban: MAX })), "10.9.1"],
    ["v12 10.10.1: a creator may grant the highest integer level", () => co.check(co.pl(ALICE, { users: { [DAVE]: MAX, [CAROL]: MAX, [MALLORY]: MAX }, kick: MAX, ban: MAX })), A],
    ["v12 5.3.1: the create event's sender is the first joiner, not an additional creator", () => {
      const f = room({ createContent: { additional_creators: [BOB] }, members: {} });
      return f.check(f.join(BOB, {}, { prev_events: [f.sid("m.room.create")] }));
    }, "5.3.4"],
  ]);
  it("ignores additional_creators in room v11", () => {
    const r = baseRoom({ version: "11", createContent: { additional_creators: [BOB] }, members, power: null });
    expect(r.check(r.ev(BOB, "m.room.topic", { topic: "x" }, ""))).toMatchObject({ allowed: false, rule: "7" });
  });
  it("derives the room ID from the create event's reference hash, as hashes.ts does", async () => {
    expect(co.roomId).toMatch(/^![A-Za-z0-9_-]{43}$/);
    expect(co.create.room_id).toBeUndefined();
    const extra = { ...co.create, unsigned: { age: 1 }, signatures: { "a.test": { "ed25519:1": "x" } }, origin: "a.test" };
    expect(`!${createEventReferenceHash(extra)}`).toBe(await roomIdFromCreateEvent(extra));
    const v11 = baseRoom({ version: "11", createContent: { "m.federate": false } }).create;
    expect(`$${createEventReferenceHash(v11)}`).toBe(await eventIdOf(v11, ROOM_VERSION_11));
  });
});
