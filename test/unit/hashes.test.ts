import { describe, expect, it } from "vitest";
import { decodeBase64, decodeBase64Url, encodeBase64Url } from "../../shared/base64.js";
import { canonicalJsonBytes } from "../../shared/canonical-json.js";
import { contentHash, eventIdOf, lpduContentHash, referenceHash, roomIdFromCreateEvent, sha256 } from "../../shared/hashes.js";
import { redactLm, redactV11, redactV12 } from "../../shared/redaction.js";
import { signJson } from "../../shared/signed-json.js";
import { signingKeyFromSeed } from "../../shared/signing-key.js";

// Matrix specification appendices, "Cryptographic Test Vectors" (https://spec.matrix.org/latest/appendices/#cryptographic-test-vectors: "Signing Key", "Event Signing").
const SPEC_SEED = decodeBase64("YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1");
const SPEC_SERVER = "domain";

const E1 = {
  room_id: "!x:domain",
  sender: "@a:domain",
  origin: "domain",
  origin_server_ts: 1000000,
  signatures: {},
  hashes: {},
  type: "X",
  content: {},
  prev_events: [],
  auth_events: [],
  depth: 3,
  unsigned: { age_ts: 1000000 },
};
const E1_HASH = "5jM4wQpv6lnBo7CLIghJuHdW+s2CMBJPUOGOC89ncos";
const E1_SIG = "KxwGjPSDEtvnFgU00fwFz+l6d2pJM6XBIaMEn81SXPTRl16AqLAYqfIReFGZlHi5KLjAWbOoMszkwsQma+lYAg";

const E2 = {
  content: { body: "Here is the message content" },
  event_id: "$0:domain",
  origin: "domain",
  origin_server_ts: 1000000,
  type: "m.room.message",
  room_id: "!r:domain",
  sender: "@u:domain",
  signatures: {},
  unsigned: { age_ts: 1000000 },
};
const E2_HASH = "onLKD1bGljeBWQhWZ1kaP9SorVmRQNdN5aM2JYU2n/g";
const E2_SIG = "Wm+VzmOUOz08Ds+0NTWb1d4CZrVsJSikkeRxh6aCcUwu6pNC78FunoD7KNWzqFn241eYHYMGCA5McEiVPdhzBA";

/**
 * PRE-V11 REDACTION, built for these vectors only: the spec's event-signing vectors were made
 * with room-version-10-style redaction, which keeps top-level `origin`. For these two events
 * (types "X" and m.room.message, no membership/prev_state keys) that is v11 redaction plus `origin`.
 */
function preV11RedactionForSpecVectors<T extends { origin?: string }>(event: T): Partial<T> {
  const redacted = redactV11(event);
  return event.origin === undefined ? redacted : { ...redacted, origin: event.origin };
}

/** Signs an event the way the spec vectors were made: over the redacted event, with the spec key. */
async function specSignature(event: { origin?: string }, withHash: object): Promise<string | undefined> {
  const key = await signingKeyFromSeed(SPEC_SEED, "1");
  const signed = await signJson(preV11RedactionForSpecVectors({ ...event, ...withHash }), SPEC_SERVER, key);
  return signed.signatures[SPEC_SERVER]?.["ed25519:1"];
}

describe("content hash (spec vectors)", () => {
  it("E1: minimally-sized event", async () => {
    expect(await contentHash(E1)).toBe(E1_HASH);
  });

  it("E2: event with redactable content (a v1-format event whose event_id is a real field)", async () => {
    expect(await contentHash(E2, { keepEventId: true })).toBe(E2_HASH);
  });

  it("drops event_id by default, as the reference LM implementation adds it to events it returns", async () => {
    const { event_id: _drop, ...withoutId } = E2;
    expect(await contentHash(E2)).toBe(await contentHash(withoutId));
    expect(await contentHash(E2)).not.toBe(E2_HASH);
  });

  it("ignores signatures, unsigned and hashes.sha256, but covers hashes.lpdu", async () => {
    const base = { ...E1, hashes: { lpdu: { sha256: "AAAA" } } };
    const h = await contentHash(base);
    expect(await contentHash({ ...base, signatures: { x: { "ed25519:1": "y" } }, unsigned: { a: 1 } })).toBe(h);
    expect(await contentHash({ ...base, hashes: { ...base.hashes, sha256: "whatever" } })).toBe(h);
    expect(await contentHash({ ...base, hashes: { lpdu: { sha256: "BBBB" } } })).not.toBe(h);
  });

  it("LPDU hash drops hashes entirely", async () => {
    const lpdu = { room_id: "!r:hub", type: "m.room.message", sender: "@a:p", origin_server_ts: 1, content: { body: "x" }, hub_server: "hub" };
    const h = await lpduContentHash(lpdu);
    expect(await lpduContentHash({ ...lpdu, hashes: { lpdu: { sha256: h } }, signatures: { p: {} }, unsigned: {} })).toBe(h);
    const expected = Buffer.from(await sha256(canonicalJsonBytes(lpdu))).toString("base64").replace(/=+$/, "");
    expect(h).toBe(expected);
  });

  it("does not mutate its input", async () => {
    const copy = structuredClone(E2);
    await contentHash(E2);
    await contentHash(E2, { keepEventId: true });
    await referenceHash(E2, { redact: redactV11 });
    expect(E2).toEqual(copy);
  });
});

describe("event signing (spec vectors, pre-v11 redaction)", () => {
  it("E1 signature", async () => {
    expect(await specSignature(E1, { hashes: { sha256: E1_HASH } })).toBe(E1_SIG);
  });

  it("E2 signature", async () => {
    expect(await specSignature(E2, { hashes: { sha256: E2_HASH } })).toBe(E2_SIG);
  });

  it("v11 redaction (no origin) gives a different signature, as the vectors' caveat says", async () => {
    const key = await signingKeyFromSeed(SPEC_SEED, "1");
    const signed = await signJson(redactV11({ ...E1, hashes: { sha256: E1_HASH } }), SPEC_SERVER, key);
    expect(signed.signatures[SPEC_SERVER]?.["ed25519:1"]).not.toBe(E1_SIG);
  });
});

describe("reference hashes and event IDs", () => {
  const event = {
    room_id: "!r:hub.example",
    type: "m.room.message",
    sender: "@a:hub.example",
    origin_server_ts: 1700000000000,
    content: { body: "hello" },
    hashes: { sha256: "abc" },
    signatures: { "hub.example": { "ed25519:1": "sig" } },
    auth_events: ["$a"],
    prev_events: ["$b"],
    hub_server: "hub.example",
    unsigned: { age: 5 },
  };

  it("recomputes from the redacted event without signatures and unsigned", async () => {
    const { signatures: _s, unsigned: _u, ...redactedBody } = redactLm(event);
    const expected = encodeBase64Url(await sha256(canonicalJsonBytes(redactedBody)));
    expect(await referenceHash(event, { redact: redactLm })).toBe(expected);
    expect(await eventIdOf(event, { redact: redactLm })).toBe(`$${expected}`);
  });

  it("is a 43-character URL-safe hash of 32 bytes", async () => {
    const id = await eventIdOf(event, { redact: redactLm });
    expect(id).toMatch(/^\$[A-Za-z0-9_-]{43}$/);
    expect(decodeBase64Url(id.slice(1))).toHaveLength(32);
  });

  it("does not change when redactable content, signatures, unsigned or an added event_id change", async () => {
    const id = await eventIdOf(event, { redact: redactLm });
    expect(await eventIdOf({ ...event, content: { body: "other" } }, { redact: redactLm })).toBe(id);
    expect(await eventIdOf({ ...event, signatures: {} }, { redact: redactLm })).toBe(id);
    expect(await eventIdOf({ ...event, unsigned: { age: 99 } }, { redact: redactLm })).toBe(id);
    expect(await eventIdOf({ ...event, event_id: id }, { redact: redactLm })).toBe(id);
    expect(await eventIdOf({ ...event, event_id: id }, { redact: redactV11 })).toBe(await eventIdOf(event, { redact: redactV11 }));
  });

  it("changes with every protected field", async () => {
    const id = await eventIdOf(event, { redact: redactLm });
    for (const change of [{ sender: "@b:hub.example" }, { hub_server: "other.example" }, { prev_events: ["$c"] }, { hashes: { sha256: "abd" } }, { origin_server_ts: 1 }]) {
      expect(await eventIdOf({ ...event, ...change }, { redact: redactLm })).not.toBe(id);
    }
  });

  it("depends on the room version's redaction (depth and hub_server)", async () => {
    const withDepth = { ...event, depth: 7 };
    expect(await eventIdOf(withDepth, { redact: redactLm })).toBe(await eventIdOf(event, { redact: redactLm }));
    expect(await eventIdOf(withDepth, { redact: redactV11 })).not.toBe(await eventIdOf(event, { redact: redactV11 }));
    expect(await eventIdOf({ ...event, hub_server: "x.example" }, { redact: redactV11 })).toBe(await eventIdOf(event, { redact: redactV11 }));
  });
});

describe("room v12 room ID from the create event", () => {
  const create = {
    type: "m.room.create",
    state_key: "",
    sender: "@creator:example.org",
    origin_server_ts: 1700000000000,
    content: { room_version: "12", additional_creators: ["@other:example.org"] },
    hashes: { sha256: "h" },
    signatures: { "example.org": { "ed25519:1": "s" } },
    auth_events: [],
    prev_events: [],
    depth: 1,
  };

  it('is "!" + the create event\'s reference hash under v12 redaction', async () => {
    const roomId = await roomIdFromCreateEvent(create);
    expect(roomId).toBe(`!${await referenceHash(create, { redact: redactV12 })}`);
    expect(roomId).toMatch(/^![A-Za-z0-9_-]{43}$/);
    expect(roomId.slice(1)).toBe((await eventIdOf(create, { redact: redactV12 })).slice(1));
  });

  it("covers all of the create content and ignores unprotected fields", async () => {
    const roomId = await roomIdFromCreateEvent(create);
    expect(await roomIdFromCreateEvent({ ...create, content: { room_version: "12" } })).not.toBe(roomId);
    expect(await roomIdFromCreateEvent({ ...create, origin: "example.org", unsigned: { age: 1 } })).toBe(roomId);
  });
});
