// The participant list (MIMI -06 §7.5, component 0x0022): the room's users and their roles, held in
// the MLS group's app_data_dictionary and changed by AppDataUpdate proposals carrying a
// ParticipantListUpdate. Clients are MLS members; a client may be a member only while its user is here.

import type { IdentifierUri } from "./common.js";
import { readUri, writeUri } from "./common.js";
import { decodeBody, encodeBody, type Decoded, type Reader, type Writer } from "./tls-codec.js";

/** `struct { opaque user<V>; uint32 role_index; } UserRolePair;` */
export interface UserRolePair {
  user: IdentifierUri;
  roleIndex: number;
}

export interface ParticipantListData {
  participants: UserRolePair[];
}

/** `struct { uint32 user_index; uint32 role_index; } UserindexRolePair;` */
export interface UserIndexRolePair {
  userIndex: number;
  roleIndex: number;
}

export interface ParticipantListUpdate {
  changedRoleParticipants: UserIndexRolePair[];
  removedIndices: number[];
  addedParticipants: UserRolePair[];
}

const readPair = (r: Reader): UserRolePair => ({
  user: r.field("user", readUri),
  roleIndex: r.field("role_index", (x) => x.u32()),
});
const writePair = (w: Writer, p: UserRolePair): void => {
  writeUri(w, p.user);
  w.u32(p.roleIndex);
};

export const encodeParticipantListData = (d: ParticipantListData): Uint8Array =>
  encodeBody((w) => w.vector(d.participants, writePair));

export const decodeParticipantListData = (bytes: Uint8Array): Decoded<ParticipantListData> =>
  decodeBody("ParticipantListData", bytes, (r) => ({ participants: r.field("participants", (x) => x.vector(readPair)) }));

export const encodeParticipantListUpdate = (u: ParticipantListUpdate): Uint8Array =>
  encodeBody((w) => {
    w.vector(u.changedRoleParticipants, (ww, c) => ww.u32(c.userIndex).u32(c.roleIndex));
    w.vector(u.removedIndices, (ww, i) => ww.u32(i));
    w.vector(u.addedParticipants, writePair);
  });

export const decodeParticipantListUpdate = (bytes: Uint8Array): Decoded<ParticipantListUpdate> =>
  decodeBody("ParticipantListUpdate", bytes, (r) => ({
    changedRoleParticipants: r.field("changedRoleParticipants", (x) =>
      x.vector((y) => ({ userIndex: y.field("user_index", (z) => z.u32()), roleIndex: y.field("role_index", (z) => z.u32()) })),
    ),
    removedIndices: r.field("removedIndices", (x) => x.vector((y) => y.u32())),
    addedParticipants: r.field("addedParticipants", (x) => x.vector(readPair)),
  }));

export type ParticipantListVerdict = { ok: true; list: ParticipantListData } | { ok: false; reason: string };

/**
 * Applies an update as §7.5 orders it (role changes, then removals, then appends), refusing one that
 * touches a user more than once, points past the list, or adds a user already present.
 */
export function applyParticipantListUpdate(list: ParticipantListData, u: ParticipantListUpdate): ParticipantListVerdict {
  const n = list.participants.length;
  const touched = new Set<number>();
  for (const i of [...u.changedRoleParticipants.map((c) => c.userIndex), ...u.removedIndices]) {
    if (i >= n) return { ok: false, reason: `user index ${i} is past the ${n} participants` };
    if (touched.has(i)) return { ok: false, reason: `user index ${i} is changed more than once` };
    touched.add(i);
  }
  const next = list.participants.map((p) => ({ ...p }));
  for (const c of u.changedRoleParticipants) next[c.userIndex]!.roleIndex = c.roleIndex;
  const removed = new Set(u.removedIndices);
  const kept = next.filter((_, i) => !removed.has(i));
  const present = new Set(kept.map((p) => p.user));
  for (const a of u.addedParticipants) {
    if (present.has(a.user) || list.participants.some((p) => p.user === a.user)) {
      return { ok: false, reason: `${a.user} is already a participant or is changed twice` };
    }
    present.add(a.user);
    kept.push({ ...a });
  }
  return { ok: true, list: { participants: kept } };
}

/** The update that adds `add` (with their roles) and removes the users in `remove`. */
export function participantListUpdateFor(
  list: ParticipantListData,
  change: { add?: UserRolePair[]; remove?: IdentifierUri[] },
): ParticipantListUpdate {
  const removedIndices = (change.remove ?? [])
    .map((user) => list.participants.findIndex((p) => p.user === user))
    .filter((i) => i >= 0);
  return { changedRoleParticipants: [], removedIndices, addedParticipants: change.add ?? [] };
}
