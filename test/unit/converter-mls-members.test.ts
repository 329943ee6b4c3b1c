import { describe, expect, it } from "vitest";
import { encodeBase64 } from "../../shared/base64.js";
import type { JsonObject } from "../../shared/canonical-json.js";
import { convertEvent } from "../../shared/converter/convert.js";
import { dedupKeyOf } from "../../shared/converter/dedup-key.js";
import { ghostUserId, serviceUserId } from "../../shared/converter/ghost-user.js";
import { convertersOf, mlsMembers } from "../../shared/converter/mls-members.js";
import { PAIR_EVENT, pairContent } from "../../shared/converter/pairing.js";
import { convertedContent, PROVENANCE_KEY } from "../../shared/converter/provenance.js";
import type { Pdu } from "../../shared/event.js";
import { RoomState } from "../../shared/room-state.js";
import { LM_ROOM_VERSION, ROOM_VERSION_12 } from "../../shared/room-versions.js";
import { banAsLeave } from "../../durable-objects/room/converter-ban.js";
import { rememberCommitCopy, withLocalCommit } from "../../durable-objects/room/converter-mls.js";

const HUB = "hub.example";
const LM_ROOM = `!lm:${HUB}`;
const MX_ROOM = "!" + "M".repeat(43);
const BOB = "@bob:matrix.example";
const id = (c: string) => "$" + c.repeat(43);

const pdu = (type: string, sender: string, content: JsonObject, stateKey?: string, roomId = LM_ROOM): Pdu =>
  ({ type, sender, content, room_id: roomId, origin_server_ts: 1, hashes: { sha256: "x" }, signatures: {}, auth_events: [], prev_events: [], ...(stateKey !== undefined ? { state_key: stateKey } : {}) }) as Pdu;

function pairedState(converters: string[]): RoomState {
  const s = new RoomState();
  s.apply(id("P"), pdu(PAIR_EVENT, `@alice:${HUB}`, pairContent({ peerRoomVersion: "12", converters }), MX_ROOM));
  return s;
}
const member = (s: RoomState, userId: string, membership: string, n: string) => s.apply(id(n), pdu("m.room.member", userId, { membership }, userId));

describe("the MLS roster's view of a paired room", () => {
  it("resolves a named converter's ghost to its real user, and counts the user joined while the ghost is", () => {
    const s = pairedState([HUB]);
    const ghost = ghostUserId("mx", BOB, HUB) as string;
    member(s, ghost, "join", "J");
    const m = mlsMembers(s, convertersOf(s));
    expect(m.realUser(ghost)).toBe(BOB);
    expect(m.isJoined(BOB)).toBe(true);
    member(s, ghost, "ban", "K");
    expect(m.isJoined(BOB)).toBe(false);
  });

  it("treats a ghost-shaped user of a server the pairing does not name as just a user", () => {
    const s = pairedState([HUB]);
    const stranger = ghostUserId("mx", BOB, "other.example") as string;
    member(s, stranger, "join", "J");
    const m = mlsMembers(s, convertersOf(s));
    expect(m.realUser(stranger)).toBe(stranger);
    expect(m.isJoined(BOB)).toBe(false);
    expect(m.isJoined(stranger)).toBe(true);
  });

  it("maps nobody in a room that is not paired", () => {
    const s = new RoomState();
    const ghost = ghostUserId("mx", BOB, HUB) as string;
    member(s, ghost, "join", "J");
    expect(convertersOf(s)).toEqual([]);
    expect(mlsMembers(s, []).realUser(ghost)).toBe(ghost);
  });
});

describe("bans across the converter", () => {
  it("converts a ban into a ban of the member's ghost by the service user, keeping the reason", () => {
    const ban = pdu("m.room.member", "@admin:matrix.example", { membership: "ban", reason: "spam" }, BOB, MX_ROOM);
    const r = convertEvent({ roomId: MX_ROOM, version: ROOM_VERSION_12, eventId: id("B"), pdu: ban }, LM_ROOM, HUB);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.conversion).toMatchObject({ sender: serviceUserId(HUB), type: "m.room.member", state_key: ghostUserId("mx", BOB, HUB), content: { membership: "ban", reason: "spam" } });
    // Where the service user may not ban, the ghost leaves itself; the block still holds the ban.
    const leave = banAsLeave(r.conversion);
    expect(leave).toMatchObject({ sender: ghostUserId("mx", BOB, HUB), state_key: ghostUserId("mx", BOB, HUB), content: { membership: "leave" } });
    expect(leave.content["reason"]).toBeUndefined();
    expect(leave.content[PROVENANCE_KEY]).toMatchObject({ event_id: id("B"), content: { membership: "ban", reason: "spam" } });
  });
});

describe("commit_event_id across the converter", () => {
  const commitMessage = encodeBase64(new Uint8Array([0, 1, 0, 1, 7, 7, 7]));
  const encrypted = (ref: string) => pdu("m.room.encrypted", `@carol:p1.example`, { algorithm: "m.mls", ciphertext: "AAEC", commit_event_id: ref });
  const noKeys = { eventWithKey: () => undefined };

  it("names the target room's imported copy of a commit that started in the source room", async () => {
    const commit = pdu("m.mls.commit", "@carol:p1.example", { message: commitMessage });
    const key = await dedupKeyOf(commit, LM_ROOM, id("C"));
    const keys = { eventWithKey: (k: string) => (k === key ? id("D") : undefined) };
    const msg = encrypted(id("C"));
    const c = convertEvent({ roomId: LM_ROOM, version: LM_ROOM_VERSION, eventId: id("E"), pdu: msg }, MX_ROOM, HUB);
    if (!c.ok) throw new Error(c.reason);
    const out = await withLocalCommit(c.conversion, { sourceRoomId: LM_ROOM, eventId: id("E"), version: LM_ROOM_VERSION, pdu: msg, commitJson: JSON.stringify(commit) }, MX_ROOM, keys);
    expect(out.content).toMatchObject({ ciphertext: "AAEC", commit_event_id: id("D"), [PROVENANCE_KEY]: { event_id: id("E"), content: { commit_event_id: id("C") } } });
  });

  it("names the copy remembered under the commit's origin, with no ciphertext key left (keys past the dedup window are pruned)", async () => {
    const remembered = new Map<string, string>();
    const keys = { eventWithKey: (k: string) => remembered.get(k), putKey: (k: string, e: string) => void remembered.set(k, e) };
    rememberCommitCopy(keys, "m.mls.commit", LM_ROOM, id("C"), id("D"));
    rememberCommitCopy(keys, "m.room.message", LM_ROOM, id("M"), id("N"));
    expect(remembered.size).toBe(1);
    const msg = encrypted(id("C"));
    const c = convertEvent({ roomId: LM_ROOM, version: LM_ROOM_VERSION, eventId: id("E"), pdu: msg }, MX_ROOM, HUB);
    if (!c.ok) throw new Error(c.reason);
    const commit = pdu("m.mls.commit", "@carol:p1.example", { message: commitMessage });
    const out = await withLocalCommit(c.conversion, { sourceRoomId: LM_ROOM, eventId: id("E"), version: LM_ROOM_VERSION, pdu: msg, commitJson: JSON.stringify(commit) }, MX_ROOM, keys);
    expect(out.content["commit_event_id"]).toBe(id("D"));
  });

  it("names the original commit when the source room's commit is a copy of one from the target room", async () => {
    const original = pdu("m.mls.commit", BOB, { message: commitMessage }, undefined, MX_ROOM);
    const copy = pdu("m.mls.commit", ghostUserId("mx", BOB, HUB) as string, convertedContent(original, id("O"), MX_ROOM, ROOM_VERSION_12));
    const msg = encrypted(id("C"));
    const c = convertEvent({ roomId: LM_ROOM, version: LM_ROOM_VERSION, eventId: id("E"), pdu: msg }, MX_ROOM, HUB);
    if (!c.ok) throw new Error(c.reason);
    const out = await withLocalCommit(c.conversion, { sourceRoomId: LM_ROOM, eventId: id("E"), version: LM_ROOM_VERSION, pdu: msg, commitJson: JSON.stringify(copy) }, MX_ROOM, noKeys);
    expect(out.content["commit_event_id"]).toBe(id("O"));
  });

  it("leaves the reference as it is when the target room holds no copy of the commit", async () => {
    const msg = encrypted(id("C"));
    const c = convertEvent({ roomId: LM_ROOM, version: LM_ROOM_VERSION, eventId: id("E"), pdu: msg }, MX_ROOM, HUB);
    if (!c.ok) throw new Error(c.reason);
    const commit = pdu("m.mls.commit", "@carol:p1.example", { message: commitMessage });
    const out = await withLocalCommit(c.conversion, { sourceRoomId: LM_ROOM, eventId: id("E"), version: LM_ROOM_VERSION, pdu: msg, commitJson: JSON.stringify(commit) }, MX_ROOM, noKeys);
    expect(out).toBe(c.conversion);
  });
});
