// Bans across a converter: a ban crosses as a ban by the converter's service user, judged by the
// paired room's auth rules. Where the service user lacks the power to ban there, the banned user's
// ghost leaves instead: the user is gone from that room (and their devices owe removal from its MLS
// group) though not barred from coming back; the leave's provenance block still holds the ban.

import type { Conversion } from "../../shared/converter/convert.js";
import type { Pdu } from "../../shared/event.js";

/** The target's membership before member event `pdu`: the member event among its auth events. */
export function membershipBefore(pdu: Pdu, eventById: (id: string) => Pdu | undefined): string | undefined {
  if (pdu.type !== "m.room.member" || pdu.content.membership !== "leave" || !Array.isArray(pdu.auth_events)) return undefined;
  for (const id of pdu.auth_events) {
    const e = eventById(id);
    if (e?.type === "m.room.member" && e.state_key === pdu.state_key) return typeof e.content.membership === "string" ? e.content.membership : undefined;
  }
  return undefined;
}

/** Whether `c` is an unban by the service user (a leave it sends for someone else). */
export const isUnban = (c: Conversion): boolean => c.type === "m.room.member" && c.content.membership === "leave" && c.state_key !== undefined && c.state_key !== c.sender;

/** The fallback for a refused ban: the member's own leave, same provenance. */
export function banAsLeave(c: Conversion): Conversion {
  const { reason: _reason, ...rest } = c.content;
  return { ...c, sender: c.state_key ?? c.sender, content: { ...rest, membership: "leave" } };
}
