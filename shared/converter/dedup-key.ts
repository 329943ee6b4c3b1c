// The key a room remembers an event by, so a second copy of it - from a second converter, a
// replay, or a loop - is recognised (PROTOCOL-NOTES "Deduplication across converters"). An MLS or
// Megolm message is unique, and converters never re-encrypt, so an encrypted event is keyed by
// SHA-256 of its ciphertext bytes, the same on every side; any other event by the room and event
// ID it started from, read from its provenance chain.

import { encodeBase64Url, tryDecodeBase64 } from "../base64.js";
import { sha256 } from "../hashes.js";
import { MLS_COMMIT_EVENT, ENCRYPTED_EVENT } from "../room-encryption.js";
import { originOf } from "./provenance.js";

export type DedupKey = string & { readonly __dedupKey: true };

type Json = Record<string, unknown>;
const isPlainObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

/** The ciphertext field an encrypted event type carries (m.mls.commit: the MLS PublicMessage). */
function ciphertextOf(type: string, content: Json): unknown {
  if (type === ENCRYPTED_EVENT) return content.ciphertext;
  if (type === MLS_COMMIT_EVENT) return content.message;
  return undefined;
}

/**
 * The event's dedup key; undefined when it has none: an encrypted event whose ciphertext is not
 * base64 (its bytes are unknown), or an event with an unreadable provenance chain.
 */
export async function dedupKeyOf(event: { type: string; content: unknown; state_key?: unknown }, roomId: string, eventId: string): Promise<DedupKey | undefined> {
  const content = isPlainObject(event.content) ? event.content : {};
  if (event.type === ENCRYPTED_EVENT || event.type === MLS_COMMIT_EVENT) {
    const bytes = tryDecodeBase64(ciphertextOf(event.type, content));
    if (bytes === undefined) return undefined;
    return `ct:${encodeBase64Url(await sha256(bytes))}` as DedupKey;
  }
  const origin = originOf(content, roomId, eventId);
  if (!origin) return undefined;
  // Each converter's ghost of a member joins and leaves on its own: a membership is keyed per member too.
  const member = event.type === "m.room.member" && typeof event.state_key === "string" ? ` ${event.state_key}` : "";
  // Room IDs cannot contain a space, so the parts are unambiguous.
  return `ev:${origin.roomId} ${origin.eventId}${member}` as DedupKey;
}
