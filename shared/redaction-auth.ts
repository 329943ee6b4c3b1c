// Whether a redaction may be applied to its target (Matrix "Handling redactions", room v3 onwards; the
// LM draft has no rule of its own, so it inherits this one). The auth rules only decide whether the
// redaction event enters the room; this decides whether it strips the target.

import type { Pdu, StateMap } from "./event.js";
import type { RulesVersion } from "./power-levels.js";
import { actionLevel, userLevel } from "./power-levels.js";
import { RoomView, contentOf, domainOf } from "./auth-rules-common.js";

export interface RedactionContext {
  /** The redaction's own event ID: an event that redacts itself is ignored. */
  redactionId: string;
  /** The event ID of `target`. */
  targetId: string;
  /** State at the redaction; its power levels and creators decide the sender's level. */
  state: StateMap;
  version: RulesVersion;
  /** v12 keeps the create event out of auth-event state; pass it here. */
  createEvent?: Pdu;
}

/**
 * The redacted event ID: `content.redacts` (v11 and later) when present, else the older top-level
 * `redacts`. A `content.redacts` that is not a string names nothing, rather than falling back.
 */
export function redactionTargetOf(redaction: Pdu): string | undefined {
  const content = contentOf(redaction);
  if ("redacts" in content) return typeof content.redacts === "string" ? content.redacts : undefined;
  return typeof redaction.redacts === "string" ? redaction.redacts : undefined;
}

/** True when the sender holds the redact level or shares a server with the target's sender. Never throws. */
export function redactionMayBeApplied(redaction: Pdu, target: Pdu, ctx: RedactionContext): boolean {
  try {
    if (redaction.type !== "m.room.redaction") return false;
    const targetId = redactionTargetOf(redaction);
    if (targetId === undefined || targetId !== ctx.targetId || targetId === ctx.redactionId) return false;
    if (typeof redaction.room_id !== "string" || redaction.room_id !== target.room_id) return false;
    const domain = domainOf(redaction.sender);
    if (domain !== undefined && domain === domainOf(target.sender)) return true;
    const room = new RoomView(ctx.state, ctx.createEvent ?? ctx.state.get("m.room.create", ""), ctx.version);
    const pw = room.power("redact");
    return userLevel(pw, redaction.sender) >= actionLevel(pw.levels, "redact");
  } catch {
    return false;
  }
}
