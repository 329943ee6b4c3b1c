// One event of a room, as the converter writes it into the paired room: which user sends it there
// (a ghost, or the local user themself) and the event (same type, content with the provenance
// block). Pure; the listener and the importer in durable-objects/room/ do the I/O.

import type { JsonObject } from "../canonical-json.js";
import type { Pdu } from "../event.js";
import type { RoomVersion } from "../room-version.js";
import { carriedAs } from "./carried-events.js";
import { convertedSender, serviceUserId, type GhostKind } from "./ghost-user.js";
import { convertedContent, mayConvertInto } from "./provenance.js";

export interface ConversionSource {
  roomId: string;
  version: RoomVersion;
  eventId: string;
  pdu: Pdu;
  /** For a membership event: the target's membership in the source room before it (an unban is told by it). */
  before?: string | undefined;
}

export interface Conversion {
  /** Who sends the converted event in the target room (a user of the converting server). */
  sender: string;
  type: string;
  state_key?: string;
  content: JsonObject;
}

export type ConversionResult = { ok: true; conversion: Conversion } | { ok: false; reason: string };

/** LM rooms' members appear as `_lm_` ghosts, everyone else's as `_mx_` ghosts. */
export const ghostKindOf = (version: RoomVersion): GhostKind => (version.linearized ? "lm" : "mx");

/** What `src` becomes in `targetRoomId` when `hub` converts it, or why it stays where it is. */
export function convertEvent(src: ConversionSource, targetRoomId: string, hub: string): ConversionResult {
  const { pdu } = src;
  const carried = carriedAs(pdu, src.before);
  if (!carried) return { ok: false, reason: `${pdu.type} is not carried` };
  if (!mayConvertInto(pdu.content, targetRoomId)) return { ok: false, reason: "the target room is on the event's provenance chain" };
  const kind = ghostKindOf(src.version);
  if (carried.kind === "membership") {
    const member = convertedSender(kind, carried.target, hub);
    if (!member) return { ok: false, reason: `${carried.target} has no ghost here` };
    const content = convertedContent(pdu, src.eventId, src.roomId, src.version, carried.content);
    // Only someone with the power to ban can ban or unban: the converter's service user (converter-import.ts).
    const sender = carried.membership === "ban" || carried.membership === "unban" ? serviceUserId(hub) : member;
    return { ok: true, conversion: { sender, type: pdu.type, state_key: member, content } };
  }
  const sender = convertedSender(kind, pdu.sender, hub);
  if (!sender) return { ok: false, reason: `${pdu.sender} has no ghost here` };
  const content = convertedContent(pdu, src.eventId, src.roomId, src.version);
  return { ok: true, conversion: { sender, type: pdu.type, ...(carried.kind === "state" ? { state_key: "" } : {}), content } };
}
