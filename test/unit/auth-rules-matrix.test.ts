// Matrix room v11 and v12 auth rules, one accepting and one rejecting row per numbered step, as one
// table run under each version. Rows are written with v11's rule numbers; v12 inserts rule 2 (room ID
// from the create event) and power-levels step 10.4 (no creators in `users`), and `n` renumbers.
// Rows whose setup or wording differs between the versions, and the v12-only rules, are marked with
// the version they belong to and carry that version's own numbers.

import { describe, expect, it } from "vitest";
import { authEventKeysMatrix, checkAuthMatrix } from "../../shared/auth-rules-matrix.js";
import type { Pdu } from "../../shared/event.js";
import { ALICE, ALLOWED as A, BOB, CAROL, checkCreate, createEvent } from "./fixtures/auth-fixtures.js";
import { VERSIONS, versionKit } from "./auth-rules-matrix-versions.js";

describe.each(VERSIONS)("Matrix v$v auth rules", (ver) => {
  const { V, n, room, create, run } = versionKit(ver);

  describe("1: the create event", () => {
    run([
      ["1.1", "a create event without prev_events is allowed", () => create(), A],
      ["1.1", "a create event with prev_events is rejected", () => create({}, { prev_events: ["$x"] }), "1.1"],
      ["1.2", "a room_id on the sender's server is allowed", () => create(), A, "11"],
      ["1.2", "a room_id on another server is rejected", () => create({}, { room_id: "!room:b.test" }), "1.2", "11"],
      ["1.2", "a create event without room_id is allowed", () => create(), A, "12"],
      ["1.2", "a create event with a room_id is rejected", () => create({}, { room_id: "!room:a.test" }), "1.2", "12"],
      ["1.3", "a recognised room_version is allowed", () => create({ room_version: V }), A],
      ["1.3", "an absent room_version is allowed", () => create({}, { content: {} }), A],
      ["1.3", "an unrecognised room_version is rejected", () => create({ room_version: "frobnicate" }), "1.3"],
      ["1.3", "a numeric room_version is rejected", () => create({ room_version: 11 }), "1.3", "11"],
      ["1.4", "otherwise the create event is allowed", () => create({ "m.federate": false }), A, "11"],
      ["1.4", "not reached when an earlier step rejects", () => create({}, { room_id: "!r:c.test" }), "1.2", "11"],
      ["1.4", "additional_creators of valid user IDs are allowed", () => create({ additional_creators: [BOB, CAROL] }), A, "12"],
      ["1.4", "an additional creator that is not a user ID is rejected", () => create({ additional_creators: [BOB, "carol"] }), "1.4", "12"],
      ["1.4", "additional_creators that is not an array is rejected", () => create({ additional_creators: BOB }), "1.4", "12"],
      ["1.5", "otherwise the create event is allowed", () => create({ "m.federate": false }), A, "12"],
      ["1.5", "not reached when an earlier step rejects", () => create({ additional_creators: [1] }), "1.4", "12"],
    ]);
  });

  describe("1.1: a room has one create event", () => {
    // A member's own create event, unlinked (as the room once built it) or linked to the last event:
    // either way the room's existing create event must stay the only one.
    const r = room();
    const second = (extra: Partial<Pdu>) => createEvent(V, BOB, {}, V === "11" ? { room_id: r.roomId, ...extra } : extra);
    run([
      ["1.1", "a second create event without prev_events is rejected", () => r.check(second({ prev_events: [] })), "1.1"],
      ["1.1", "a second create event linked to the room's last event is rejected", () => r.check(second({ prev_events: ["$last"] })), "1.1"],
      ["1.1", "the same event as a room's first is allowed", () => checkCreate(V, createEvent(V, BOB)), A],
    ]);
  });

  describe("room ID, auth events and m.federate", () => {
    const r = room({ members: { [ALICE]: "join", [BOB]: "join" } });
    const msg = () => r.msg(ALICE);
    const nofed = room({ createContent: { "m.federate": false }, members: { [ALICE]: "join", "@al2:a.test": "join", [BOB]: "join" } });
    run([
      ["2", "a room_id derived from the create event is allowed", () => r.check(msg()), A, "12"],
      ["2", "a room_id not derived from the create event is rejected", () => r.check(r.msg(ALICE, { room_id: "!elsewhere" })), "2", "12"],
      ["2", "a legacy room_id with a server name is rejected", () => r.check(r.msg(ALICE, { room_id: "!room:a.test" })), "2", "12"],
      ["2", "without the create event nothing can be authorised", () => r.check(msg(), { createEvent: undefined }), "2", "12"],
      ["2", "a createEvent of another type is rejected", () => r.check(msg(), { createEvent: r.state.get("m.room.power_levels", "") }), "2", "12"],
      ["2.1", "distinct auth events are allowed", () => r.check(msg()), A],
      ["2.1", "two power-levels auth events are rejected", () => {
        const e = msg();
        return r.check({ ...e, auth_events: [...e.auth_events, r.id(r.pl(ALICE, {}))] });
      }, "2.1"],
      // v12 lists no create event among the auth events, so its duplicate is the power levels.
      ["2.1", "the same auth event listed twice is rejected", () => {
        const e = msg();
        return r.check({ ...e, auth_events: [...e.auth_events, r.sid("m.room.create")] });
      }, "2.1", "11"],
      ["3.1", "the same auth event listed twice is rejected", () => {
        const e = msg();
        return r.check({ ...e, auth_events: [...e.auth_events, r.sid("m.room.power_levels")] });
      }, "3.1", "12"],
      ["2.2", "auth events the selection picks are allowed", () => r.check(r.join(BOB)), A],
      ["3.2", "the create event among the auth events is rejected", () => {
        const e = msg();
        return r.check({ ...e, auth_events: [r.sid("m.room.create"), ...e.auth_events] });
      }, "3.2", "12"],
      ["2.2", "join rules cited by a message are rejected", () => {
        const e = msg();
        return r.check({ ...e, auth_events: [...e.auth_events, r.sid("m.room.join_rules")] });
      }, "2.2"],
      ["2.2", "another user's member event is rejected", () => {
        const e = msg();
        return r.check({ ...e, auth_events: [...e.auth_events, r.sid("m.room.member", BOB)] });
      }, "2.2", "11"],
      ["2.3", "fully resolved auth events are allowed", () => r.check(msg()), A],
      ["2.3", "an auth event that is missing or was rejected is rejected", () => {
        const e = msg();
        return r.check({ ...e, auth_events: [...e.auth_events.filter((id) => id !== r.sid("m.room.power_levels")), "$rejected"] });
      }, "2.3"],
      ["2.4", "auth events with the create event are allowed", () => r.check(msg()), A, "11"],
      ["2.4", "auth events without the create event are rejected", () => {
        const e = msg();
        return r.check({ ...e, auth_events: e.auth_events.filter((id) => id !== r.sid("m.room.create")) });
      }, "2.4", "11"],
      ["3.4", "auth events from the same room are allowed", () => r.check(msg()), A, "12"],
      ["3.4", "an auth event from another room is rejected", () => {
        const e = msg();
        const mine = r.sid("m.room.member", ALICE);
        const foreign = r.id({ ...r.state.get("m.room.member", ALICE)!, room_id: "!elsewhere" });
        return r.check({ ...e, auth_events: e.auth_events.map((id) => (id === mine ? foreign : id)) });
      }, "3.4", "12"],
      ["3", "an unfederated room accepts the creator's server", () => nofed.check(nofed.msg("@al2:a.test")), A],
      ["3", "an unfederated room rejects other servers", () => nofed.check(nofed.msg(BOB)), "3"],
      ["3", "a federated room accepts other servers", () => r.check(r.msg(BOB)), A],
    ]);
  });


  describe("auth events selection", () => {
    // v12 leaves the create event out of auth_events; the room ID names it instead.
    const createKey: Array<[string, string]> = V === "11" ? [["m.room.create", ""]] : [];
    it("adds the third-party invite named by signed.token", () => {
      const keys = authEventKeysMatrix({ type: "m.room.member", sender: ALICE, state_key: BOB, content: { membership: "invite", third_party_invite: { signed: { mxid: BOB, token: "tok" } } } }, V);
      expect(keys).toContainEqual(["m.room.third_party_invite", "tok"]);
      if (V === "11") expect(keys).toContainEqual(["m.room.create", ""]);
      else expect(keys).not.toContainEqual(["m.room.create", ""]);
    });
    it("adds the authorising user's member event for restricted joins", () => {
      const keys = authEventKeysMatrix({ type: "m.room.member", sender: BOB, state_key: BOB, content: { membership: "join", join_authorised_via_users_server: ALICE } }, V);
      expect(keys).toEqual([...createKey, ["m.room.power_levels", ""], ["m.room.member", BOB], ["m.room.join_rules", ""], ["m.room.member", ALICE]]);
    });
    it("ignores a third-party invite on a join", () => {
      const keys = authEventKeysMatrix({ type: "m.room.member", sender: BOB, state_key: BOB, content: { membership: "join", third_party_invite: { signed: { token: "tok" } } } }, V);
      expect(keys).not.toContainEqual(["m.room.third_party_invite", "tok"]);
    });
  });

  describe("hostile input", () => {
    it("never throws on junk third-party invite keys", () => {
      const r = room({ members: { [ALICE]: "join" } });
      r.with(r.ev(ALICE, "m.room.third_party_invite", { public_key: 42, public_keys: [null, "x", { public_key: "%%%" }] }, "tok"));
      const e = r.member(ALICE, BOB, "invite", { third_party_invite: { signed: { mxid: BOB, token: "tok", signatures: { s: { "ed25519:0": 7, x: "y" } } } } });
      expect(checkAuthMatrix(r.input(e), V)).toMatchObject({ allowed: false, rule: n("4.4.1.8") });
    });
  });
});
