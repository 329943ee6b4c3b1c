// Bans across a converter: a ban crosses as a ban by the converter's service user, judged by the
// paired room's auth rules. Where the service user lacks the power to ban there, the banned user's
// ghost leaves instead: the user is gone from that room (and their devices owe removal from its MLS
// group) though not barred from coming back; the leave's provenance block still holds the ban.

import type { Conversion } from "../../shared/converter/convert.js";

/** The fallback for a refused ban: the member's own leave, same provenance. */
export function banAsLeave(c: Conversion): Conversion {
  const { reason: _reason, ...rest } = c.content;
  return { ...c, sender: c.state_key ?? c.sender, content: { ...rest, membership: "leave" } };
}
