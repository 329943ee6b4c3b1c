// The pure half of restricted joins (shared/restricted-join.ts): reading the allow list, the three
// refusals of the spec's "Restricted rooms" section, the choice of authoriser, and the co-signature
// that the auth rules then accept.

import { describe, expect, it } from "vitest";
import { checkAuthMatrix } from "../../shared/auth-rules-matrix.js";
import { allowedRoomIds, coSign, isRestrictedJoinRule, judgeConditions, pickAuthoriser } from "../../shared/restricted-join.js";
import { getRoomVersion } from "../../shared/room-versions.js";
import { generateSeed, signingKeyFromSeed } from "../../shared/signing-key.js";
import { verifyServerSignedEvent } from "../../shared/event-signatures.js";
import { ALICE, BOB, CAROL, DAVE, room } from "./fixtures/auth-fixtures.js";

const PARENT = "!parent:a.test";
const OTHER = "!other:b.test";

describe("the allow list", () => {
  it("keeps m.room_membership conditions with valid room IDs, once each, and ignores other shapes", () => {
    const content = { join_rule: "restricted", allow: [{ type: "m.room_membership", room_id: PARENT }, { type: "m.room_membership", room_id: PARENT }, { type: "m.room_membership", room_id: "not-a-room" }, { type: "org.example.other", room_id: OTHER }, "junk", null, { type: "m.room_membership" }] };
    expect(allowedRoomIds(content)).toEqual([PARENT]);
  });
  it("is empty without an allow array", () => {
    expect([allowedRoomIds({ join_rule: "restricted" }), allowedRoomIds({ allow: "x" }), allowedRoomIds(null)]).toEqual([[], [], []]);
  });
  it("applies to restricted and knock_restricted only", () => {
    expect(["restricted", "knock_restricted", "public", "invite", "knock", undefined].map(isRestrictedJoinRule)).toEqual([true, true, false, false, false, false]);
  });
});

describe("judging the conditions", () => {
  it("is met by membership of an allowed room this server is in", () => {
    expect(judgeConditions([PARENT, OTHER], [{ serverIn: false, joined: false }, { serverIn: true, joined: true }], false)).toEqual({ met: true });
  });
  it("answers 400 M_UNABLE_TO_AUTHORISE_JOIN to a remote user when some allowed room is one this server is not in", () => {
    expect(judgeConditions([PARENT, OTHER], [{ serverIn: true, joined: false }, { serverIn: false, joined: false }], false)).toMatchObject({ met: false, status: 400, errcode: "M_UNABLE_TO_AUTHORISE_JOIN" });
  });
  it("answers 403 M_FORBIDDEN when this server sees every allowed room and the user in none", () => {
    expect(judgeConditions([PARENT], [{ serverIn: true, joined: false }], false)).toMatchObject({ met: false, status: 403, errcode: "M_FORBIDDEN" });
  });
  it("answers a local user 403, since a local user is in no room this server is not in", () => {
    expect(judgeConditions([OTHER], [{ serverIn: false, joined: false }], true)).toMatchObject({ status: 403, errcode: "M_FORBIDDEN" });
  });
  it("treats an allow list with no usable condition as failing all conditions (403)", () => {
    expect(judgeConditions([], [], false)).toMatchObject({ status: 403, errcode: "M_FORBIDDEN" });
  });
});

describe("choosing the authoriser", () => {
  const v11 = { authRules: "11" as const };
  it("picks the local joined user with the most power, then by user ID", () => {
    const r = room({ version: "11", creator: ALICE, members: { [ALICE]: "join", [BOB]: "join", [DAVE]: "join" }, users: { [BOB]: 60, [DAVE]: 60 }, joinRule: "restricted" });
    // BOB and DAVE are both on b.test at 60; ALICE (100) is on a.test.
    expect(pickAuthoriser(r.state, r.create, v11, [DAVE, BOB])).toBe(BOB);
    expect(pickAuthoriser(r.state, r.create, v11, [ALICE, BOB])).toBe(ALICE);
  });
  it("skips users below the invite level and users not joined", () => {
    const r = room({ version: "11", creator: ALICE, members: { [ALICE]: "join", [BOB]: "join", [DAVE]: "invite" }, power: { users: { [ALICE]: 100, [DAVE]: 100 }, invite: 50 }, joinRule: "restricted" });
    expect(pickAuthoriser(r.state, r.create, v11, [BOB, DAVE])).toBeUndefined();
  });
  it("counts a v12 creator as able to invite whatever the levels say", () => {
    const r = room({ version: "12", creator: ALICE, members: { [ALICE]: "join" }, power: { invite: 100 }, joinRule: "restricted" });
    expect(pickAuthoriser(r.state, r.create, { authRules: "12" }, [ALICE])).toBe(ALICE);
  });
});

describe("the co-signature", () => {
  it("makes a join naming the authoriser pass the auth rules, where the unsigned one fails rule 4.2.1", async () => {
    const r = room({ version: "11", creator: ALICE, members: { [ALICE]: "join" }, joinRule: "restricted" });
    const join = r.join(CAROL, { join_authorised_via_users_server: ALICE }, { signatures: { "c.test": { "ed25519:1": "x" } } });
    const before = checkAuthMatrix(r.input(join), "11");
    expect(before).toMatchObject({ allowed: false, rule: "4.2.1" });
    const key = await signingKeyFromSeed(generateSeed(), "k1");
    const version = getRoomVersion("11");
    if (!version) throw new Error("no v11");
    const signed = await coSign(join, version, "a.test", key);
    expect(signed.signatures["c.test"]).toEqual({ "ed25519:1": "x" });
    expect(checkAuthMatrix(r.input(signed), "11")).toEqual({ allowed: true });
    expect(await verifyServerSignedEvent(signed, "a.test", version, async (s, k) => (s === "a.test" && k === key.keyId ? key.publicKey : undefined))).toBe(true);
  });
});
