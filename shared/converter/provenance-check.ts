// The independent check of a converted event: from its provenance block alone (and the servers'
// public keys), rebuild the original event, recompute its event ID and content hashes, and verify
// the signatures its room version requires - for an LM event the hub's over the PDU and the
// sender's server's over the LPDU. It trusts nothing the converter says beyond what those hashes
// and signatures cover. Never throws.

import type { JsonObject } from "../canonical-json.js";
import type { Pdu } from "../event.js";
import { checkContentHashes, verifyEventSignatures, type KeyLookup } from "../event-signatures.js";
import { eventIdOf } from "../hashes.js";
import { getRoomVersion } from "../room-versions.js";
import { originalContentOf, PROVENANCE_KEY, readProvenance, type ProvenanceBlock } from "./provenance.js";

export type ProvenanceCheckName = "format" | "type" | "room" | "event-id" | "content-hash" | "signatures";

export type ProvenanceCheck =
  | { ok: true; original: Pdu; block: ProvenanceBlock }
  | { ok: false; check: ProvenanceCheckName; reason: string };

const fail = (check: ProvenanceCheckName, reason: string): ProvenanceCheck => ({ ok: false, check, reason });

/** The converted event as any reader has it: its type and content are enough. */
export interface ConvertedEvent {
  type: string;
  content: JsonObject;
}

/** The original event rebuilt from a block: its skeleton with the original content put back. */
export function rebuildOriginal(converted: JsonObject, block: ProvenanceBlock): Pdu {
  return { ...(block.event as unknown as Pdu), content: originalContentOf(converted, block) };
}

export async function checkProvenance(converted: ConvertedEvent, keys: KeyLookup): Promise<ProvenanceCheck> {
  try {
    const block = readProvenance(converted.content);
    if (!block) return fail("format", `content has no well-formed ${PROVENANCE_KEY} block`);
    const version = getRoomVersion(block.room_version);
    if (!version) return fail("format", `unknown room version ${block.room_version}`);
    const original = rebuildOriginal(converted.content, block);
    if (original.type !== converted.type) return fail("type", `the original is ${String(original.type)}, the converted event ${converted.type}`);
    if (original.room_id !== block.room_id) return fail("room", `the original is in ${String(original.room_id)}, the block says ${block.room_id}`);
    const eventId = await eventIdOf(original, version);
    if (eventId !== block.event_id) return fail("event-id", `the rebuilt event's ID is ${eventId}, the block says ${block.event_id}`);
    const hashes = await checkContentHashes(original);
    if (!hashes.ok) return fail("content-hash", hashes.pdu ? "the LPDU hash does not match the original content" : "the content hash does not match the original content");
    const sigs = await verifyEventSignatures(original, version, keys);
    if (!sigs.ok) return fail("signatures", `${sigs.check}: ${sigs.reason}`);
    return { ok: true, original, block };
  } catch (e) {
    return fail("format", e instanceof Error ? e.message : String(e));
  }
}
