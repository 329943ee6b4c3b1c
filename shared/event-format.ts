// Event schema checks per room version (draft -04 "Events" and "Linearized PDU"; Matrix PDU formats
// for room versions 11 and 12, and the spec's size limits). These run before signatures and hashes,
// on input from anyone: they throw MatrixError and never anything else, whatever the input's shape.
// Content is not inspected beyond being an object; type-specific schemas belong to the auth rules.

import { tryDecodeBase64 } from "./base64.js";
import { canonicalJsonBytes } from "./canonical-json.js";
import { MatrixError, badJson, tooLarge } from "./errors.js";
import type { Lpdu, Pdu } from "./event.js";
import { isEventId, isRoomId, isServerName, isUserId } from "./ids.js";

/** Largest event, in bytes of canonical JSON, signatures included. */
export const MAX_EVENT_BYTES = 65_536;
const MAX_ID_FIELD = 255;
const SHA256_BYTES = 32;

type Json = Record<string, unknown>;

interface FormatRules {
  /** For messages: "room version 11", ... */
  readonly name: string;
  readonly linearized: boolean;
  /** The draft limits type/state_key in characters; Matrix limits them in bytes. */
  readonly lengthUnit: "characters" | "bytes";
  readonly requireDepth: boolean;
  /** Room v12: room IDs are "!" + reference hash, and the create event has none. */
  readonly hashRoomIds: boolean;
  readonly maxAuthEvents?: number;
  readonly maxPrevEvents?: number;
}

const LM_RULES: FormatRules = { name: "the Linearized Matrix room version", linearized: true, lengthUnit: "characters", requireDepth: false, hashRoomIds: false };
const V11_RULES: FormatRules = { name: "room version 11", linearized: false, lengthUnit: "bytes", requireDepth: true, hashRoomIds: false, maxAuthEvents: 10, maxPrevEvents: 20 };
const V12_RULES: FormatRules = { ...V11_RULES, name: "room version 12", hashRoomIds: true };

const isPlainObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const encoder = new TextEncoder();

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "string") return `${JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v)}`;
  return typeof v === "object" ? "an object" : `${typeof v} ${String(v)}`;
}

function measure(s: string, unit: FormatRules["lengthUnit"]): number {
  if (unit === "bytes") return encoder.encode(s).length;
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** Throws 413 when the canonical form is too big; hostile structures become 400, never a crash. */
function checkSize(obj: Json, what: string): void {
  const { event_id: _ignored, ...rest } = obj;
  let size: number;
  try {
    size = canonicalJsonBytes(rest).length;
  } catch (err) {
    if (err instanceof MatrixError) throw badJson(`Invalid ${what}: ${err.message}`);
    throw badJson(`Invalid ${what}: not representable as canonical JSON`);
  }
  if (size > MAX_EVENT_BYTES) throw tooLarge(`${what} is ${size} bytes as canonical JSON; the limit is ${MAX_EVENT_BYTES}`);
}

/** Event IDs in these versions are reference hashes; the legacy "$local:server" form cannot be one. */
function isHashEventId(s: unknown): boolean {
  return isEventId(s) && !s.includes(":");
}

function checkSha256(v: unknown, field: string, what: string): void {
  const bytes = tryDecodeBase64(v);
  if (bytes === undefined || bytes.length !== SHA256_BYTES) {
    throw badJson(`Invalid ${what}: "${field}" must be an unpadded base64 SHA-256 hash, got ${describe(v)}`);
  }
}

function checkEventIdList(ev: Json, field: string, what: string, max: number | undefined): string[] {
  const list = ev[field];
  if (!Array.isArray(list)) throw badJson(`Invalid ${what}: "${field}" must be an array of event IDs, got ${describe(list)}`);
  if (max !== undefined && list.length > max) throw badJson(`Invalid ${what}: "${field}" has ${list.length} entries; at most ${max} allowed`);
  list.forEach((id, i) => {
    if (!isHashEventId(id)) {
      throw badJson(`Invalid ${what}: "${field}[${i}]" must be an event ID ("$" + URL-safe base64 reference hash), got ${describe(id)}`);
    }
  });
  return list as string[];
}

function checkSignaturesShape(sigs: unknown, what: string): void {
  if (!isPlainObject(sigs)) throw badJson(`Invalid ${what}: "signatures" must be an object, got ${describe(sigs)}`);
  for (const server of Object.keys(sigs)) {
    const byKey = sigs[server];
    if (!isPlainObject(byKey)) throw badJson(`Invalid ${what}: "signatures.${server}" must be an object of key ID to signature`);
    for (const keyId of Object.keys(byKey)) {
      if (typeof byKey[keyId] !== "string") throw badJson(`Invalid ${what}: "signatures.${server}.${keyId}" must be a string`);
    }
  }
}

function checkRoomId(ev: Json, rules: FormatRules, what: string): void {
  const roomId = ev.room_id;
  if (rules.hashRoomIds && ev.type === "m.room.create") {
    // Auth rule 1.2 rejects a v12 create that has one; here it only has to be well formed if present.
    if (roomId !== undefined && !isRoomId(roomId)) throw badJson(`Invalid ${what}: "room_id" must be a room ID, got ${describe(roomId)}`);
    return;
  }
  if (!isRoomId(roomId)) throw badJson(`Invalid ${what}: "room_id" is required and must be a room ID, got ${describe(roomId)}`);
  if (rules.hashRoomIds && roomId.includes(":")) {
    throw badJson(`Invalid ${what}: "room_id" in ${rules.name} must be "!" + the create event's reference hash, got ${describe(roomId)}`);
  }
  if (!rules.hashRoomIds && !roomId.includes(":")) {
    throw badJson(`Invalid ${what}: "room_id" in ${rules.name} must have the form "!opaque:server", got ${describe(roomId)}`);
  }
}

/** The fields LPDUs and PDUs share. */
function checkCommon(ev: Json, rules: FormatRules, what: string): void {
  if (typeof ev.type !== "string") throw badJson(`Invalid ${what}: "type" is required and must be a string, got ${describe(ev.type)}`);
  if (measure(ev.type, rules.lengthUnit) > MAX_ID_FIELD) throw badJson(`Invalid ${what}: "type" exceeds ${MAX_ID_FIELD} ${rules.lengthUnit}`);
  if (ev.state_key !== undefined) {
    if (typeof ev.state_key !== "string") throw badJson(`Invalid ${what}: "state_key" must be a string, got ${describe(ev.state_key)}`);
    if (measure(ev.state_key, rules.lengthUnit) > MAX_ID_FIELD) throw badJson(`Invalid ${what}: "state_key" exceeds ${MAX_ID_FIELD} ${rules.lengthUnit}`);
  }
  if (!isUserId(ev.sender)) throw badJson(`Invalid ${what}: "sender" is required and must be a user ID, got ${describe(ev.sender)}`);
  checkRoomId(ev, rules, what);
  if (!Number.isSafeInteger(ev.origin_server_ts)) {
    throw badJson(`Invalid ${what}: "origin_server_ts" is required and must be an integer, got ${describe(ev.origin_server_ts)}`);
  }
  if (!isPlainObject(ev.content)) throw badJson(`Invalid ${what}: "content" is required and must be an object, got ${describe(ev.content)}`);
  checkSignaturesShape(ev.signatures, what);
  if (ev.unsigned !== undefined && !isPlainObject(ev.unsigned)) throw badJson(`Invalid ${what}: "unsigned" must be an object, got ${describe(ev.unsigned)}`);
  if (rules.linearized && ev.hub_server !== undefined && !isServerName(ev.hub_server)) {
    throw badJson(`Invalid ${what}: "hub_server" must be a server name, got ${describe(ev.hub_server)}`);
  }
}

function checkLpduHash(hashes: Json, what: string): void {
  const lpdu = hashes.lpdu;
  if (!isPlainObject(lpdu)) throw badJson(`Invalid ${what}: "hashes.lpdu" must be an object, got ${describe(lpdu)}`);
  checkSha256(lpdu.sha256, "hashes.lpdu.sha256", what);
}

function checkPdu(event: unknown, rules: FormatRules): asserts event is Pdu {
  const what = "event";
  if (!isPlainObject(event)) throw badJson(`Invalid event: must be a JSON object, got ${describe(event)}`);
  checkSize(event, "Event");
  checkCommon(event, rules, what);

  const hashes = event.hashes;
  if (!isPlainObject(hashes)) throw badJson(`Invalid event: "hashes" is required and must be an object, got ${describe(hashes)}`);
  checkSha256(hashes.sha256, "hashes.sha256", what);

  checkEventIdList(event, "auth_events", what, rules.maxAuthEvents);
  const prev = checkEventIdList(event, "prev_events", what, rules.maxPrevEvents);

  if (rules.linearized) {
    const hub = event.hub_server !== undefined;
    // Draft: hashes.lpdu is present on exactly the events that name a hub.
    if (hub) checkLpduHash(hashes, what);
    else if (hashes.lpdu !== undefined) throw badJson(`Invalid event: "hashes.lpdu" is only allowed on events with "hub_server"`);
    // The hub links each event to the one before it; the create event has none (auth rule 3.1 checks it).
    if (hub && event.type !== "m.room.create" && prev.length !== 1) {
      throw badJson(`Invalid event: an event with "hub_server" must have exactly 1 entry in "prev_events", got ${prev.length}`);
    }
  }

  if (rules.requireDepth) {
    const depth = event.depth;
    if (!Number.isSafeInteger(depth) || (depth as number) < 0) {
      throw badJson(`Invalid event: "depth" is required in ${rules.name} and must be a non-negative integer, got ${describe(depth)}`);
    }
  }
}

/** Schema and size checks for a PDU of the Linearized Matrix room version. */
export function checkFormatLm(event: unknown): asserts event is Pdu {
  checkPdu(event, LM_RULES);
}

/** Schema and size checks for a PDU of Matrix room version 11. */
export function checkFormatV11(event: unknown): asserts event is Pdu {
  checkPdu(event, V11_RULES);
}

/** Schema and size checks for a PDU of Matrix room version 12. */
export function checkFormatV12(event: unknown): asserts event is Pdu {
  checkPdu(event, V12_RULES);
}

/** Schema and size checks for an LPDU (a participant's partial event, as a hub receives it). */
export function checkLpduFormat(lpdu: unknown): asserts lpdu is Lpdu {
  const what = "LPDU";
  if (!isPlainObject(lpdu)) throw badJson(`Invalid LPDU: must be a JSON object, got ${describe(lpdu)}`);
  checkSize(lpdu, "LPDU");
  for (const field of ["auth_events", "prev_events"]) {
    if (lpdu[field] !== undefined) throw badJson(`Invalid LPDU: "${field}" must not be set by a participant; the hub adds it`);
  }
  checkCommon(lpdu, LM_RULES, what);
  if (!isServerName(lpdu.hub_server)) throw badJson(`Invalid LPDU: "hub_server" is required and must be a server name, got ${describe(lpdu.hub_server)}`);
  const hashes = lpdu.hashes;
  if (!isPlainObject(hashes)) throw badJson(`Invalid LPDU: "hashes" is required and must be an object, got ${describe(hashes)}`);
  const extra = Object.keys(hashes).filter((k) => k !== "lpdu");
  if (extra.length > 0) throw badJson(`Invalid LPDU: "hashes" may hold only "lpdu"; found ${extra.map((k) => `"${k}"`).join(", ")}`);
  checkLpduHash(hashes, what);
}
