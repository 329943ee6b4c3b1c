import { beforeAll, describe, expect, it } from "vitest";
import { MatrixError } from "../../shared/errors.js";
import type { Lpdu, Pdu } from "../../shared/event.js";
import { checkFormatLm, checkLpduFormat } from "../../shared/event-format.js";
import { checkContentHashes, checkLpduContentHash, verifyEventSignatures, verifyLpduSignature } from "../../shared/event-signatures.js";
import type { KeyLookup } from "../../shared/event-signatures.js";
import { contentHash, eventIdOf, lpduContentHash } from "../../shared/hashes.js";
import { buildHubPdu, buildLpdu, completeLpdu, completeLpduWithId, lpduFromPdu } from "../../shared/lpdu.js";
import type { LpduFields } from "../../shared/lpdu.js";
import { redactLm } from "../../shared/redaction.js";
import type { SigningKey } from "../../shared/signing-key.js";
import { signingKeyFromSeed } from "../../shared/signing-key.js";

const HUB = "hub.example";
const P1 = "p1.example";
const LM = { redact: redactLm, linearized: true } as const;
const AUTH = ["$" + "A".repeat(43), "$" + "B".repeat(43)];
const PREV = ["$" + "C".repeat(43)];

let hubKey: SigningKey;
let p1Key: SigningKey;
let keys: KeyLookup;

beforeAll(async () => {
  hubKey = await signingKeyFromSeed(new Uint8Array(32).fill(1), "hub1");
  p1Key = await signingKeyFromSeed(new Uint8Array(32).fill(2), "p1");
  const table = new Map([
    [`${HUB} ${hubKey.keyId}`, hubKey.publicKey],
    [`${P1} ${p1Key.keyId}`, p1Key.publicKey],
  ]);
  keys = async (server, keyId) => table.get(`${server} ${keyId}`);
});

const fields = (over: Partial<LpduFields> = {}): LpduFields => ({
  room_id: `!room:${HUB}`,
  type: "m.room.member",
  state_key: `@alice:${P1}`,
  sender: `@alice:${P1}`,
  origin_server_ts: 1_700_000_000_000,
  content: { membership: "join", displayname: "Alice" },
  ...over,
});

/** What a receiving server does: signatures (step 2), then content hashes (step 3). */
async function receive(pdu: unknown) {
  return { sigs: await verifyEventSignatures(pdu, LM, keys), hashes: await checkContentHashes(pdu) };
}

describe("participant builds an LPDU", () => {
  it("sets hub_server and hashes.lpdu, signs it as the sender's server, and passes the hub's checks", async () => {
    const lpdu = await buildLpdu(fields(), p1Key, HUB);
    expect(lpdu.hub_server).toBe(HUB);
    expect(lpdu.hashes).toEqual({ lpdu: { sha256: await lpduContentHash(lpdu) } });
    expect(Object.keys(lpdu.signatures)).toEqual([P1]);
    expect(lpdu).not.toHaveProperty("auth_events");
    expect(lpdu).not.toHaveProperty("prev_events");
    expect(() => checkLpduFormat(lpdu)).not.toThrow();
    expect(await verifyLpduSignature(lpdu, keys)).toEqual({ ok: true });
    expect(await checkLpduContentHash(lpdu)).toBe(true);
  });

  it("ignores derived fields a caller passes in", async () => {
    const junk = { ...fields(), auth_events: ["$x"], hashes: { sha256: "x" }, signatures: { evil: {} }, unsigned: { a: 1 } } as LpduFields;
    const lpdu = await buildLpdu(junk, p1Key, HUB);
    expect(lpdu).toEqual(await buildLpdu(fields(), p1Key, HUB));
  });
});

describe("hub completes an LPDU into a PDU", () => {
  let lpdu: Lpdu;
  let pdu: Pdu;

  beforeAll(async () => {
    lpdu = await buildLpdu(fields(), p1Key, HUB);
    pdu = await completeLpdu(lpdu, { authEvents: AUTH, prevEvents: PREV }, HUB, hubKey, LM);
  });

  it("adds auth_events, prev_events, hashes.sha256 (keeping hashes.lpdu) and the hub's signature", async () => {
    expect(pdu.auth_events).toEqual(AUTH);
    expect(pdu.prev_events).toEqual(PREV);
    expect(pdu.hashes.lpdu).toEqual(lpdu.hashes.lpdu);
    expect(pdu.hashes.sha256).toBe(await contentHash(pdu));
    expect(pdu.signatures[P1]).toEqual(lpdu.signatures[P1]);
    expect(Object.keys(pdu.signatures).sort()).toEqual([HUB, P1].sort());
    expect(() => checkFormatLm(pdu)).not.toThrow();
  });

  it("leaves the LPDU untouched and recoverable", async () => {
    expect(lpdu).toEqual(await buildLpdu(fields(), p1Key, HUB));
    const { signatures: _a, ...fromPdu } = lpduFromPdu(pdu);
    const { signatures: _b, ...original } = lpdu;
    expect(fromPdu).toEqual(original);
  });

  it("verifies as a receiving server would: both signatures and both hashes", async () => {
    const r = await receive(pdu);
    expect(r.sigs).toEqual({ ok: true });
    expect(r.hashes).toEqual({ ok: true, pdu: true, lpdu: true });
  });

  it("still verifies after a JSON round trip with an event_id added (the reference implementation's habit)", async () => {
    const wire = { ...JSON.parse(JSON.stringify(pdu)), event_id: await eventIdOf(pdu, LM) } as unknown;
    const r = await receive(wire);
    expect(r.sigs).toEqual({ ok: true });
    expect(r.hashes.ok).toBe(true);
  });

  type Tamper = [name: string, mutate: (p: any) => void];
  const tampers: Tamper[] = [
    ["content", (p) => (p.content.membership = "leave")],
    ["content (redactable part)", (p) => (p.content.displayname = "Mallory")],
    ["sender", (p) => (p.sender = `@bob:${P1}`)],
    ["sender (other server)", (p) => (p.sender = `@alice:${HUB}`)],
    ["type", (p) => (p.type = "m.room.join_rules")],
    ["state_key", (p) => (p.state_key = `@bob:${P1}`)],
    ["room_id", (p) => (p.room_id = `!other:${HUB}`)],
    ["origin_server_ts", (p) => (p.origin_server_ts += 1)],
    ["hub_server", (p) => (p.hub_server = P1)],
    ["hub_server removed", (p) => delete p.hub_server],
    ["auth_events", (p) => p.auth_events.pop()],
    ["prev_events", (p) => (p.prev_events = ["$" + "D".repeat(43)])],
    ["hashes.sha256", (p) => (p.hashes.sha256 = p.hashes.lpdu.sha256)],
    ["hashes.lpdu", (p) => (p.hashes.lpdu.sha256 = p.hashes.sha256)],
    ["hub signature", (p) => (p.signatures[HUB][hubKey.keyId] = p.signatures[P1][p1Key.keyId])],
    ["sender signature", (p) => (p.signatures[P1][p1Key.keyId] = p.signatures[HUB][hubKey.keyId])],
    ["hub signature removed", (p) => delete p.signatures[HUB]],
    ["sender signature removed", (p) => delete p.signatures[P1]],
    ["hub signature truncated", (p) => (p.signatures[HUB][hubKey.keyId] = p.signatures[HUB][hubKey.keyId].slice(0, -2))],
  ];

  it.each(tampers)("tampering with %s is detected", async (_name, mutate) => {
    const copy = structuredClone(pdu);
    mutate(copy);
    const r = await receive(copy);
    expect(r.sigs.ok && r.hashes.ok).toBe(false);
  });

  it("names the failing check for tampered links and hashes", async () => {
    const links = structuredClone(pdu) as any;
    links.prev_events = [AUTH[0]];
    expect(await verifyEventSignatures(links, LM, keys)).toMatchObject({ ok: false, check: "hub-pdu" });

    const lpduHash = structuredClone(pdu) as any;
    lpduHash.hashes.lpdu.sha256 = lpduHash.hashes.sha256;
    expect(await verifyEventSignatures(lpduHash, LM, keys)).toMatchObject({ ok: false, check: "sender-lpdu" });

    const body = structuredClone(pdu) as any;
    body.content.displayname = "Mallory";
    expect(await verifyEventSignatures(body, LM, keys)).toEqual({ ok: true });
    expect(await checkContentHashes(body)).toEqual({ ok: false, pdu: false, lpdu: false });
  });

  it("gives the same PDU with the event ID a receiver computes from it", async () => {
    const withId = await completeLpduWithId(lpdu, { authEvents: AUTH, prevEvents: PREV }, HUB, hubKey, LM);
    expect(withId.pdu).toEqual(pdu);
    expect(withId.eventId).toBe(await eventIdOf(pdu, LM));
    const later = await buildLpdu(fields({ content: { membership: "join", displayname: "Alice B." } }), p1Key, HUB);
    const other = await completeLpduWithId(later, { authEvents: AUTH, prevEvents: PREV }, HUB, hubKey, LM);
    expect(other.eventId).toBe(await eventIdOf(other.pdu, LM));
    expect(other.eventId).not.toBe(withId.eventId);
  });

  it("refuses an LPDU addressed to another hub, or without its hash", async () => {
    await expect(completeLpdu(lpdu, { authEvents: AUTH, prevEvents: PREV }, "other.example", hubKey, LM)).rejects.toBeInstanceOf(MatrixError);
    const noHash = { ...lpdu, hashes: {} } as unknown as Lpdu;
    await expect(completeLpdu(noHash, { authEvents: AUTH, prevEvents: PREV }, HUB, hubKey, LM)).rejects.toMatchObject({ errcode: "M_BAD_JSON" });
  });
});

describe("hub creates an event for its own user", () => {
  it("has the completed-LPDU form with one hub signature, and verifies the same way", async () => {
    const pdu = await buildHubPdu(
      fields({ sender: `@admin:${HUB}`, state_key: `@admin:${HUB}`, content: { membership: "join" } }),
      { authEvents: AUTH, prevEvents: PREV },
      HUB,
      hubKey,
      LM,
    );
    expect(pdu.hub_server).toBe(HUB);
    expect(pdu.hashes.lpdu?.sha256).toBe(await lpduContentHash(lpduFromPdu(pdu)));
    expect(Object.keys(pdu.signatures)).toEqual([HUB]);
    expect(() => checkFormatLm(pdu)).not.toThrow();
    const r = await receive(pdu);
    expect(r.sigs).toEqual({ ok: true });
    expect(r.hashes).toEqual({ ok: true, pdu: true, lpdu: true });
  });

  it("builds the create event with no links", async () => {
    const create = await buildHubPdu(
      fields({ type: "m.room.create", sender: `@admin:${HUB}`, state_key: "", content: { room_version: "org.matrix.i-d.ralston-mimi-linearized-matrix.02" } }),
      { authEvents: [], prevEvents: [] },
      HUB,
      hubKey,
      LM,
    );
    expect(create.prev_events).toEqual([]);
    expect(() => checkFormatLm(create)).not.toThrow();
    expect((await receive(create)).sigs).toEqual({ ok: true });
  });

  it("refuses a sender from another server", async () => {
    await expect(buildHubPdu(fields(), { authEvents: AUTH, prevEvents: PREV }, HUB, hubKey, LM)).rejects.toMatchObject({ errcode: "M_BAD_JSON" });
  });
});
