// Matrix room v11 and v12 auth rules, one accepting and one rejecting row per numbered step, as one
// table run under each version. Rows are written with v11's rule numbers; v12 inserts rule 2 (room ID
// from the create event) and power-levels step 10.4 (no creators in `users`), and `n` renumbers.
// Rows whose setup or wording differs between the versions, and the v12-only rules, are marked with
// the version they belong to and carry that version's own numbers.

import { describe, expect, it } from "vitest";
import { authEventKeysMatrix, checkAuthMatrix, createEventReferenceHash } from "../../shared/auth-rules-matrix.js";
import type { JsonObject } from "../../shared/canonical-json.js";
import type { Pdu } from "../../shared/event.js";
import { eventIdOf, roomIdFromCreateEvent } from "../../shared/hashes.js";
import type { AuthResult } from "../../shared/room-version.js";
import { ROOM_VERSION_11 } from "../../shared/room-versions.js";
import type { Room, RoomOptions } from "./fixtures/auth-fixtures.js";
import { ALICE, ALLOWED as A, BOB, CAROL, DAVE, MALLORY, checkCreate, createEvent, identityKey, room as baseRoom, table } from "./fixtures/auth-fixtures.js";

type V = "11" | "12";

/** A v11 rule number as room v12 numbers it. */
function v12Number(rule: string): string {
  const [major, ...rest] = rule.split(".").map(Number);
  if (major === undefined || major === 1) return rule;
  if (major === 9 && rest[0] !== undefined && rest[0] >= 4) rest[0]++;
  return [major + 1, ...rest].join(".");
}

interface MatrixVersion {
  v: V;
  n: (v11Rule: string) => string;
  /** Power-levels content with these users: v11 lists the creator at 100; v12 creators are never listed. */
  pw: (users: Record<string, number>, rest?: JsonObject) => JsonObject;
  /** The `users` of the power-levels section's base content. */
  plUsers: Record<string, number>;
}

const VERSIONS: MatrixVersion[] = [
  { v: "11", n: (r) => r, pw: (users, rest = {}) => ({ users: { [ALICE]: 100, ...users }, ...rest }), plUsers: { [ALICE]: 100, [BOB]: 50, [CAROL]: 75, [DAVE]: 50 } },
  {
    v: "12",
    n: v12Number,
    pw: (users, rest = {}) => (Object.keys(users).length > 0 ? { users, ...rest } : rest),
    plUsers: { [BOB]: 50, [CAROL]: 75, [DAVE]: 50, "@eve:e.test": 100 },
  },
];

/** step and expected in v11 numbers, or in `only`'s own numbers when the row belongs to one version. */
type Row = readonly [step: string, text: string, run: () => AuthResult, expected: string, only?: V];

function rowsFor(ver: MatrixVersion, rows: readonly Row[]): Array<[string, () => AuthResult, string]> {
  return rows
    .filter((r) => r[4] === undefined || r[4] === ver.v)
    .map(([step, text, run, expected, only]) => {
      const n = only === undefined ? ver.n : (r: string) => r;
      return [`v${ver.v} ${n(step)}: ${text}`, run, expected === A ? A : n(expected)];
    });
}

const signedBy = (server: string): Partial<Pdu> => ({ signatures: { [server]: { "ed25519:1": "c2lnbmF0dXJl" } } });

describe.each(VERSIONS)("Matrix v$v auth rules", (ver) => {
  const { v: V, n, pw } = ver;
  const room = (o: RoomOptions = {}) => baseRoom({ version: V, ...o });
  const checkIn = (o: RoomOptions, build: (r: Room) => Pdu, over = {}) => {
    const r = room(o);
    return r.check(build(r), over);
  };
  const create = (content: JsonObject = {}, extra: Partial<Pdu> = {}) => checkCreate(V, createEvent(V, ALICE, content, extra));
  const run = (rows: readonly Row[]) => table(rowsFor(ver, rows));

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

  describe("member events and joins", () => {
    const pub = room({ joinRule: "public", members: { [ALICE]: "join", [DAVE]: "ban" } });
    const inv = room({ members: { [ALICE]: "join", [BOB]: "invite", [DAVE]: "join" } });
    const fresh = room({ members: {} });
    const afterCreate = (r: Room) => ({ prev_events: [r.sid("m.room.create")] });
    const restricted = (rule = "restricted") =>
      room({ joinRule: rule, members: { [ALICE]: "join", [BOB]: "invite", [DAVE]: "join", [CAROL]: "leave" }, power: pw({}, { invite: 50 }) });
    const viaJoin = (r: Room, user: string, via: unknown) => r.join(user, { join_authorised_via_users_server: via as string }, signedBy("a.test"));
    run([
      ["4.1", "a member event with state_key and membership is allowed", () => pub.check(pub.join(BOB)), A],
      ["4.1", "a member event without membership is rejected", () => pub.check(pub.ev(BOB, "m.room.member", {}, BOB)), "4.1"],
      ["4.1", "a member event without state_key is rejected", () => pub.check(pub.ev(BOB, "m.room.member", { membership: "join" })), "4.1"],
      ["4.2.1", "an authorised join signed by the authorising server is allowed", () => { const r = restricted(); return r.check(viaJoin(r, MALLORY, ALICE)); }, A],
      ["4.2.1", "an authorised join without that server's signature is rejected", () => {
        const r = restricted();
        return r.check(r.join(MALLORY, { join_authorised_via_users_server: ALICE }));
      }, "4.2.1"],
      ["4.2.1", "a join_authorised_via_users_server that is not a user ID is rejected", () => { const r = restricted(); return r.check(viaJoin(r, MALLORY, "a.test")); }, "4.2.1"],

      ["4.3.1", "the creator's join right after the create event is allowed", () => fresh.check(fresh.join(ALICE, {}, afterCreate(fresh))), A],
      ["4.3.1", "the caller's prevEvent may identify the create event", () => fresh.check(fresh.join(ALICE, {}, { prev_events: ["$c"] }), { prevEvent: fresh.create }), A],
      ["4.3.1", "not applied when the create event is not the only previous event", () => fresh.check(fresh.join(ALICE, {}, { prev_events: [fresh.sid("m.room.create"), "$x"] })), "4.3.4"],
      ["4.3.1", "not applied to anyone but the creator", () => fresh.check(fresh.join(BOB, {}, afterCreate(fresh))), "4.3.4"],
      ["4.3.2", "joining as oneself is allowed", () => pub.check(pub.join(BOB)), A],
      ["4.3.2", "joining on behalf of another user is rejected", () => pub.check(pub.member(ALICE, BOB, "join")), "4.3.2"],
      ["4.3.3", "a user who is not banned may join", () => pub.check(pub.join(CAROL)), A],
      ["4.3.3", "a banned user's join is rejected", () => pub.check(pub.join(DAVE)), "4.3.3"],
      ["4.3.4", "invite-only join is allowed when the sender is invited", () => inv.check(inv.join(BOB)), A],
      ["4.3.4", "invite-only join is allowed when already joined", () => inv.check(inv.join(DAVE)), A],
      ["4.3.4", "invite-only join is rejected when not invited", () => inv.check(inv.join(CAROL)), "4.3.4"],
      ["4.3.4", "knock-rule join is rejected when not invited", () => checkIn({ joinRule: "knock" }, (r) => r.join(CAROL)), "4.3.4"],
      ["4.3.5.1", "a restricted join is allowed when invited", () => { const r = restricted(); return r.check(r.join(BOB)); }, A],
      ["4.3.5.1", "a knock_restricted join is allowed when already joined", () => { const r = restricted("knock_restricted"); return r.check(r.join(DAVE)); }, A],
      ["4.3.5.1", "a restricted join without invite or authoriser is rejected", () => { const r = restricted(); return r.check(r.join(MALLORY)); }, "4.3.5.2"],
      ["4.3.5.2", "an authorising user who may invite is accepted", () => { const r = restricted(); return r.check(viaJoin(r, MALLORY, ALICE)); }, A],
      ["4.3.5.2", "an authorising user below the invite level is rejected", () => { const r = restricted(); return r.check(r.join(MALLORY, { join_authorised_via_users_server: DAVE }, signedBy("b.test"))); }, "4.3.5.2"],
      ["4.3.5.2", "an authorising user who is not joined is rejected", () => {
        const r = room({ joinRule: "restricted", members: { [ALICE]: "join", [CAROL]: "leave" }, power: pw({ [CAROL]: 100 }) });
        return r.check(r.join(MALLORY, { join_authorised_via_users_server: CAROL }, signedBy("c.test")));
      }, "4.3.5.2"],
      ["4.3.5.3", "otherwise a knock_restricted join with a valid authoriser is allowed", () => { const r = restricted("knock_restricted"); return r.check(viaJoin(r, MALLORY, ALICE)); }, A],
      ["4.3.5.3", "not reached without an authoriser", () => { const r = restricted("knock_restricted"); return r.check(r.join(MALLORY)); }, "4.3.5.2"],
      ["4.3.6", "a public room admits anyone", () => pub.check(pub.join(CAROL)), A],
      ["4.3.6", "not reached for a private join rule", () => checkIn({ joinRule: "private" }, (r) => r.join(BOB)), "4.3.7"],
      ["4.3.7", "otherwise a join is rejected", () => checkIn({ joinRule: "frobnicate" }, (r) => r.join(BOB)), "4.3.7"],
      ["4.3.7", "not reached for a public room", () => pub.check(pub.join(BOB)), A],
    ]);
  });

  describe("third-party invites", () => {
    const key = identityKey();
    const other = identityKey();
    const tpiRoom = (content: JsonObject = { public_key: key.publicKey }) => {
      const r = room({ members: { [ALICE]: "join", [CAROL]: "join", [DAVE]: "ban" } });
      return r.with(r.ev(ALICE, "m.room.third_party_invite", { display_name: "b…", key_validity_url: "https://id.test/v", ...content }, "tok"));
    };
    const invite = (tpi: unknown, target = BOB, sender = ALICE, content?: JsonObject) => {
      const r = tpiRoom(content);
      return r.check(r.member(sender, target, "invite", { third_party_invite: tpi as JsonObject }));
    };
    const good = { display_name: "b…", signed: key.sign(BOB, "tok") };
    run([
      ["4.4.1.1", "a third-party invite for a user who is not banned is allowed", () => invite(good), A],
      ["4.4.1.1", "a third-party invite for a banned user is rejected", () => invite({ signed: key.sign(DAVE, "tok") }, DAVE), "4.4.1.1"],
      ["4.4.1.2", "a signed object is accepted", () => invite(good), A],
      ["4.4.1.2", "a third_party_invite without signed is rejected", () => invite({ display_name: "b" }), "4.4.1.2"],
      ["4.4.1.2", "a third_party_invite that is not an object is rejected", () => invite("x"), "4.4.1.2"],
      ["4.4.1.3", "signed with mxid and token is accepted", () => invite(good), A],
      ["4.4.1.3", "signed without a token is rejected", () => invite({ signed: { mxid: BOB, signatures: {} } }), "4.4.1.3"],
      ["4.4.1.4", "an mxid equal to the state_key is accepted", () => invite(good), A],
      ["4.4.1.4", "an mxid for another user is rejected", () => invite({ signed: key.sign(CAROL, "tok") }), "4.4.1.4"],
      ["4.4.1.5", "a token naming a third-party invite in state is accepted", () => invite(good), A],
      ["4.4.1.5", "a token with no third-party invite in state is rejected", () => invite({ signed: key.sign(BOB, "nope") }), "4.4.1.5"],
      ["4.4.1.6", "the sender of the third-party invite may complete it", () => invite(good), A],
      ["4.4.1.6", "another sender may not complete it", () => invite(good, BOB, CAROL), "4.4.1.6"],
      ["4.4.1.7", "a signature by public_key is allowed", () => invite(good), A],
      ["4.4.1.7", "a signature by a key in public_keys is allowed", () => invite({ signed: other.sign(BOB, "tok") }, BOB, ALICE, { public_keys: [{ public_key: other.publicKey }] }), A],
      ["4.4.1.7", "a signature by an unlisted key is rejected", () => invite({ signed: other.sign(BOB, "tok") }), "4.4.1.8"],
      ["4.4.1.8", "a signature that does not cover signed is rejected", () => invite({ signed: { ...key.sign(BOB, "tok"), extra: 1 } }), "4.4.1.8"],
      ["4.4.1.8", "a garbage signature is rejected", () => invite({ signed: { mxid: BOB, token: "tok", signatures: { "id.test": { "ed25519:0": "!!" } } } }), "4.4.1.8"],
      ["4.4.1.8", "not reached with a valid signature", () => invite(good), A],
    ]);
  });

  describe("invites, leaves, bans, knocks", () => {
    const power = pw({ [BOB]: 50, [DAVE]: 50 }, { kick: 50, ban: 75, invite: 50 });
    const r = room({ power, members: { [ALICE]: "join", [BOB]: "join", [DAVE]: "join", [CAROL]: "ban", "@inv:b.test": "invite", "@kn:b.test": "knock", "@low:b.test": "join" } });
    const knock = (rule = "knock") => room({ joinRule: rule, members: { [ALICE]: "join", [BOB]: "invite", [DAVE]: "join", [CAROL]: "ban" } });
    // Alice is at 100 in v11 and a creator in v12: either way above Bob's 80.
    const bobBansAlice = () => checkIn({ power: pw({ [BOB]: 80 }, { ban: 75 }), members: { [ALICE]: "join", [BOB]: "join" } }, (x) => x.member(BOB, ALICE, "ban"));
    run([
      ["4.4.2", "a joined sender may invite", () => r.check(r.member(ALICE, MALLORY, "invite")), A],
      ["4.4.2", "a sender who is not joined may not invite", () => r.check(r.member("@inv:b.test", MALLORY, "invite")), "4.4.2"],
      ["4.4.3", "inviting a user who left is allowed", () => r.check(r.member(ALICE, MALLORY, "invite")), A],
      ["4.4.3", "inviting a joined user is rejected", () => r.check(r.member(ALICE, DAVE, "invite")), "4.4.3"],
      ["4.4.3", "inviting a banned user is rejected", () => r.check(r.member(ALICE, CAROL, "invite")), "4.4.3"],
      ["4.4.4", "a sender at the invite level may invite", () => r.check(r.member(BOB, MALLORY, "invite")), A],
      ["4.4.4", "a sender below the invite level may not", () => r.check(r.member("@low:b.test", MALLORY, "invite")), "4.4.5"],
      ["4.4.5", "otherwise an invite is rejected", () => r.check(r.member("@low:b.test", MALLORY, "invite")), "4.4.5"],
      ["4.4.5", "not reached with the default invite level 0", () => checkIn({ members: { [ALICE]: "join", [BOB]: "join" } }, (x) => x.member(BOB, MALLORY, "invite")), A],

      ["4.5.1", "a joined user may leave", () => r.check(r.member(BOB, BOB, "leave")), A],
      ["4.5.1", "an invited user may reject the invite", () => r.check(r.member("@inv:b.test", "@inv:b.test", "leave")), A],
      ["4.5.1", "a knocking user may retract the knock", () => r.check(r.member("@kn:b.test", "@kn:b.test", "leave")), A],
      ["4.5.1", "a banned user may not leave", () => r.check(r.member(CAROL, CAROL, "leave")), "4.5.1"],
      ["4.5.2", "a joined moderator may kick", () => r.check(r.member(ALICE, BOB, "leave")), A],
      ["4.5.2", "a sender who is not joined may not kick", () => r.check(r.member("@inv:b.test", BOB, "leave")), "4.5.2"],
      ["4.5.3", "unbanning at the ban level is allowed", () => r.check(r.member(ALICE, CAROL, "leave")), A],
      ["4.5.3", "unbanning below the ban level is rejected", () => r.check(r.member(BOB, CAROL, "leave")), "4.5.3"],
      ["4.5.4", "kicking a lower user at the kick level is allowed", () => r.check(r.member(BOB, "@low:b.test", "leave")), A],
      ["4.5.4", "kicking an equal user is rejected", () => r.check(r.member(BOB, DAVE, "leave")), "4.5.5"],
      ["4.5.5", "otherwise a kick is rejected", () => r.check(r.member("@low:b.test", "@inv:b.test", "leave")), "4.5.5"],
      ["4.5.5", "not reached by a moderator kicking a lower user", () => r.check(r.member(ALICE, DAVE, "leave")), A],

      ["4.6.1", "a joined sender may ban", () => r.check(r.member(ALICE, BOB, "ban")), A],
      ["4.6.1", "a sender who is not joined may not ban", () => r.check(r.member("@inv:b.test", BOB, "ban")), "4.6.1"],
      ["4.6.2", "banning a lower user at the ban level is allowed", () => r.check(r.member(ALICE, MALLORY, "ban")), A],
      ["4.6.2", "banning a higher user is rejected", bobBansAlice, "4.6.3", "11"],
      ["5.6.2", "banning a room creator is rejected", bobBansAlice, "5.6.3", "12"],
      ["4.6.3", "otherwise a ban is rejected (below the ban level)", () => r.check(r.member(BOB, "@low:b.test", "ban")), "4.6.3"],
      ["4.6.3", "not reached at the ban level", () => r.check(r.member(ALICE, "@low:b.test", "ban")), A],

      ["4.7.1", "knocking under the knock rule is allowed", () => { const k = knock(); return k.check(k.member(MALLORY, MALLORY, "knock")); }, A],
      ["4.7.1", "knocking under knock_restricted is allowed", () => { const k = knock("knock_restricted"); return k.check(k.member(MALLORY, MALLORY, "knock")); }, A],
      ["4.7.1", "knocking under the invite rule is rejected", () => r.check(r.member(MALLORY, MALLORY, "knock")), "4.7.1"],
      ["4.7.1", "knocking under the restricted rule is rejected", () => { const k = knock("restricted"); return k.check(k.member(MALLORY, MALLORY, "knock")); }, "4.7.1"],
      ["4.7.2", "knocking as oneself is allowed", () => { const k = knock(); return k.check(k.member(MALLORY, MALLORY, "knock")); }, A],
      ["4.7.2", "knocking for someone else is rejected", () => { const k = knock(); return k.check(k.member(ALICE, MALLORY, "knock")); }, "4.7.2"],
      ["4.7.3", "a user who left may knock", () => { const k = knock(); return k.check(k.member(MALLORY, MALLORY, "knock")); }, A],
      ["4.7.3", "an invited user may not knock", () => { const k = knock(); return k.check(k.member(BOB, BOB, "knock")); }, "4.7.4"],
      ["4.7.4", "a joined user may not knock", () => { const k = knock(); return k.check(k.member(DAVE, DAVE, "knock")); }, "4.7.4"],
      ["4.7.4", "a banned user may not knock", () => { const k = knock(); return k.check(k.member(CAROL, CAROL, "knock")); }, "4.7.4"],
      ["4.7.4", "not reached for a user who left", () => { const k = knock(); return k.check(k.member(MALLORY, MALLORY, "knock")); }, A],
      ["4.8", "a known membership is evaluated", () => r.check(r.member(BOB, BOB, "leave")), A],
      ["4.8", "an unknown membership is rejected", () => r.check(r.member(BOB, BOB, "frobnicate")), "4.8"],
    ]);
  });

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
