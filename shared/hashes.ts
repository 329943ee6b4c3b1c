// Content hashes, reference hashes and the IDs derived from them (draft -04 "Hashes"; Matrix
// server-server "Calculating the content hash" / "Calculating the reference hash"; room v12 room IDs).
// SHA-256 comes from WebCrypto so the same code runs in Node and workerd.
//
// Every function drops a top-level `event_id` first: no supported room version carries one on the
// wire, but the reference LM implementation adds it to events it returns, and hashing it in would
// give a different hash than the sender computed.

import { encodeBase64, encodeBase64Url } from "./base64.js";
import { canonicalJsonBytes } from "./canonical-json.js";
import { redactV12 } from "./redaction.js";
import type { RoomVersion } from "./room-version.js";

type Json = Record<string, unknown>;

export async function sha256(data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", data));
}

function withoutKeys(obj: object, keys: readonly string[]): Json {
  const out: Json = { ...(obj as Json) };
  for (const k of keys) delete out[k];
  return out;
}

export interface ContentHashOptions {
  /**
   * Hash a top-level `event_id` as part of the event. Only for room v1/v2-format events, where it
   * was a real field (the spec's vector E2 is one); never for LM, v11 or v12.
   */
  keepEventId?: boolean;
}

/**
 * A PDU's content hash (unpadded standard base64): the event without `signatures` and `unsigned`,
 * and of `hashes` only `lpdu`. With no `lpdu` hash the whole `hashes` key goes, which is what
 * Matrix's algorithm does, so LM events without a hub hash the same as Matrix events.
 */
export async function contentHash(pdu: object, options: ContentHashOptions = {}): Promise<string> {
  const drop = options.keepEventId ? ["signatures", "unsigned", "hashes"] : ["signatures", "unsigned", "hashes", "event_id"];
  const body = withoutKeys(pdu, drop);
  const hashes = (pdu as Json).hashes;
  if (typeof hashes === "object" && hashes !== null && (hashes as Json).lpdu !== undefined) {
    body.hashes = { lpdu: (hashes as Json).lpdu };
  }
  return encodeBase64(await sha256(canonicalJsonBytes(body)));
}

/** An LPDU's content hash: like contentHash, but `hashes` goes entirely (it would cover itself). */
export async function lpduContentHash(lpdu: object): Promise<string> {
  return encodeBase64(await sha256(canonicalJsonBytes(withoutKeys(lpdu, ["signatures", "unsigned", "hashes", "event_id"]))));
}

/** Reference hash (URL-safe unpadded base64) of the event redacted under `version`. */
export async function referenceHash(event: object, version: Pick<RoomVersion, "redact">): Promise<string> {
  const redacted = version.redact(withoutKeys(event, ["event_id"]));
  return referenceHashOfBytes(canonicalJsonBytes(withoutKeys(redacted, ["signatures", "unsigned"])));
}

/**
 * The reference hash from the canonical bytes it covers (the redacted event without signatures
 * and unsigned), for callers that already encoded them, such as the hub when it signs.
 */
export async function referenceHashOfBytes(bytes: Uint8Array): Promise<string> {
  return encodeBase64Url(await sha256(bytes));
}

/** The event ID: "$" + reference hash (LM and room versions 4 and later). */
export async function eventIdOf(event: object, version: Pick<RoomVersion, "redact">): Promise<string> {
  return `$${await referenceHash(event, version)}`;
}

/** Room v12: the room ID is the create event's reference hash with the "!" sigil. */
export async function roomIdFromCreateEvent(create: object): Promise<string> {
  return `!${await referenceHash(create, { redact: redactV12 })}`;
}
