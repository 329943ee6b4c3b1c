// A participant's role in the MIMI participant list (-06 §7.5, component 0x0022), taken from the room's
// m.room.power_levels. -06 leaves what a role_index means to the room-policy draft, which Switchboard
// does not implement; so the role index is the user's power level, and peers read it as such
// (docs/mimi.md "Participant list").

import type { JsonObject } from "./canonical-json.js";
import type { Pdu } from "./event.js";
import type { ParticipantListUpdate, UserIndexRolePair } from "./mimi/participant-list.js";
import { isPlainObject, isPowerLevel, roomCreators } from "./power-levels.js";
import { getRoomVersion } from "./room-versions.js";

/** role_index is a uint32. */
export const MAX_ROLE_INDEX = 0xffff_ffff;

const clamp = (level: number): number => Math.min(MAX_ROLE_INDEX, Math.max(0, level));

/** The room's creators whose power level is infinite (room v12 and later); empty for other versions. */
export function privilegedCreators(create: Pdu | undefined): ReadonlySet<string> {
  return create && getRoomVersion(create.content["room_version"])?.creatorsPrivileged ? roomCreators(create, "12") : new Set();
}

/**
 * `userId`'s role index under the power-levels content `powerLevels` (undefined: the room has none):
 * `users[userId]`, else `users_default`, else 0, clamped to the uint32 range (a negative level is 0).
 * A creator in `privileged` (room v12: an infinite level) has the highest role index.
 */
export function roleIndexOf(powerLevels: unknown, userId: string, privileged: ReadonlySet<string> = new Set()): number {
  if (privileged.has(userId)) return MAX_ROLE_INDEX;
  if (!isPlainObject(powerLevels)) return 0;
  const users = powerLevels["users"];
  const own = isPlainObject(users) && Object.hasOwn(users, userId) ? users[userId] : undefined;
  if (isPowerLevel(own)) return clamp(own);
  const fallback = powerLevels["users_default"];
  return isPowerLevel(fallback) ? clamp(fallback) : 0;
}

/** The participants (by list index) whose role under `roleOf` differs from the one the list holds. */
export function roleChanges(list: ReadonlyArray<{ userId: string; role: number }>, roleOf: (userId: string) => number): UserIndexRolePair[] {
  return list.flatMap((p, userIndex) => {
    const roleIndex = roleOf(p.userId);
    return roleIndex === p.role ? [] : [{ userIndex, roleIndex }];
  });
}

export interface RoleChange {
  /** The participant-list update the hub proposes: role changes only. */
  update: ParticipantListUpdate;
  /** The list after it. */
  participants: Array<{ userId: string; role: number }>;
}

/**
 * What a power-levels change (`powerLevels`, the new content) does to `list`; undefined when no role
 * changes. Users in `skip` keep their role for now (see touchedBy).
 */
export function roleChangeFor(
  list: ReadonlyArray<{ userId: string; role: number }>,
  powerLevels: unknown,
  privileged?: ReadonlySet<string>,
  skip: ReadonlySet<string> = new Set(),
): RoleChange | undefined {
  const changed = roleChanges(list, (userId) => (skip.has(userId) ? (list.find((p) => p.userId === userId)?.role ?? 0) : roleIndexOf(powerLevels, userId, privileged)));
  if (changed.length === 0) return undefined;
  const roles = new Map(changed.map((c) => [c.userIndex, c.roleIndex]));
  return {
    update: { changedRoleParticipants: changed, removedIndices: [], addedParticipants: [] },
    participants: list.map((p, i) => ({ userId: p.userId, role: roles.get(i) ?? p.role })),
  };
}

/**
 * `powerLevels` (the current content; undefined: none) with each of `changes` as that user's level, so
 * that roleIndexOf gives them exactly their new role: how a member's committed role change is written.
 */
export function powerLevelsWithRoles(powerLevels: unknown, changes: ReadonlyArray<{ userId: string; role: number }>): JsonObject {
  // Event content is JSON, so the object read from state is a JsonObject.
  const base = (isPlainObject(powerLevels) ? powerLevels : {}) as JsonObject;
  const users: JsonObject = isPlainObject(base["users"]) ? { ...base["users"] } : {};
  for (const c of changes) users[c.userId] = c.role;
  return { ...base, users };
}

/**
 * The users that `updates` (applied in order, ending in `list`) add or change the role of. -06 §7.5
 * makes a commit invalid if its list updates touch a user twice, so the hub defers another role change
 * for them to the next epoch. Walks back from the end: an update's additions are the list's tail, and
 * its removed indices are reopened (as unknown users) before its role-change indices are read.
 */
export function touchedBy(list: readonly string[], updates: readonly ParticipantListUpdate[]): Set<string> {
  const touched = new Set<string>();
  const current: Array<string | undefined> = [...list];
  for (const u of [...updates].reverse()) {
    for (const added of current.splice(Math.max(0, current.length - u.addedParticipants.length))) if (added !== undefined) touched.add(added);
    for (const i of [...u.removedIndices].sort((a, b) => a - b)) current.splice(i, 0, undefined);
    for (const c of u.changedRoleParticipants) {
      const user = current[c.userIndex];
      if (user !== undefined) touched.add(user);
    }
  }
  return touched;
}
