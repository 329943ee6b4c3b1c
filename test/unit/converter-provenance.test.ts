import { beforeAll, describe, expect, it } from "vitest";
import { encodeBase64 } from "../../shared/base64.js";
import type { JsonObject } from "../../shared/canonical-json.js";
import { carriedAs } from "../../shared/converter/carried-events.js";
import { checkProvenance } from "../../shared/converter/provenance-check.js";
import {
  convertedContent,
  mayConvertInto,
  originOf,
  PROVENANCE_KEY,
  provenanceChain,
  readProvenance,
  type ProvenanceBlock,
} from "../../shared/converter/provenance.js";
import type { Pdu } from "../../shared/event.js";
import type { KeyLookup } from "../../shared/event-signatures.js";
import { contentHash, eventIdOf, lpduContentHash } from "../../shared/hashes.js";
import { buildHubPdu, buildLpdu, completeLpduWithId, lpduFromPdu } from "../../shared/lpdu.js";
import { redactV12 } from "../../shared/redaction.js";
import { LM_ROOM_VERSION, ROOM_VERSION_12 } from "../../shared/room-versions.js";
import { signingBytes } from "../../shared/signed-json.js";
import { signingKeyFromSeed, type SigningKey } from "../../shared/signing-key.js";

const HUB = "hub.example";
const P1 = "p1.example";
const SYN = "syn.example";
const LM_ROOM = `!lm:${HUB}`;
const MX_ROOM = "!" + "M".repeat(43);
const LINKS = { authEvents: ["$" + "A".repeat(43)], prevEvents: ["$" + "B".repeat(43)] };
const CIPHERTEXT = "AwgAEoABbWVnb2xtIGNpcGhlcnRleHQgYnl0ZXMgdGhhdCBtdXN0IG5vdCBjaGFuZ2U";

let hubKey: SigningKey;
let p1Key: SigningKey;
let synKey: SigningKey;
let keys: KeyLookup;

beforeAll(async () => {
  hubKey = await signingKeyFromSeed(new Uint8Array(32).fill(21), "hub");
  p1Key = await signingKeyFromSeed(new Uint8Array(32).fill(22), "p1");
  synKey = await signingKeyFromSeed(new Uint8Array(32).fill(23), "syn");
  const table = new Map([
    [`${HUB} ${hubKey.keyId}`, hubKey.publicKey],
    [`${P1} ${p1Key.keyId}`, p1Key.publicKey],
    [`${SYN} ${synKey.keyId}`, synKey.publicKey],
  ]);
  keys = async (server, keyId) => table.get(`${server} ${keyId}`);
});

const fields = (sender: string, type: string, content: JsonObject, stateKey?: string) => ({
  room_id: LM_ROOM,
  type,
  sender,
  origin_server_ts: 1_700_000_000_000,
  content,
  ...(stateKey !== undefined ? { state_key: stateKey } : {}),
});

/** An LM event from a participant: its LPDU signed by p1, completed and signed by the hub. */
async function participantEvent(type: string, content: JsonObject, stateKey?: string): Promise<{ pdu: Pdu; eventId: string }> {
  const lpdu = await buildLpdu(fields(`@alice:${P1}`, type, content, stateKey), p1Key, HUB);
  return completeLpduWithId(lpdu, LINKS, HUB, hubKey, LM_ROOM_VERSION);
}

/** A room-v12 event of a Matrix user on another server, signed by that server. */
async function matrixEvent(content: JsonObject): Promise<{ pdu: Pdu; eventId: string }> {
  const base = { room_id: MX_ROOM, type: "m.room.message", sender: `@bob:${SYN}`, origin_server_ts: 1_700_000_000_500, content, depth: 7, auth_events: LINKS.authEvents, prev_events: LINKS.prevEvents };
  const hashed = { ...base, hashes: { sha256: await contentHash(base) } };
  const sig = encodeBase64(await synKey.sign(signingBytes(redactV12(hashed))));
  const pdu = { ...hashed, signatures: { [SYN]: { [synKey.keyId]: sig } } } as unknown as Pdu;
  return { pdu, eventId: await eventIdOf(pdu, ROOM_VERSION_12) };
}

const blockOf = (content: JsonObject): ProvenanceBlock => content[PROVENANCE_KEY] as unknown as ProvenanceBlock;
const clone = <T>(v: T): T => structuredClone(v);

describe("provenance block: LM -> Matrix", () => {
  it("carries the original content unchanged beside the block, ciphertext byte for byte", async () => {
    const original = { algorithm: "m.megolm.v1.aes-sha2", ciphertext: CIPHERTEXT, session_id: "s1", sender_key: "k", device_id: "D" };
    const { pdu, eventId } = await participantEvent("m.room.encrypted", original);
    const content = convertedContent(pdu, eventId, LM_ROOM, LM_ROOM_VERSION);
    const { [PROVENANCE_KEY]: block, ...rest } = content;
    expect(rest).toEqual(original);
    expect(content.ciphertext).toBe(CIPHERTEXT);
    expect(block).toMatchObject({ room_id: LM_ROOM, event_id: eventId, room_version: LM_ROOM_VERSION.id });
    // Redacted: a message keeps no content in the skeleton; hashes and signatures stay.
    expect(blockOf(content).event.content).toEqual({});
    expect(Object.keys(blockOf(content).event.signatures as object).sort()).toEqual([HUB, P1]);
    expect(blockOf(content).content).toBeUndefined();
  });

  it("lets an independent check rebuild the LM event, recompute its ID and verify the hub's and the sender's signatures", async () => {
    const { pdu, eventId } = await participantEvent("m.room.message", { msgtype: "m.text", body: "hello Matrix" });
    const content = convertedContent(pdu, eventId, LM_ROOM, LM_ROOM_VERSION);
    const check = await checkProvenance({ type: "m.room.message", content }, keys);
    expect(check.ok).toBe(true);
    if (check.ok) {
      expect(await eventIdOf(check.original, LM_ROOM_VERSION)).toBe(eventId);
      expect(check.original).toEqual(pdu);
    }
  });

  it("verifies an event the hub made for its own user (one signature covers both rules)", async () => {
    const pdu = await buildHubPdu(fields(`@carol:${HUB}`, "m.room.message", { body: "from the hub" }), LINKS, HUB, hubKey, LM_ROOM_VERSION);
    const eventId = await eventIdOf(pdu, LM_ROOM_VERSION);
    const check = await checkProvenance({ type: "m.room.message", content: convertedContent(pdu, eventId, LM_ROOM, LM_ROOM_VERSION) }, keys);
    expect(check).toMatchObject({ ok: true });
  });

  it("moves membership into the block's content and gives the ghost a plain join", async () => {
    const { pdu, eventId } = await participantEvent("m.room.member", { membership: "join", displayname: "Alice", "x.extra": 1 }, `@alice:${P1}`);
    const carried = carriedAs(pdu);
    if (carried?.kind !== "membership") throw new Error("membership expected");
    const content = convertedContent(pdu, eventId, LM_ROOM, LM_ROOM_VERSION, carried.content);
    expect(content.membership).toBe("join");
    expect(content.displayname).toBe("Alice");
    expect(content["x.extra"]).toBeUndefined();
    expect(blockOf(content).content).toEqual(pdu.content);
    expect(await checkProvenance({ type: "m.room.member", content }, keys)).toMatchObject({ ok: true });
  });
});

describe("provenance block: Matrix -> LM", () => {
  it("verifies a room v12 event by its sender's server signature", async () => {
    const { pdu, eventId } = await matrixEvent({ msgtype: "m.text", body: "hello LM" });
    const content = convertedContent(pdu, eventId, MX_ROOM, ROOM_VERSION_12);
    const check = await checkProvenance({ type: "m.room.message", content }, keys);
    expect(check).toMatchObject({ ok: true });
    expect(blockOf(content).room_version).toBe("12");
  });
});

describe("provenance check: tampering", () => {
  async function converted(): Promise<JsonObject> {
    const { pdu, eventId } = await participantEvent("m.room.encrypted", { algorithm: "m.megolm.v1.aes-sha2", ciphertext: CIPHERTEXT });
    return convertedContent(pdu, eventId, LM_ROOM, LM_ROOM_VERSION);
  }

  it("refuses a changed ciphertext (content hash)", async () => {
    const content = await converted();
    content.ciphertext = CIPHERTEXT.replace("A", "B");
    expect(await checkProvenance({ type: "m.room.encrypted", content }, keys)).toMatchObject({ ok: false, check: "content-hash" });
  });

  it("refuses an added content field (content hash)", async () => {
    const content = await converted();
    content.body = "injected";
    expect(await checkProvenance({ type: "m.room.encrypted", content }, keys)).toMatchObject({ ok: false, check: "content-hash" });
  });

  it("refuses a block naming another event ID", async () => {
    const content = await converted();
    blockOf(content).event_id = "$" + "C".repeat(43);
    expect(await checkProvenance({ type: "m.room.encrypted", content }, keys)).toMatchObject({ ok: false, check: "event-id" });
  });

  it("refuses a changed skeleton (its ID no longer matches)", async () => {
    const content = await converted();
    (blockOf(content).event as Record<string, unknown>).origin_server_ts = 1;
    expect(await checkProvenance({ type: "m.room.encrypted", content }, keys)).toMatchObject({ ok: false, check: "event-id" });
  });

  it("refuses a skeleton with a changed sender even when the block's ID is recomputed (signatures)", async () => {
    const content = await converted();
    const block = blockOf(content);
    (block.event as Record<string, unknown>).sender = `@mallory:${P1}`;
    const rebuilt = { ...(block.event as unknown as Pdu), content: { algorithm: "m.megolm.v1.aes-sha2", ciphertext: CIPHERTEXT } };
    // Both hashes made to fit the forgery, so only the signatures can tell.
    rebuilt.hashes = { lpdu: { sha256: await lpduContentHash(lpduFromPdu(rebuilt)) } };
    rebuilt.hashes.sha256 = await contentHash(rebuilt);
    block.event = { ...(rebuilt as unknown as JsonObject), content: {} };
    block.event_id = await eventIdOf(rebuilt, LM_ROOM_VERSION);
    const check = await checkProvenance({ type: "m.room.encrypted", content }, keys);
    expect(check).toMatchObject({ ok: false, check: "signatures" });
  });

  it("refuses an event without the hub's signature", async () => {
    const content = await converted();
    delete (blockOf(content).event.signatures as Record<string, unknown>)[HUB];
    expect(await checkProvenance({ type: "m.room.encrypted", content }, keys)).toMatchObject({ ok: false, check: "signatures" });
  });

  it("refuses an event without the sender's server signature over the LPDU", async () => {
    const content = await converted();
    delete (blockOf(content).event.signatures as Record<string, unknown>)[P1];
    const check = await checkProvenance({ type: "m.room.encrypted", content }, keys);
    expect(check).toMatchObject({ ok: false, check: "signatures" });
    expect(!check.ok && check.reason).toContain("sender-lpdu");
  });

  it("refuses when the signer's key is unknown to the checker", async () => {
    const content = await converted();
    const none: KeyLookup = async () => undefined;
    expect(await checkProvenance({ type: "m.room.encrypted", content }, none)).toMatchObject({ ok: false, check: "signatures" });
  });

  it("refuses a converted event of another type than the original", async () => {
    const content = await converted();
    expect(await checkProvenance({ type: "m.room.message", content }, keys)).toMatchObject({ ok: false, check: "type" });
  });

  it("refuses a block whose room is not the skeleton's", async () => {
    const content = await converted();
    blockOf(content).room_id = `!other:${HUB}`;
    expect(await checkProvenance({ type: "m.room.encrypted", content }, keys)).toMatchObject({ ok: false, check: "room" });
  });

  it("refuses content without a block, or with a malformed one", async () => {
    expect(await checkProvenance({ type: "m.room.message", content: { body: "x" } }, keys)).toMatchObject({ ok: false, check: "format" });
    const content = await converted();
    blockOf(content).room_version = "99";
    expect(await checkProvenance({ type: "m.room.encrypted", content }, keys)).toMatchObject({ ok: false, check: "format" });
    expect(readProvenance({ [PROVENANCE_KEY]: "nope" })).toBeUndefined();
  });
});

describe("provenance chain and the loop rule", () => {
  it("never converts an event back into a room on its chain (L -> D -> L)", async () => {
    const { pdu, eventId } = await participantEvent("m.room.message", { body: "round trip" });
    const inD = convertedContent(pdu, eventId, LM_ROOM, LM_ROOM_VERSION);
    expect(mayConvertInto(pdu.content, MX_ROOM)).toBe(true);
    expect(mayConvertInto(inD, LM_ROOM)).toBe(false);
    expect(mayConvertInto(inD, `!third:${HUB}`)).toBe(true);
  });

  it("nests the earlier block when an already converted event crosses again, and both checks pass", async () => {
    const { pdu: lmPdu, eventId: lmId } = await participantEvent("m.room.message", { body: "two hops" });
    const inD = convertedContent(lmPdu, lmId, LM_ROOM, LM_ROOM_VERSION);
    // The copy in D, as the hub's service user sends it in the Matrix room.
    const dBase = { room_id: MX_ROOM, type: "m.room.message", sender: `@_lm_alice=3ap1.example:${SYN}`, origin_server_ts: 1_700_000_000_900, content: inD, depth: 8, auth_events: LINKS.authEvents, prev_events: LINKS.prevEvents };
    const hashed = { ...dBase, hashes: { sha256: await contentHash(dBase) } };
    const dPdu = { ...hashed, signatures: { [SYN]: { [synKey.keyId]: encodeBase64(await synKey.sign(signingBytes(redactV12(hashed)))) } } } as unknown as Pdu;
    const dId = await eventIdOf(dPdu, ROOM_VERSION_12);
    const third = `!third:${HUB}`;
    const inThird = convertedContent(dPdu, dId, MX_ROOM, ROOM_VERSION_12);
    expect(provenanceChain(inThird)).toEqual([
      { roomId: MX_ROOM, eventId: dId },
      { roomId: LM_ROOM, eventId: lmId },
    ]);
    expect(mayConvertInto(inThird, LM_ROOM)).toBe(false);
    expect(mayConvertInto(inThird, third)).toBe(true);
    expect(originOf(inThird, third, "$x")).toEqual({ roomId: LM_ROOM, eventId: lmId });
    const outer = await checkProvenance({ type: "m.room.message", content: inThird }, keys);
    expect(outer.ok).toBe(true);
    if (outer.ok) expect(await checkProvenance({ type: "m.room.message", content: outer.original.content }, keys)).toMatchObject({ ok: true });
  });

  it("refuses to convert an event whose chain cannot be read", () => {
    expect(mayConvertInto({ body: "x", [PROVENANCE_KEY]: { room_id: 5 } }, MX_ROOM)).toBe(false);
    const deep: JsonObject = { body: "x" };
    let cur = deep;
    for (let i = 0; i < 20; i++) {
      const inner: JsonObject = {};
      cur[PROVENANCE_KEY] = { room_id: `!r${i}:${HUB}`, event_id: "$" + "E".repeat(43), room_version: "12", event: {}, content: inner };
      cur = inner;
    }
    expect(provenanceChain(deep)).toBeUndefined();
    expect(mayConvertInto(clone(deep), MX_ROOM)).toBe(false);
  });
});
