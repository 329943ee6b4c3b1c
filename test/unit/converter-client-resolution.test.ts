import { beforeAll, describe, expect, it } from "vitest";
import { encodeBase64 } from "../../shared/base64.js";
import type { JsonObject } from "../../shared/canonical-json.js";
import { originEventOf, realMemberOf } from "../../shared/converter/client-resolution.js";
import { ghostUserId } from "../../shared/converter/ghost-user.js";
import { convertedContent } from "../../shared/converter/provenance.js";
import type { Pdu } from "../../shared/event.js";
import type { KeyLookup } from "../../shared/event-signatures.js";
import { contentHash, eventIdOf } from "../../shared/hashes.js";
import { buildLpdu, completeLpduWithId } from "../../shared/lpdu.js";
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
const MEGOLM = { algorithm: "m.megolm.v1.aes-sha2", ciphertext: "AwgAEoABbWVnb2xtIGJ5dGVz", session_id: "s1", sender_key: "k", device_id: "CAROLPHONE" };
const CAROL = `@carol:${P1}`;
const SAM = `@sam:${SYN}`;

let hubKey: SigningKey;
let p1Key: SigningKey;
let synKey: SigningKey;
let keys: KeyLookup;

beforeAll(async () => {
  hubKey = await signingKeyFromSeed(new Uint8Array(32).fill(31), "hub");
  p1Key = await signingKeyFromSeed(new Uint8Array(32).fill(32), "p1");
  synKey = await signingKeyFromSeed(new Uint8Array(32).fill(33), "syn");
  const table = new Map([
    [`${HUB} ${hubKey.keyId}`, hubKey.publicKey],
    [`${P1} ${p1Key.keyId}`, p1Key.publicKey],
    [`${SYN} ${synKey.keyId}`, synKey.publicKey],
  ]);
  keys = async (server, keyId) => table.get(`${server} ${keyId}`);
});

/** Carol's encrypted LM event (her server's LPDU completed by the hub) as its Matrix-side copy carries it. */
async function lmCopy(): Promise<{ content: JsonObject; eventId: string; pdu: Pdu }> {
  const lpdu = await buildLpdu({ room_id: LM_ROOM, type: "m.room.encrypted", sender: CAROL, origin_server_ts: 1_700_000_000_000, content: MEGOLM }, p1Key, HUB);
  const { pdu, eventId } = await completeLpduWithId(lpdu, LINKS, HUB, hubKey, LM_ROOM_VERSION);
  return { content: convertedContent(pdu, eventId, LM_ROOM, LM_ROOM_VERSION), eventId, pdu };
}

/** Sam's encrypted v12 event as its LM-side copy carries it. */
async function mxCopy(): Promise<{ content: JsonObject; eventId: string }> {
  const base = { room_id: MX_ROOM, type: "m.room.encrypted", sender: SAM, origin_server_ts: 1_700_000_000_500, content: { ...MEGOLM, device_id: "SAMLAPTOP" }, depth: 7, auth_events: LINKS.authEvents, prev_events: LINKS.prevEvents };
  const hashed = { ...base, hashes: { sha256: await contentHash(base) } };
  const sig = encodeBase64(await synKey.sign(signingBytes(redactV12(hashed))));
  const pdu = { ...hashed, signatures: { [SYN]: { [synKey.keyId]: sig } } } as unknown as Pdu;
  const eventId = await eventIdOf(pdu, ROOM_VERSION_12);
  return { content: convertedContent(pdu, eventId, MX_ROOM, ROOM_VERSION_12), eventId };
}

describe("a client resolves ghost members to the users they stand for", () => {
  it("maps a ghost of a converter the pairing names to its real user, both kinds", () => {
    expect(realMemberOf(ghostUserId("mx", SAM, HUB) as string, [HUB])).toBe(SAM);
    expect(realMemberOf(ghostUserId("lm", CAROL, HUB) as string, [HUB])).toBe(CAROL);
  });

  it("takes ghost-shaped names of servers the pairing does not name, ordinary users and non-user strings as they are", () => {
    const ghostElsewhere = ghostUserId("mx", SAM, "other.example") as string;
    expect(realMemberOf(ghostElsewhere, [HUB])).toBe(ghostElsewhere);
    expect(realMemberOf(CAROL, [HUB])).toBe(CAROL);
    expect(realMemberOf(`@_mx_=zz:${HUB}`, [HUB])).toBe(`@_mx_=zz:${HUB}`);
    expect(realMemberOf("not a user", [HUB])).toBe("not a user");
  });
});

describe("a client rebuilds the original of a converted encrypted event to decrypt it", () => {
  it("gives the LM original (origin room, real sender, signed event ID, ciphertext as sent) for the copy sent by its ghost", async () => {
    const { content, eventId, pdu } = await lmCopy();
    const result = await originEventOf({ type: "m.room.encrypted", sender: ghostUserId("lm", CAROL, HUB) as string, content }, [HUB], keys);
    expect(result).toEqual({ ok: true, event: { event_id: eventId, room_id: LM_ROOM, sender: CAROL, type: "m.room.encrypted", content: MEGOLM, origin_server_ts: pdu.origin_server_ts } });
  });

  it("gives the Matrix original for the LM copy sent by the Matrix user's ghost", async () => {
    const { content, eventId } = await mxCopy();
    const result = await originEventOf({ type: "m.room.encrypted", sender: ghostUserId("mx", SAM, HUB) as string, content }, [HUB], keys);
    expect(result).toMatchObject({ ok: true, event: { event_id: eventId, room_id: MX_ROOM, sender: SAM } });
  });

  it("accepts the real user as the copy's sender when the hub converted its own user's event", async () => {
    const { content } = await lmCopy();
    expect(await originEventOf({ type: "m.room.encrypted", sender: CAROL, content }, [HUB], keys)).toMatchObject({ ok: true });
  });

  it("refuses a copy whose sender is another user's ghost, or a ghost of a server the pairing does not name", async () => {
    const { content } = await lmCopy();
    const other = await originEventOf({ type: "m.room.encrypted", sender: ghostUserId("lm", `@mallory:${P1}`, HUB) as string, content }, [HUB], keys);
    expect(other).toMatchObject({ ok: false, reason: expect.stringMatching(/does not stand for/) });
    const unnamed = await originEventOf({ type: "m.room.encrypted", sender: ghostUserId("lm", CAROL, "evil.example") as string, content }, [HUB], keys);
    expect(unnamed).toMatchObject({ ok: false });
  });

  it("refuses a copy whose ciphertext, type or provenance does not verify", async () => {
    const { content } = await lmCopy();
    const sender = ghostUserId("lm", CAROL, HUB) as string;
    expect(await originEventOf({ type: "m.room.encrypted", sender, content: { ...content, ciphertext: "AwgAEoABb3RoZXIgYnl0ZXM" } }, [HUB], keys)).toMatchObject({ ok: false, reason: expect.stringMatching(/content-hash/) });
    expect(await originEventOf({ type: "m.room.message", sender, content }, [HUB], keys)).toMatchObject({ ok: false, reason: expect.stringMatching(/type/) });
    expect(await originEventOf({ type: "m.room.encrypted", sender, content: MEGOLM }, [HUB], keys)).toMatchObject({ ok: false, reason: expect.stringMatching(/format/) });
    const noKeys: KeyLookup = async () => undefined;
    expect(await originEventOf({ type: "m.room.encrypted", sender, content }, [HUB], noKeys)).toMatchObject({ ok: false, reason: expect.stringMatching(/signatures/) });
  });
});
