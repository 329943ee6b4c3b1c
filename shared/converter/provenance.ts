// The provenance block a converted event carries in its content: where the event came from and the
// redacted skeleton of the original (hashes and signatures included), so anyone holding the
// converted event can rebuild the original, recompute its ID and hashes and check its signatures
// (provenance-check.ts). It lives in `content` because Synapse drops a remote event's `unsigned`.
//
// The original content travels as the converted event's content itself (ciphertext stays byte
// for byte), the block being the one key added. Where the converted content must differ from the
// original (membership becomes a ghost's join or leave) or the original already carried a block of
// its own (it was converted before), the block holds the original content as `content` instead.

import type { JsonObject } from "../canonical-json.js";
import type { Pdu } from "../event.js";
import { isEventId, isRoomId } from "../ids.js";
import { cloneJson } from "../redaction.js";
import type { RoomVersion } from "../room-version.js";
import { getRoomVersion } from "../room-versions.js";

/** The content key of the block (a namespaced key, as the spec asks of unspecified fields). */
export const PROVENANCE_KEY = "io.switchboard.provenance";

export interface ProvenanceBlock {
  /** The room the original event is in. */
  room_id: string;
  event_id: string;
  /** That room's version: which redaction and signature rules rebuild the event. */
  room_version: string;
  /** The original event redacted under its room version, hashes and signatures kept. */
  event: JsonObject;
  /** The original content, when the converted content is not it. */
  content?: JsonObject;
}

type Json = Record<string, unknown>;
const isPlainObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

/** The block for `pdu` (`eventId` in `roomId` of `version`); without `carriesOriginalContent` the block holds the original content itself. */
export function provenanceBlock(pdu: Pdu, eventId: string, roomId: string, version: RoomVersion, carriesOriginalContent: boolean): ProvenanceBlock {
  const { event_id: _dropped, unsigned: _unsigned, ...event } = pdu as unknown as Json;
  const block: ProvenanceBlock = {
    room_id: roomId,
    event_id: eventId,
    room_version: version.id,
    event: version.redact(event) as JsonObject,
  };
  if (!carriesOriginalContent) block.content = cloneJson(pdu.content);
  return block;
}

/**
 * The content of the converted event: the original content with the block added, or, when
 * `replacement` is given (membership) or the original content has a block already, `replacement`
 * (or the original minus its block) with the original content inside the new block.
 */
export function convertedContent(pdu: Pdu, eventId: string, roomId: string, version: RoomVersion, replacement?: JsonObject): JsonObject {
  const nested = Object.hasOwn(pdu.content, PROVENANCE_KEY);
  if (replacement === undefined && !nested) {
    return { ...cloneJson(pdu.content), [PROVENANCE_KEY]: provenanceBlock(pdu, eventId, roomId, version, true) as unknown as JsonObject };
  }
  const base = replacement ?? withoutBlock(pdu.content);
  return { ...cloneJson(base), [PROVENANCE_KEY]: provenanceBlock(pdu, eventId, roomId, version, false) as unknown as JsonObject };
}

function withoutBlock(content: JsonObject): JsonObject {
  const { [PROVENANCE_KEY]: _block, ...rest } = content;
  return rest;
}

/** The block in `content` when it is shaped like one (its truth is provenance-check.ts's business). */
export function readProvenance(content: unknown): ProvenanceBlock | undefined {
  if (!isPlainObject(content)) return undefined;
  const b = content[PROVENANCE_KEY];
  if (!isPlainObject(b)) return undefined;
  if (!isRoomId(b.room_id) || !isEventId(b.event_id) || typeof b.room_version !== "string" || !isPlainObject(b.event)) return undefined;
  if (b.content !== undefined && !isPlainObject(b.content)) return undefined;
  if (!getRoomVersion(b.room_version)) return undefined;
  return b as unknown as ProvenanceBlock;
}

/** Whether `content` has a provenance key at all, well-formed or not. */
export function hasProvenance(content: unknown): boolean {
  return isPlainObject(content) && Object.hasOwn(content, PROVENANCE_KEY);
}

/** The original event's content as the block and the converted content give it. */
export function originalContentOf(convertedContent: JsonObject, block: ProvenanceBlock): JsonObject {
  return block.content !== undefined ? cloneJson(block.content) : withoutBlock(cloneJson(convertedContent));
}

/** Most chains are one or two rooms long; past this many hops a chain is refused rather than walked. */
const MAX_CHAIN = 16;

/**
 * The rooms an event has passed through, nearest first: the room of its block, then the rooms of
 * the blocks nested in the original content. Undefined when a block is malformed or the chain is
 * too long (such an event is not converted: its origin cannot be told).
 */
export function provenanceChain(content: unknown): Array<{ roomId: string; eventId: string }> | undefined {
  const out: Array<{ roomId: string; eventId: string }> = [];
  let current: unknown = content;
  while (hasProvenance(current)) {
    const block = readProvenance(current);
    if (!block || out.length >= MAX_CHAIN) return undefined;
    out.push({ roomId: block.room_id, eventId: block.event_id });
    current = block.content;
  }
  return out;
}

/**
 * The loop rule: an event may be converted into `targetRoomId` only when that room is not on its
 * provenance chain (L -> D -> L is never re-imported) and the chain can be read at all.
 */
export function mayConvertInto(content: unknown, targetRoomId: string): boolean {
  const chain = provenanceChain(content);
  return chain !== undefined && !chain.some((hop) => hop.roomId === targetRoomId);
}

/** The event a chain started from: the last hop, or the event itself when it carries no block. */
export function originOf(content: unknown, roomId: string, eventId: string): { roomId: string; eventId: string } | undefined {
  const chain = provenanceChain(content);
  if (chain === undefined) return undefined;
  return chain[chain.length - 1] ?? { roomId, eventId };
}
