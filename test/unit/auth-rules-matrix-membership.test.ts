// Matrix v11/v12 auth rules for membership: joins, third-party invites, invites, leaves, bans and knocks.
// The table machinery and its rule numbering are described in auth-rules-matrix.test.ts.

import { describe } from "vitest";
import type { JsonObject } from "../../shared/canonical-json.js";
import type { Room } from "./fixtures/auth-fixtures.js";
import { ALICE, ALLOWED as A, BOB, CAROL, DAVE, MALLORY, identityKey } from "./fixtures/auth-fixtures.js";
import { signedBy, VERSIONS, versionKit } from "./auth-rules-matrix-versions.js";

describe.each(VERSIONS)("Matrix v$v auth rules", (ver) => {
  const { pw, room, checkIn, run } = versionKit(ver);

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

});
