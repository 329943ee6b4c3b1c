// Which events a converter carries into the paired room, and what a membership change becomes
// there. Messages, encrypted messages and MLS commits cross as they are; of state, the room name,
// topic and encryption (only one naming an algorithm: encryption is never switched off across the
// converter) and membership (as the ghost's own join or leave). Everything else (power levels,
// join rules, redactions, the pairing itself) belongs to one room and stays there.

import type { JsonObject } from "../canonical-json.js";
import type { Pdu } from "../event.js";
import { membershipOf } from "../room-state.js";
import { namesAlgorithm } from "./paired-encryption.js";

const MESSAGE_TYPES = new Set(["m.room.message", "m.room.encrypted", "m.mls.commit"]);
const ROOM_STATE = new Set(["m.room.name", "m.room.topic"]);

export type Carried =
  | { kind: "message" }
  | { kind: "state" }
  /**
   * The member (the state key) joins, leaves or is banned in the other room; `content` is the
   * ghost's member content. A ban stays a ban, so the other room's auth rules judge it as one, and
   * an unban (a banned member's leave sent by someone else) lifts the ghost's ban there.
   */
  | { kind: "membership"; target: string; membership: "join" | "leave" | "ban" | "unban"; content: JsonObject };

/** How `pdu` crosses, or undefined when it stays in its room; `before` is the target's membership before it. */
export function carriedAs(pdu: Pdu, before?: string): Carried | undefined {
  if (MESSAGE_TYPES.has(pdu.type)) return pdu.state_key === undefined ? { kind: "message" } : undefined;
  if (ROOM_STATE.has(pdu.type)) return pdu.state_key === "" ? { kind: "state" } : undefined;
  if (pdu.type === "m.room.encryption") return pdu.state_key === "" && namesAlgorithm(pdu.content) ? { kind: "state" } : undefined;
  if (pdu.type !== "m.room.member" || typeof pdu.state_key !== "string") return undefined;
  const m = membershipOf(pdu);
  // Invites and knocks are requests inside one room; only being in it or not crosses over.
  const membership = m === "join" || m === "leave" || m === "ban" ? m : undefined;
  if (membership === undefined) return undefined;
  const content: JsonObject = { membership };
  if (membership === "ban" && typeof pdu.content.reason === "string") content.reason = pdu.content.reason;
  if (membership === "join") {
    for (const k of ["displayname", "avatar_url"] as const) {
      const v = pdu.content[k];
      if (typeof v === "string") content[k] = v;
    }
  }
  const unban = membership === "leave" && before === "ban" && pdu.sender !== pdu.state_key;
  return { kind: "membership", target: pdu.state_key, membership: unban ? "unban" : membership, content };
}
