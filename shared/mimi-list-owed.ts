// What the participant list still owes the room after a commit (-06 §7.5). A single commit must not
// add, remove or change the role of one user more than once, so when a user's membership or role
// changes while an uncommitted hub proposal already touches them, the hub waits; once that commit is
// accepted, it proposes, for the next epoch, one update bringing the list in line with the room:
// joined users listed with their role, everyone else gone.

import { userUriOf } from "./mimi-identifiers.js";
import { touchedBy } from "./mimi-roles.js";
import type { ParticipantListUpdate } from "./mimi/participant-list.js";

export interface Participant {
  userId: string;
  role: number;
}

/**
 * The users an epoch's uncommitted hub list proposals touch: those they add or change (read from the
 * updates) and those they remove (the proposal rows name them, since a removal names only an index).
 */
export function touchedThisEpoch(list: readonly Participant[], pending: readonly ParticipantListUpdate[], removedUsers: readonly string[]): Set<string> {
  const touched = touchedBy(
    list.map((p) => p.userId),
    pending,
  );
  for (const u of removedUsers) touched.add(u);
  return touched;
}

/**
 * The update that makes `list` (the list once the pending proposals are committed) match the room:
 * `joined` users, in the order given, each with `roleOf`. Undefined when nothing is owed. Role changes
 * are indexed into `list`, removals too, and additions are appended, as -06 applies them.
 */
export function owedListUpdate(list: readonly Participant[], joined: readonly string[], roleOf: (userId: string) => number): { update: ParticipantListUpdate; participants: Participant[] } | undefined {
  const isJoined = new Set(joined);
  const listed = new Set(list.map((p) => p.userId));
  const update: ParticipantListUpdate = { changedRoleParticipants: [], removedIndices: [], addedParticipants: [] };
  const participants: Participant[] = [];
  list.forEach((p, userIndex) => {
    if (!isJoined.has(p.userId)) {
      update.removedIndices.push(userIndex);
      return;
    }
    const role = roleOf(p.userId);
    if (role !== p.role) update.changedRoleParticipants.push({ userIndex, roleIndex: role });
    participants.push({ userId: p.userId, role });
  });
  for (const userId of joined) {
    if (listed.has(userId)) continue;
    listed.add(userId);
    const role = roleOf(userId);
    update.addedParticipants.push({ user: userUriOf(userId), roleIndex: role });
    participants.push({ userId, role });
  }
  const empty = update.changedRoleParticipants.length + update.removedIndices.length + update.addedParticipants.length === 0;
  return empty ? undefined : { update, participants };
}
