// A second, independent implementation of the event-integrity algorithms, written from the texts
// (draft-ralston-mimi-linearized-matrix-04 "Events", "Linearized PDU", "Signing", "Event Redactions",
// "Hashes"; the Matrix appendices for canonical JSON and unpadded base64). It deliberately imports
// nothing from the project's shared/ folder, so a bug there cannot hide itself: tests compare what
// the servers stored against what this file computes. Node only (node:crypto).

import { createHash, createPublicKey, verify, type KeyObject } from "node:crypto";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObj = { [key: string]: Json };

// ------------------------------------------------------------------------------------------------
// Canonical JSON (Matrix appendices): keys sorted by Unicode code point, integers only, no
// insignificant whitespace, strings as raw UTF-8 with only the mandatory escapes.
// ------------------------------------------------------------------------------------------------

const SHORT_ESCAPES: Record<number, string> = { 0x08: "\\b", 0x09: "\\t", 0x0a: "\\n", 0x0c: "\\f", 0x0d: "\\r", 0x22: '\\"', 0x5c: "\\\\" };

function encodeString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0) as number;
    if (cp >= 0xd800 && cp <= 0xdfff) throw new Error("lone surrogate: not encodable as UTF-8");
    const short = SHORT_ESCAPES[cp];
    if (short !== undefined) out += short;
    else if (cp < 0x20) out += `\\u${cp.toString(16).padStart(4, "0")}`;
    else out += ch;
  }
  return `${out}"`;
}

/** Code-point order equals the byte order of the UTF-8 encodings (for well-formed strings). */
function compareCodePoints(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

export function canonicalJson(value: unknown): string {
  if (value === null) return "null";
  if (value === true) return "true";
  if (value === false) return "false";
  if (typeof value === "number") {
    if (!Number.isInteger(value)) throw new Error(`not an integer: ${value}`);
    if (Math.abs(value) > Number.MAX_SAFE_INTEGER) throw new Error(`integer out of range: ${value}`);
    return value === 0 ? "0" : String(value);
  }
  if (typeof value === "string") return encodeString(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    entries.sort(([a], [b]) => compareCodePoints(a, b));
    return `{${entries.map(([k, v]) => `${encodeString(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  throw new Error(`not JSON: ${typeof value}`);
}

// ------------------------------------------------------------------------------------------------
// Unpadded base64 (RFC 4648 section 4, and section 5 for the URL-safe form), padding stripped.
// ------------------------------------------------------------------------------------------------

export const unpaddedBase64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString("base64").replace(/=+$/, "");
export const unpaddedBase64Url = (bytes: Uint8Array): string => unpaddedBase64(bytes).replace(/\+/g, "-").replace(/\//g, "_");

export function decodeBase64(s: string): Uint8Array {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s)) throw new Error(`not base64: ${s}`);
  return new Uint8Array(Buffer.from(s, "base64"));
}

const sha256 = (text: string): Uint8Array => new Uint8Array(createHash("sha256").update(text, "utf8").digest());

// ------------------------------------------------------------------------------------------------
// Redaction (draft "Event Redactions").
// ------------------------------------------------------------------------------------------------

const KEPT_TOP_LEVEL = ["type", "room_id", "sender", "state_key", "content", "origin_server_ts", "hashes", "signatures", "prev_events", "auth_events", "hub_server"];

const KEPT_CONTENT: Record<string, readonly string[] | "all"> = {
  "m.room.create": "all",
  "m.room.member": ["membership"],
  "m.room.join_rules": ["join_rule"],
  "m.room.power_levels": ["ban", "events", "events_default", "kick", "redact", "state_default", "users", "users_default", "invite"],
  "m.room.history_visibility": ["history_visibility"],
};

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

export function redact(event: JsonObj): JsonObj {
  const out: JsonObj = {};
  for (const key of KEPT_TOP_LEVEL) if (Object.prototype.hasOwnProperty.call(event, key)) out[key] = clone(event[key] as Json);
  const content = event["content"];
  if (typeof content === "object" && content !== null && !Array.isArray(content)) {
    const rule = KEPT_CONTENT[String(event["type"])];
    if (rule === "all") out["content"] = clone(content);
    else {
      const kept: JsonObj = {};
      for (const key of rule ?? []) if (Object.prototype.hasOwnProperty.call(content, key)) kept[key] = clone(content[key] as Json);
      out["content"] = kept;
    }
  }
  return out;
}

function without(obj: JsonObj, keys: readonly string[]): JsonObj {
  const out: JsonObj = { ...obj };
  for (const k of keys) delete out[k];
  return out;
}

// ------------------------------------------------------------------------------------------------
// Hashes (draft "Content Hash Calculation", "Reference Hash Calculation") and event IDs.
// ------------------------------------------------------------------------------------------------

/**
 * Content hash of a full PDU: no `signatures` (nor `unsigned`, which Matrix also excludes); of
 * `hashes` only `lpdu` stays. With no `lpdu` the `hashes` key goes entirely: that is the Matrix
 * algorithm, and the reference LM implementation does the same (the draft's wording could also be
 * read as leaving `hashes: {}`; no implementation does that).
 */
export function pduContentHash(pdu: JsonObj): string {
  const body = without(pdu, ["signatures", "unsigned", "hashes"]);
  const hashes = pdu["hashes"];
  if (typeof hashes === "object" && hashes !== null && !Array.isArray(hashes) && hashes["lpdu"] !== undefined) {
    body["hashes"] = { lpdu: hashes["lpdu"] as Json };
  }
  return unpaddedBase64(sha256(canonicalJson(body)));
}

/** Content hash of an LPDU: `hashes` goes entirely. */
export function lpduContentHash(lpdu: JsonObj): string {
  return unpaddedBase64(sha256(canonicalJson(without(lpdu, ["signatures", "unsigned", "hashes"]))));
}

/** The LPDU a hub-completed PDU was made from: no auth_events/prev_events, hashes reduced to {lpdu}. */
export function lpduOf(pdu: JsonObj): JsonObj {
  const out = without(pdu, ["auth_events", "prev_events", "hashes", "unsigned"]);
  const hashes = pdu["hashes"] as JsonObj | undefined;
  out["hashes"] = hashes?.["lpdu"] === undefined ? {} : { lpdu: hashes["lpdu"] as Json };
  return out;
}

export function referenceHash(event: JsonObj): string {
  return unpaddedBase64Url(sha256(canonicalJson(without(redact(event), ["signatures", "unsigned"]))));
}

export const eventIdOf = (event: JsonObj): string => `$${referenceHash(event)}`;

// ------------------------------------------------------------------------------------------------
// Signatures (draft "Signing", "Checking Signatures") with Ed25519 from node:crypto.
// ------------------------------------------------------------------------------------------------

/** DER prefix of an SPKI structure holding a raw 32-byte Ed25519 public key (RFC 8410). */
const ED25519_SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

export function ed25519PublicKey(rawBase64: string): KeyObject {
  const raw = decodeBase64(rawBase64);
  if (raw.length !== 32) throw new Error(`Ed25519 public key must be 32 bytes, got ${raw.length}`);
  return createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, raw]), format: "der", type: "spki" });
}

/** Server name -> key ID -> public key. */
export type KeyRing = Map<string, Map<string, KeyObject>>;

/**
 * Checks `server`'s signature over `object` (already redacted when it is an event): remove
 * `signatures` (and `unsigned`), canonicalise, verify. Fails when no signature by a key of the ring
 * is present; every signature present under a known key ID must verify.
 */
export function verifySignature(object: JsonObj, server: string, keys: KeyRing): { ok: boolean; reason?: string } {
  const sigs = (object["signatures"] as JsonObj | undefined)?.[server];
  if (typeof sigs !== "object" || sigs === null || Array.isArray(sigs)) return { ok: false, reason: `no signatures by ${server}` };
  const serverKeys = keys.get(server);
  if (!serverKeys) return { ok: false, reason: `no keys known for ${server}` };
  const data = Buffer.from(canonicalJson(without(object, ["signatures", "unsigned"])), "utf8");
  let checked = 0;
  for (const [keyId, sig] of Object.entries(sigs)) {
    const key = serverKeys.get(keyId);
    if (!key) continue;
    if (typeof sig !== "string") return { ok: false, reason: `signature ${server} ${keyId} is not a string` };
    if (!verify(null, data, key, decodeBase64(sig))) return { ok: false, reason: `signature ${server} ${keyId} does not verify` };
    checked++;
  }
  return checked > 0 ? { ok: true } : { ok: false, reason: `no signature by a known key of ${server}` };
}

/** Signature of an event by `server`: over the redacted event. */
export const verifyEventSignature = (event: JsonObj, server: string, keys: KeyRing) => verifySignature(redact(event), server, keys);

/**
 * A server's published key document (GET /_matrix/key/v2/server): its verify_keys become a
 * ring entry, after the document's self-signature is checked with those same keys.
 */
export function addKeyDocument(ring: KeyRing, doc: JsonObj): void {
  const server = doc["server_name"];
  const verifyKeys = doc["verify_keys"];
  if (typeof server !== "string" || typeof verifyKeys !== "object" || verifyKeys === null || Array.isArray(verifyKeys)) {
    throw new Error("malformed key document");
  }
  const entry = new Map<string, KeyObject>();
  for (const [keyId, v] of Object.entries(verifyKeys)) {
    const key = (v as JsonObj | null)?.["key"];
    if (typeof key !== "string") throw new Error(`key ${keyId} has no key`);
    entry.set(keyId, ed25519PublicKey(key));
  }
  const self = verifySignature(doc, server, new Map([[server, entry]]));
  if (!self.ok) throw new Error(`key document of ${server} is not self-signed: ${self.reason}`);
  ring.set(server, entry);
}

const serverOf = (userId: string): string => userId.slice(userId.indexOf(":") + 1);

/**
 * Every integrity problem of one stored event, as human-readable strings (empty when it is sound):
 * event ID, content hashes, and the signatures the draft requires.
 */
export function eventProblems(eventId: string, pdu: JsonObj, keys: KeyRing): string[] {
  const problems: string[] = [];
  const body = without(pdu, ["event_id"]);
  const computedId = eventIdOf(body);
  if (computedId !== eventId) problems.push(`event ID recomputes to ${computedId}`);
  const hashes = body["hashes"] as JsonObj | undefined;
  if (typeof hashes?.["sha256"] !== "string") problems.push("no hashes.sha256");
  else if (hashes["sha256"] !== pduContentHash(body)) problems.push(`hashes.sha256 ${String(hashes["sha256"])} != ${pduContentHash(body)}`);

  const sender = body["sender"];
  if (typeof sender !== "string") return [...problems, "no sender"];
  const hub = body["hub_server"];
  const lpduHash = (hashes?.["lpdu"] as JsonObj | undefined)?.["sha256"];
  if (typeof hub === "string") {
    const lpdu = lpduOf(body);
    if (typeof lpduHash !== "string") problems.push("hub_server without hashes.lpdu");
    else if (lpduHash !== lpduContentHash(lpdu)) problems.push(`hashes.lpdu.sha256 ${lpduHash} != ${lpduContentHash(lpdu)}`);
    const hubSig = verifyEventSignature(body, hub, keys);
    if (!hubSig.ok) problems.push(`hub signature over the PDU: ${hubSig.reason}`);
    const senderSig = verifyEventSignature(lpdu, serverOf(sender), keys);
    if (!senderSig.ok) problems.push(`sender signature over the LPDU: ${senderSig.reason}`);
  } else {
    if (lpduHash !== undefined) problems.push("hashes.lpdu without hub_server");
    const sig = verifyEventSignature(body, serverOf(sender), keys);
    if (!sig.ok) problems.push(`sender signature over the PDU: ${sig.reason}`);
  }
  // Any further signature (an invitee's server signing its invite) covers the redacted PDU, and
  // must verify too when its server's keys are known.
  for (const server of Object.keys((body["signatures"] as JsonObj | undefined) ?? {})) {
    if (server === hub || server === serverOf(sender) || !keys.has(server)) continue;
    const extra = verifyEventSignature(body, server, keys);
    if (!extra.ok) problems.push(`signature of ${server} over the PDU: ${extra.reason}`);
  }
  return problems;
}
