import { describe, expect, it } from "vitest";
import { encodeBase64, encodeBase64Url } from "../../shared/base64.js";
import type { JsonObject } from "../../shared/canonical-json.js";
import { carriedAs } from "../../shared/converter/carried-events.js";
import { dedupKeyOf } from "../../shared/converter/dedup-key.js";
import { isNamedConverter, PAIR_EVENT, pairContent, parsePairing } from "../../shared/converter/pairing.js";
import { PROVENANCE_KEY } from "../../shared/converter/provenance.js";
import type { Pdu } from "../../shared/event.js";
import { sha256 } from "../../shared/hashes.js";

const LM_ROOM = "!lm:hub.example";
const MX_ROOM = "!" + "M".repeat(43);
const EV = "$" + "E".repeat(43);

const event = (type: string, content: JsonObject, stateKey?: string): Pdu =>
  ({ type, content, sender: "@alice:p1.example", room_id: LM_ROOM, origin_server_ts: 1, hashes: {}, signatures: {}, auth_events: [], prev_events: [], ...(stateKey !== undefined ? { state_key: stateKey } : {}) }) as Pdu;

describe("dedup keys", () => {
  const bytes = new Uint8Array([3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5]);

  it("keys an encrypted event by SHA-256 of its decoded ciphertext, the same in any room under any event ID", async () => {
    const expected = `ct:${encodeBase64Url(await sha256(bytes))}`;
    const ct = encodeBase64(bytes);
    expect(await dedupKeyOf(event("m.room.encrypted", { algorithm: "m.megolm.v1.aes-sha2", ciphertext: ct }), LM_ROOM, EV)).toBe(expected);
    expect(await dedupKeyOf(event("m.room.encrypted", { ciphertext: ct, [PROVENANCE_KEY]: { any: 1 } }), MX_ROOM, "$other")).toBe(expected);
    // Padding does not change the bytes, so it does not change the key.
    expect(await dedupKeyOf(event("m.room.encrypted", { ciphertext: ct + "=" }), LM_ROOM, EV)).toBe(expected);
  });

  it("keys an MLS commit by its message bytes, and a different ciphertext differently", async () => {
    const k1 = await dedupKeyOf(event("m.mls.commit", { message: encodeBase64(bytes) }), LM_ROOM, EV);
    expect(k1).toBe(`ct:${encodeBase64Url(await sha256(bytes))}`);
    const k2 = await dedupKeyOf(event("m.room.encrypted", { ciphertext: encodeBase64(bytes.slice(1)) }), LM_ROOM, EV);
    expect(k2).not.toBe(k1);
  });

  it("has no key for an encrypted event whose ciphertext is not base64", async () => {
    expect(await dedupKeyOf(event("m.room.encrypted", { ciphertext: "not base64!" }), LM_ROOM, EV)).toBeUndefined();
    expect(await dedupKeyOf(event("m.room.encrypted", { ciphertext: { curve: "olm" } }), LM_ROOM, EV)).toBeUndefined();
  });

  it("keys any other event by the room and event ID it started from", async () => {
    expect(await dedupKeyOf(event("m.room.message", { body: "hi" }), LM_ROOM, EV)).toBe(`ev:${LM_ROOM} ${EV}`);
    const copy = { body: "hi", [PROVENANCE_KEY]: { room_id: LM_ROOM, event_id: EV, room_version: "12", event: {} } };
    // The copy in the Matrix room has the same key as the original, so it is a replay in either room.
    expect(await dedupKeyOf(event("m.room.message", copy), MX_ROOM, "$copy")).toBe(`ev:${LM_ROOM} ${EV}`);
    expect(await dedupKeyOf(event("m.room.message", { [PROVENANCE_KEY]: "broken" }), MX_ROOM, "$copy")).toBeUndefined();
  });

  it("keys a membership copy per member, so two converters' ghosts of one user each join and leave", async () => {
    const block = { [PROVENANCE_KEY]: { room_id: MX_ROOM, event_id: EV, room_version: "12", event: {} } };
    const hubGhost = await dedupKeyOf(event("m.room.member", { membership: "leave", ...block }, "@_mx_dave=3am.example:hub.example"), LM_ROOM, "$a");
    const secondGhost = await dedupKeyOf(event("m.room.member", { membership: "leave", ...block }, "@_mx_dave=3am.example:second.example"), LM_ROOM, "$b");
    expect(hubGhost).toBe(`ev:${MX_ROOM} ${EV} @_mx_dave=3am.example:hub.example`);
    expect(secondGhost).not.toBe(hubGhost);
    // The same ghost's copy from anywhere is still one key.
    expect(await dedupKeyOf(event("m.room.member", { membership: "leave", ...block }, "@_mx_dave=3am.example:hub.example"), LM_ROOM, "$c")).toBe(hubGhost);
  });
});

describe("pairing state event", () => {
  it("reads a well-formed pairing, named by the peer room in the state key", () => {
    const content = pairContent({ peerRoomVersion: "12", converters: ["hub.example"] });
    expect(parsePairing(MX_ROOM, content)).toEqual({ paired: true, pairing: { peerRoomId: MX_ROOM, peerRoomVersion: "12", converters: ["hub.example"] } });
    expect(PAIR_EVENT).toBe("io.switchboard.pair");
  });

  it("reads empty content as unpaired", () => {
    expect(parsePairing(MX_ROOM, {})).toEqual({ paired: false });
  });

  it.each([
    ["a state key that is not a room", "nope", { peer_room_version: "12", converters: ["hub.example"] }],
    ["an unknown version", MX_ROOM, { peer_room_version: "99", converters: ["hub.example"] }],
    ["no converters", MX_ROOM, { peer_room_version: "12", converters: [] }],
    ["converters not a list", MX_ROOM, { peer_room_version: "12", converters: "hub.example" }],
    ["a converter that is no server name", MX_ROOM, { peer_room_version: "12", converters: ["hub example"] }],
    ["a repeated converter", MX_ROOM, { peer_room_version: "12", converters: ["a.example", "a.example"] }],
    ["too many converters", MX_ROOM, { peer_room_version: "12", converters: Array.from({ length: 9 }, (_, i) => `c${i}.example`) }],
  ])("refuses %s", (_name, stateKey, content) => {
    expect(parsePairing(stateKey, content)).toHaveProperty("error");
  });

  it("names which servers may write provenance-carrying events", () => {
    const pairings = [{ peerRoomId: MX_ROOM, peerRoomVersion: "12", converters: ["hub.example", "hub2.example"] }];
    expect(isNamedConverter(pairings, "hub2.example")).toBe(true);
    expect(isNamedConverter(pairings, "p1.example")).toBe(false);
    expect(isNamedConverter([], "hub.example")).toBe(false);
  });
});

describe("carried events", () => {
  it("carries messages, encrypted messages and MLS commits, not as state", () => {
    for (const type of ["m.room.message", "m.room.encrypted", "m.mls.commit"]) {
      expect(carriedAs(event(type, {}))).toEqual({ kind: "message" });
      expect(carriedAs(event(type, {}, ""))).toBeUndefined();
    }
  });

  it("carries the room name and topic, and no other state", () => {
    expect(carriedAs(event("m.room.name", { name: "n" }, ""))).toEqual({ kind: "state" });
    expect(carriedAs(event("m.room.topic", { topic: "t" }, ""))).toEqual({ kind: "state" });
    for (const type of ["m.room.power_levels", "m.room.join_rules", "m.room.create", PAIR_EVENT, "m.room.redaction", "m.reaction"]) {
      expect(carriedAs(event(type, {}, type === "m.room.redaction" || type === "m.reaction" ? undefined : ""))).toBeUndefined();
    }
  });

  it("turns joins into joins, leaves and kicks into leaves and bans into bans of the member; invites and knocks stay", () => {
    const target = "@bob:p2.example";
    expect(carriedAs(event("m.room.member", { membership: "join", displayname: "Bob", avatar_url: "mxc://a/b", reason: 5 }, target))).toEqual({
      kind: "membership",
      target,
      membership: "join",
      content: { membership: "join", displayname: "Bob", avatar_url: "mxc://a/b" },
    });
    expect(carriedAs(event("m.room.member", { membership: "leave", reason: "spam" }, target))).toEqual({ kind: "membership", target, membership: "leave", content: { membership: "leave" } });
    expect(carriedAs(event("m.room.member", { membership: "ban", reason: "spam" }, target))).toEqual({ kind: "membership", target, membership: "ban", content: { membership: "ban", reason: "spam" } });
    for (const m of ["invite", "knock", "bogus"]) expect(carriedAs(event("m.room.member", { membership: m }, target))).toBeUndefined();
  });
});
