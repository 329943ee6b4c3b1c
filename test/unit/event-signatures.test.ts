import { beforeAll, describe, expect, it } from "vitest";
import { encodeBase64 } from "../../shared/base64.js";
import type { Pdu } from "../../shared/event.js";
import {
  checkContentHashes,
  checkLpduContentHash,
  verifyEventSignatures,
  verifyLpduSignature,
  verifyServerSignedEvent,
} from "../../shared/event-signatures.js";
import type { KeyLookup } from "../../shared/event-signatures.js";
import { contentHash } from "../../shared/hashes.js";
import { buildHubPdu, buildLpdu, completeLpdu, lpduFromPdu } from "../../shared/lpdu.js";
import { redactLm, redactV11 } from "../../shared/redaction.js";
import { signJson, signingBytes } from "../../shared/signed-json.js";
import type { SigningKey } from "../../shared/signing-key.js";
import { signingKeyFromSeed } from "../../shared/signing-key.js";

const HUB = "hub.example";
const P1 = "p1.example";
const P2 = "p2.example";
const LM = { redact: redactLm, linearized: true } as const;
const V11 = { redact: redactV11, linearized: false } as const;
const LINKS = { authEvents: ["$" + "A".repeat(43)], prevEvents: ["$" + "B".repeat(43)] };

let hubKey: SigningKey;
let hubOldKey: SigningKey;
let p1Key: SigningKey;
let p2Key: SigningKey;
let keys: KeyLookup;
let completed: Pdu;

beforeAll(async () => {
  hubKey = await signingKeyFromSeed(new Uint8Array(32).fill(11), "new");
  hubOldKey = await signingKeyFromSeed(new Uint8Array(32).fill(12), "old");
  p1Key = await signingKeyFromSeed(new Uint8Array(32).fill(13), "p1");
  p2Key = await signingKeyFromSeed(new Uint8Array(32).fill(14), "p2");
  const table = new Map([
    [`${HUB} ${hubKey.keyId}`, hubKey.publicKey],
    [`${HUB} ${hubOldKey.keyId}`, hubOldKey.publicKey],
    [`${P1} ${p1Key.keyId}`, p1Key.publicKey],
    [`${P2} ${p2Key.keyId}`, p2Key.publicKey],
  ]);
  keys = async (server, keyId) => table.get(`${server} ${keyId}`);
  completed = await completeLpdu(await buildLpdu(message(`@alice:${P1}`), p1Key, HUB), LINKS, HUB, hubKey, LM);
});

function message(sender: string) {
  return { room_id: `!r:${HUB}`, type: "m.room.message", sender, origin_server_ts: 1_700_000_000_000, content: { body: "hi" } };
}

/** A signature by `key` over the redacted form of `obj`, as an unpadded base64 string. */
async function sigOver(obj: object, key: SigningKey): Promise<string> {
  return encodeBase64(await key.sign(signingBytes(redactLm(obj))));
}

const clone = <T>(v: T): any => structuredClone(v);

/** An event made outside a hub: no hub_server, the sender's server signs the redacted PDU. */
async function plainEvent(senderKey: SigningKey, senderServer: string, redact = redactLm): Promise<Pdu> {
  const ev = { ...message(`@bob:${senderServer}`), auth_events: LINKS.authEvents, prev_events: LINKS.prevEvents, hashes: {} as Pdu["hashes"], signatures: {} };
  ev.hashes = { sha256: await contentHash(ev) };
  const signed = await signJson(redact(ev), senderServer, senderKey);
  return { ...ev, signatures: signed.signatures } as Pdu;
}

describe("LM auth rule 1: the sender's server signs (the LPDU when a hub completed the event)", () => {
  it("LM auth rule 1: accepts the participant's signature over the redacted LPDU", async () => {
    expect(await verifyEventSignatures(completed, LM, keys)).toEqual({ ok: true });
  });

  it("LM auth rule 1: accepts a hub-created event whose sender's server is the hub (one signature over the PDU)", async () => {
    const pdu = await buildHubPdu(message(`@admin:${HUB}`), LINKS, HUB, hubKey, LM);
    expect(await verifyEventSignatures(pdu, LM, keys)).toEqual({ ok: true });
  });

  it("LM auth rule 1: accepts an event made outside a hub, signed by the sender's server over the PDU", async () => {
    expect(await verifyEventSignatures(await plainEvent(p2Key, P2), LM, keys)).toEqual({ ok: true });
  });

  it("LM auth rule 1: rejects a missing sender signature", async () => {
    const pdu = clone(completed);
    delete pdu.signatures[P1];
    expect(await verifyEventSignatures(pdu, LM, keys)).toMatchObject({ ok: false, check: "sender-lpdu" });
  });

  it("LM auth rule 1: rejects a sender signature over the PDU instead of the LPDU", async () => {
    const pdu = clone(completed);
    pdu.signatures[P1][p1Key.keyId] = await sigOver(pdu, p1Key);
    expect(await verifyEventSignatures(pdu, LM, keys)).toMatchObject({ ok: false, check: "sender-lpdu" });
  });

  it("LM auth rule 1: rejects when only another server signed the LPDU", async () => {
    const pdu = clone(completed);
    delete pdu.signatures[P1];
    pdu.signatures[P2] = { [p2Key.keyId]: await sigOver(lpduFromPdu(pdu), p2Key) };
    expect(await verifyEventSignatures(pdu, LM, keys)).toMatchObject({ ok: false, check: "sender-lpdu" });
  });

  it("LM auth rule 1: rejects a sender signature under a key that cannot be resolved", async () => {
    const pdu = clone(completed);
    pdu.signatures[P1] = { "ed25519:unknown": pdu.signatures[P1][p1Key.keyId] };
    expect(await verifyEventSignatures(pdu, LM, keys)).toMatchObject({ ok: false, check: "sender-lpdu" });
  });

  it("LM auth rule 1: rejects an event made outside a hub that its sender's server did not sign", async () => {
    const pdu = clone(await plainEvent(p2Key, P2));
    pdu.signatures = { [P1]: { [p1Key.keyId]: await sigOver(pdu, p1Key) } };
    expect(await verifyEventSignatures(pdu, LM, keys)).toMatchObject({ ok: false, check: "sender-pdu" });
  });

  it("LM auth rule 1: rejects a hub-created event whose hub signature is over the LPDU only", async () => {
    const pdu = clone(await buildHubPdu(message(`@admin:${HUB}`), LINKS, HUB, hubKey, LM));
    pdu.signatures[HUB][hubKey.keyId] = await sigOver(lpduFromPdu(pdu), hubKey);
    expect(await verifyEventSignatures(pdu, LM, keys)).toMatchObject({ ok: false, check: "hub-pdu" });
  });
});

describe("LM auth rule 2: the hub_server signs the redacted PDU", () => {
  it("LM auth rule 2: accepts the hub's signature over the redacted PDU", async () => {
    expect(await verifyEventSignatures(completed, LM, keys)).toEqual({ ok: true });
  });

  it("LM auth rule 2: accepts a signature by an older hub key beside a new one", async () => {
    const pdu = clone(completed);
    pdu.signatures[HUB][hubOldKey.keyId] = await sigOver(pdu, hubOldKey);
    expect(await verifyEventSignatures(pdu, LM, keys)).toEqual({ ok: true });
  });

  it("LM auth rule 2: rejects a missing hub signature", async () => {
    const pdu = clone(completed);
    delete pdu.signatures[HUB];
    expect(await verifyEventSignatures(pdu, LM, keys)).toMatchObject({ ok: false, check: "hub-pdu" });
  });

  it("LM auth rule 2: rejects a hub signature over the LPDU instead of the PDU", async () => {
    const pdu = clone(completed);
    pdu.signatures[HUB][hubKey.keyId] = await sigOver(lpduFromPdu(pdu), hubKey);
    expect(await verifyEventSignatures(pdu, LM, keys)).toMatchObject({ ok: false, check: "hub-pdu" });
  });

  it("LM auth rule 2: rejects when a server other than hub_server signed the PDU", async () => {
    const pdu = clone(completed);
    delete pdu.signatures[HUB];
    pdu.signatures[P2] = { [p2Key.keyId]: await sigOver(pdu, p2Key) };
    expect(await verifyEventSignatures(pdu, LM, keys)).toMatchObject({ ok: false, check: "hub-pdu" });
  });

  it("LM auth rule 2: rejects a hub_server that is not a server name", async () => {
    const pdu = clone(completed);
    pdu.hub_server = "not a server";
    expect(await verifyEventSignatures(pdu, LM, keys)).toMatchObject({ ok: false, check: "format" });
  });
});

describe("signature acceptance rule: at least one resolvable signature verifies", () => {
  it("skips signatures under unknown keys and non-ed25519 algorithms", async () => {
    const pdu = clone(completed);
    pdu.signatures[HUB]["ed25519:gone"] = "AAAA";
    pdu.signatures[HUB]["curve25519:x"] = "AAAA";
    expect(await verifyEventSignatures(pdu, LM, keys)).toEqual({ ok: true });
  });

  it("passes when one resolvable signature fails and another verifies", async () => {
    const pdu = clone(completed);
    pdu.signatures[HUB][hubOldKey.keyId] = pdu.signatures[HUB][hubKey.keyId];
    expect(await verifyEventSignatures(pdu, LM, keys)).toEqual({ ok: true });
  });

  it("fails when every resolvable signature fails", async () => {
    const pdu = clone(completed);
    pdu.signatures[HUB] = { [hubKey.keyId]: pdu.signatures[P1][p1Key.keyId], [hubOldKey.keyId]: "!!not base64!!" };
    expect(await verifyEventSignatures(pdu, LM, keys)).toMatchObject({ ok: false, check: "hub-pdu" });
  });

  it("ignores other servers' signatures, valid or not", async () => {
    const pdu = clone(completed);
    pdu.signatures[P2] = { [p2Key.keyId]: "garbage", "ed25519:x": 5 };
    pdu.signatures["not a server"] = "junk";
    expect(await verifyEventSignatures(pdu, LM, keys)).toEqual({ ok: true });
  });

  it("treats a key lookup that throws as an unresolvable key", async () => {
    const throwing: KeyLookup = async () => {
      throw new Error("network down");
    };
    expect(await verifyEventSignatures(completed, LM, throwing)).toMatchObject({ ok: false, check: "sender-lpdu" });
  });
});

describe("Matrix room versions", () => {
  it("require only the sender's server, over the v11-redacted event, and do not protect hub_server", async () => {
    const ev = await plainEvent(p2Key, P2, redactV11);
    expect(await verifyEventSignatures(ev, V11, keys)).toEqual({ ok: true });
    const withHub = { ...ev, hub_server: HUB };
    expect(await verifyEventSignatures(withHub, V11, keys)).toEqual({ ok: true });
    expect(await verifyEventSignatures({ ...ev, sender: `@bob:${P1}` }, V11, keys)).toMatchObject({ ok: false, check: "sender-pdu" });
  });

  it("verifyServerSignedEvent checks one named server's signature over the redacted event", async () => {
    const ev = await plainEvent(p2Key, P2, redactV11);
    expect(await verifyServerSignedEvent(ev, P2, V11, keys)).toBe(true);
    expect(await verifyServerSignedEvent(ev, P1, V11, keys)).toBe(false);
    expect(await verifyServerSignedEvent("junk", P2, V11, keys)).toBe(false);
  });
});

describe("hostile input never throws", () => {
  const junk: unknown[] = [
    null,
    undefined,
    "event",
    42,
    [],
    {},
    { sender: 5 },
    { sender: "@a:p1.example", signatures: "x" },
    { sender: "@a:p1.example", signatures: { "p1.example": ["x"] } },
    { sender: "@a:p1.example", hub_server: 7 },
    { sender: "@a:p1.example", hub_server: "hub.example", hashes: 3, content: { n: 1.5 } },
    { sender: "@a:p1.example", content: { n: 1.5 }, signatures: { "p1.example": { "ed25519:p1": "AAAA" } } },
  ];

  it.each(junk.map((j) => [JSON.stringify(j) ?? String(j), j]))("verifyEventSignatures(%s)", async (_n, j) => {
    const r = await verifyEventSignatures(j, LM, keys);
    expect(r.ok).toBe(false);
    expect(await verifyEventSignatures(j, V11, keys)).toMatchObject({ ok: false });
  });

  it.each(junk.map((j) => [JSON.stringify(j) ?? String(j), j]))("verifyLpduSignature / hash checks (%s)", async (_n, j) => {
    expect((await verifyLpduSignature(j, keys)).ok).toBe(false);
    expect((await checkContentHashes(j)).ok).toBe(false);
    expect(await checkLpduContentHash(j)).toBe(false);
  });
});

describe("verifyLpduSignature (the hub receiving an LPDU)", () => {
  it("accepts the sender's server's signature and rejects a changed or foreign one", async () => {
    const lpdu = await buildLpdu(message(`@alice:${P1}`), p1Key, HUB);
    expect(await verifyLpduSignature(lpdu, keys)).toEqual({ ok: true });
    expect(await verifyLpduSignature({ ...lpdu, origin_server_ts: 1 }, keys)).toMatchObject({ ok: false, check: "sender-lpdu" });
    const foreign = await buildLpdu(message(`@alice:${P1}`), p2Key, HUB); // signed with P2's key under P1's name
    expect(await verifyLpduSignature(foreign, keys)).toMatchObject({ ok: false, check: "sender-lpdu" });
  });
});

describe("checkContentHashes", () => {
  it("reports the PDU and LPDU hashes separately", async () => {
    expect(await checkContentHashes(completed)).toEqual({ ok: true, pdu: true, lpdu: true });
    const wrongPdu = clone(completed);
    wrongPdu.hashes.sha256 = wrongPdu.hashes.lpdu.sha256;
    expect(await checkContentHashes(wrongPdu)).toEqual({ ok: false, pdu: false, lpdu: true });
  });

  it("has no LPDU verdict for an event without a hub, and fails one with a hub but no LPDU hash", async () => {
    const plain = await plainEvent(p2Key, P2);
    expect(await checkContentHashes(plain)).toEqual({ ok: true, pdu: true });
    const noLpdu = { ...plain, hub_server: HUB };
    expect(await checkContentHashes(noLpdu)).toMatchObject({ ok: false, lpdu: false });
  });

  it("accepts padded base64 for the same hash", async () => {
    const padded = clone(completed);
    padded.hashes.sha256 += "=";
    expect((await checkContentHashes(padded)).pdu).toBe(true);
  });
});
