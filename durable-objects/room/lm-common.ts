// Pieces both Linearized Matrix roles use: the links of the next event in a linear room, and the
// fields a local user's event starts from. Kept apart so LmHub and LmParticipant need not import
// each other.

import type { Lpdu, Pdu } from "../../shared/event.js";
import type { LpduFields } from "../../shared/lpdu.js";
import type { RoomCore } from "./core.js";
import type { LocalEvent, MembershipKind } from "./protocol.js";
import { rejected, type Rejected } from "./verdict.js";

/** Auth events from current state; the previous event is the tip, so the log stays a line. */
export function linksFor(core: RoomCore, e: Pick<Pdu, "type" | "sender" | "state_key" | "content">): { authEvents: string[]; prevEvents: string[]; depth?: number } {
  // Only a room's first event goes unlinked: any later create event names the last event, so the
  // auth rules ("a create event has no prev_events") refuse it.
  const last = core.last;
  if (e.type === "m.room.create" && !last) return { authEvents: [], prevEvents: [], depth: 1 };
  const authEvents: string[] = [];
  for (const [type, key] of core.version.authEventKeys(e)) {
    const id = core.state.eventIdOf(type, key);
    if (id !== undefined && !authEvents.includes(id)) authEvents.push(id);
  }
  return { authEvents, prevEvents: last ? [last.eventId] : [], depth: (last?.pdu.depth ?? 0) + 1 };
}

/** The fields a local user's event starts from, whichever server completes it. */
export function eventFields(core: RoomCore, sender: string, event: Omit<LocalEvent, "redacts">): LpduFields {
  return {
    room_id: core.roomId,
    type: event.type,
    sender,
    origin_server_ts: Date.now(),
    content: event.content,
    ...(event.state_key !== undefined ? { state_key: event.state_key } : {}),
  };
}

/** send_join / send_leave / send_knock: the event must be the sender's own membership of that kind. */
export function membershipShapeError(lpdu: Lpdu, membership: MembershipKind): Rejected | undefined {
  if (lpdu.type !== "m.room.member" || lpdu.content["membership"] !== membership) {
    return rejected("format", `Expected an m.room.member event with membership ${membership}`, 400, "M_BAD_JSON");
  }
  if (lpdu.state_key !== lpdu.sender) return rejected("format", "state_key must equal sender", 400, "M_BAD_JSON");
  return undefined;
}

export const wrongServer = (): Rejected => rejected("hub", "This server is not the room's hub", 400, "M_WRONG_SERVER");
