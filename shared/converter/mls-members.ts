// Who an MLS roster sees behind the members of a paired room. A device's credential names its real
// user (`@bob:matrix.example`), but in the LM room that user is present only as a converter's ghost
// (`@_mx_bob=3amatrix.example:hub`), so the hub's "a device is in the group only while its user is
// joined" rule asks about the real user and counts them joined while any of their ghosts is. Only
// ghosts of servers the room's pairings name as converters stand for anyone: a ghost-shaped user of
// any other server is just a user.

import { PAIR_EVENT, parsePairing } from "./pairing.js";
import { ghostUserId, parseGhost } from "./ghost-user.js";
import type { RoomState } from "../room-state.js";

export interface MlsMembers {
  /** The user a room member stands for: the real user behind a converter's ghost, else themself. */
  realUser(userId: string): string;
  /** Whether `userId` (a real user) is joined here, in person or as a converter's ghost. */
  isJoined(userId: string): boolean;
}

/** The converter servers the room's current pairings name. */
export function convertersOf(state: RoomState): string[] {
  const out = new Set<string>();
  for (const { pdu } of state.all()) {
    if (pdu.type !== PAIR_EVENT || typeof pdu.state_key !== "string") continue;
    const parsed = parsePairing(pdu.state_key, pdu.content);
    if ("paired" in parsed && parsed.paired) for (const c of parsed.pairing.converters) out.add(c);
  }
  return [...out];
}

/**
 * The view of a room the roster rules use, given its converters (convertersOf, which walks the whole
 * state: callers keep its answer until a pair event changes); with none, every user is themself.
 */
export function mlsMembers(state: Pick<RoomState, "membership">, converters: readonly string[]): MlsMembers {
  const joined = (u: string | undefined): boolean => u !== undefined && state.membership(u) === "join";
  return {
    realUser(userId) {
      for (const c of converters) {
        const g = parseGhost(userId, c);
        if (g) return g.userId;
      }
      return userId;
    },
    isJoined(userId) {
      if (joined(userId)) return true;
      return converters.some((c) => joined(ghostUserId("mx", userId, c)) || joined(ghostUserId("lm", userId, c)));
    },
  };
}
