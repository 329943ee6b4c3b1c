// Device-list news across a converter. A real user's new or removed device is news for the clients on
// the other side of a pairing, but their servers share no room with that user, only with the user's
// ghost here, so the user's own server never tells them. When such news reaches this server, each
// ghost of the user that is in a room announces a change of its own list (which is always empty):
// the other side's servers hear of it, their clients see the ghost in `device_lists.changed`, and a
// converter-aware client re-queries the real user behind it (docs/converter-e2ee.md). Nothing about
// the real devices is relayed: their keys still come only from the real user's own server.

import { ghostUserId, parseGhost, type GhostKind } from "../shared/converter/ghost-user.js";

const KINDS: readonly GhostKind[] = ["lm", "mx"];

/** The ghosts `realUser` could have on `hub`: none for a ghost of `hub` itself, which is never ghosted again. */
export function possibleGhostsOf(realUser: string, hub: string): string[] {
  if (parseGhost(realUser, hub)) return [];
  return KINDS.map((kind) => ghostUserId(kind, realUser, hub)).filter((g): g is string => g !== undefined);
}
