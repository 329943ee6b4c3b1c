// Device-list news across a converter. A real user's new or removed device is news for the clients on
// the other side of a pairing, but their servers share no room with that user, only with the user's
// ghost here, so the user's own server never tells them. When such news reaches this server, it
// announces a change of the ghost's device list (which is always empty): the other side's servers
// re-fetch it, their clients see the ghost in `device_lists.changed`, and a converter-aware client
// re-queries the real user behind it (docs/converter-e2ee.md). Nothing about the real devices is
// relayed: their keys still come only from the real user's own server.

import { ghostUserId, parseGhost, type GhostKind } from "../shared/converter/ghost-user.js";
import { announceDeviceChange } from "./device-list-updates.js";

const stream = (env: Env, userId: string) => env.USER_STREAM.get(env.USER_STREAM.idFromName(userId));

/** The ghosts of `realUser` on this server that are in a room now. */
export async function ghostsInRooms(env: Env, serverName: string, realUser: string): Promise<string[]> {
  // A ghost is never ghosted again, so news about one ends here.
  if (parseGhost(realUser, serverName)) return [];
  const out: string[] = [];
  for (const kind of ["lm", "mx"] as GhostKind[]) {
    const ghost = ghostUserId(kind, realUser, serverName);
    if (ghost && (await stream(env, ghost).joinedRooms()).length > 0) out.push(ghost);
  }
  return out;
}

/** `realUser`'s devices changed: each ghost of theirs here announces a change of its (empty) list. */
export async function announceGhostDeviceChange(env: Env, serverName: string, realUser: string): Promise<void> {
  for (const ghost of await ghostsInRooms(env, serverName, realUser)) await announceDeviceChange(env, serverName, ghost, [], []);
}
