// The hub's view of a room's MLS group as plain JSON data, and the rules that keep it in step with room
// membership (draft -04 "Updating Group State"; docs/mls-membership.md states the rules in prose). The
// Room keeps one Roster per encrypted room and feeds it every `m.mls.commit` (applyCommit), every
// membership change (userLeft/userJoined), every device that stops being valid (deviceInvalidated), and
// asks it about every `m.room.encrypted` (checkEncrypted). All functions are pure: they return new rosters.

import type { InspectedCommit, EncryptedHeader } from "./mls-commit.js";
import { sameDevice, type DeviceIdentity } from "./mls-identity.js";

export interface RosterLeaf {
  userId: string;
  deviceId: string;
}

export type RemovalCause = "left" | "invalid_device";

export interface Roster {
  /** The MLS group ID is this room ID's UTF-8 bytes (groupIdOfRoom). */
  roomId: string;
  /** The group's current epoch: the only epoch the next commit may be for. */
  epoch: number;
  /** By leaf index; null is a blank leaf. Trailing blanks are dropped, as RFC 9420 truncates the tree. */
  leaves: (RosterLeaf | null)[];
  /** Leaves the next accepted commit must remove. */
  pending: { leaf: number; cause: RemovalCause }[];
  /** The epoch entered by the latest commit that removed a leaf (0 before any): no removed device has its keys. */
  removalEpoch: number;
}

export interface CommitContext {
  roomId: string;
  /** The `m.mls.commit` event's sender, authenticated by the room. */
  sender: string;
  isJoined(userId: string): boolean;
  /**
   * Whether the device's published device information is currently valid (draft "Device Credentials").
   * With `signatureKey` (from a KeyPackage or UpdatePath leaf), it must also be the signature_key of the
   * device's published MLS credential: otherwise anyone could mint a KeyPackage in another device's name.
   */
  isValidDevice(userId: string, deviceId: string, signatureKey?: Uint8Array): boolean;
}

export interface LeafChange extends RosterLeaf {
  leaf: number;
}

export type RosterRejection =
  | "no_group"
  | "wrong_group"
  | "wrong_epoch"
  | "sender_not_joined"
  | "sender_not_owner"
  | "sender_device_invalid"
  | "needs_update_path"
  | "identity_changed"
  | "update_by_value"
  | "update_conflict"
  | "update_forbidden"
  | "unsupported_proposal"
  | "remove_blank"
  | "self_remove"
  | "duplicate_remove"
  | "remove_forbidden"
  | "pending_removals"
  | "add_not_joined"
  | "add_invalid_device"
  | "add_duplicate"
  | "not_application"
  | "epoch_not_reached"
  | "epoch_before_removal"
  | "proposal_by_reference";

export type RosterFailure = {
  ok: false;
  code: RosterRejection;
  reason: string;
  /** The epoch a commit must be for now (0 before the group exists); clients rebase onto it. */
  currentEpoch: number;
  /** For pending_removals: the removals the commit (or sender) still owes. */
  missing?: LeafChange[];
};

export type CommitResult = { ok: true; roster: Roster; added: LeafChange[]; removed: LeafChange[] } | RosterFailure;
export type EncryptedCheck = { ok: true } | RosterFailure;

const utf8 = new TextEncoder();

/**
 * The room's MLS group ID. The draft says the group is "identified by the room ID", so the group ID is
 * exactly the room ID string's UTF-8 bytes ("!opaque:server", or room v12's "!hash"), sigil included.
 */
export function groupIdOfRoom(roomId: string): Uint8Array {
  return utf8.encode(roomId);
}

function isGroupOf(groupId: Uint8Array, roomId: string): boolean {
  const expected = groupIdOfRoom(roomId);
  return expected.length === groupId.length && expected.every((b, i) => groupId[i] === b);
}

function describeLeaf(c: LeafChange): string {
  return `${c.userId}/${c.deviceId} (leaf ${c.leaf})`;
}

function leafAt(roster: Roster, leaf: number): LeafChange | undefined {
  const l = roster.leaves[leaf];
  return l ? { leaf, userId: l.userId, deviceId: l.deviceId } : undefined;
}

export function isMemberDevice(roster: Roster, userId: string, deviceId: string): boolean {
  return roster.leaves.some((l) => l !== null && l.userId === userId && l.deviceId === deviceId);
}

export function pendingRemovals(roster: Roster): (LeafChange & { cause: RemovalCause })[] {
  return roster.pending.flatMap((p) => {
    const l = leafAt(roster, p.leaf);
    return l ? [{ ...l, cause: p.cause }] : [];
  });
}

function markPending(roster: Roster, leaves: number[], cause: RemovalCause): Roster {
  if (leaves.length === 0) return roster;
  const pending = roster.pending.filter((p) => !leaves.includes(p.leaf) || p.cause === "invalid_device");
  for (const leaf of leaves) if (!pending.some((p) => p.leaf === leaf)) pending.push({ leaf, cause });
  return { ...roster, pending: pending.sort((a, b) => a.leaf - b.leaf) };
}

/** The user left (or was kicked or banned): every device of theirs must go in the next commit. */
export function userLeft(roster: Roster, userId: string): Roster {
  const leaves = roster.leaves.flatMap((l, i) => (l?.userId === userId ? [i] : []));
  return markPending(roster, leaves, "left");
}

/**
 * The user is joined again before anyone committed their removal: the draft's rule for removing another
 * user's device no longer holds, so their leave-caused pending removals lapse. Invalid devices stay pending.
 */
export function userJoined(roster: Roster, userId: string): Roster {
  const pending = roster.pending.filter((p) => p.cause !== "left" || roster.leaves[p.leaf]?.userId !== userId);
  return pending.length === roster.pending.length ? roster : { ...roster, pending };
}

/** The device's information became invalid: "Invalid devices MUST NOT be members ... and are removed". */
export function deviceInvalidated(roster: Roster, userId: string, deviceId: string): Roster {
  const leaves = roster.leaves.flatMap((l, i) => (l?.userId === userId && l.deviceId === deviceId ? [i] : []));
  return markPending(roster, leaves, "invalid_device");
}

function fail(code: RosterRejection, reason: string, currentEpoch: number, missing?: LeafChange[]): RosterFailure {
  return missing ? { ok: false, code, reason, currentEpoch, missing } : { ok: false, code, reason, currentEpoch };
}

/**
 * The first commit creates the roster: at epoch 0 the group is just its creator at leaf 0, whose identity
 * the hub learns from the commit's UpdatePath (ts-mls and RFC 9420 omit the path on add-only commits, so
 * the creator's first commit is an empty or path-carrying one, as the draft's "establish the group, then
 * add the remaining devices" describes).
 */
function genesis(commit: InspectedCommit, ctx: CommitContext): Roster | RosterFailure {
  if (commit.senderLeaf !== 0) return fail("sender_not_owner", "the group's first commit must come from leaf 0", 0);
  const creator = commit.pathIdentity;
  if (!creator) return fail("needs_update_path", "the group's first commit must carry an UpdatePath naming its creator", 0);
  if (creator.userId !== ctx.sender) return fail("sender_not_owner", `leaf 0 is ${creator.userId}'s device, the event is from ${ctx.sender}`, 0);
  return { roomId: ctx.roomId, epoch: 0, leaves: [{ userId: creator.userId, deviceId: creator.deviceId }], pending: [], removalEpoch: 0 };
}

/** Accepts or rejects one `m.mls.commit` at the room's current position. `roster` is null before the group exists. */
export function applyCommit(roster: Roster | null, commit: InspectedCommit, ctx: CommitContext): CommitResult {
  const epoch = roster?.epoch ?? 0;
  if (!isGroupOf(commit.groupId, ctx.roomId)) return fail("wrong_group", "the commit is for another MLS group than this room's", epoch);
  if (commit.epoch !== epoch) return fail("wrong_epoch", `the commit is for epoch ${commit.epoch}, the group is at epoch ${epoch}`, epoch);
  if (!ctx.isJoined(ctx.sender)) return fail("sender_not_joined", `${ctx.sender} is not joined`, epoch);

  const base = roster ?? genesis(commit, ctx);
  if ("ok" in base) return base;
  const committer = leafAt(base, commit.senderLeaf);
  if (!committer || committer.userId !== ctx.sender) {
    return fail("sender_not_owner", `leaf ${commit.senderLeaf} is not a device of ${ctx.sender}`, epoch);
  }
  if (!ctx.isValidDevice(committer.userId, committer.deviceId, commit.pathIdentity?.signatureKey)) {
    return fail("sender_device_invalid", `${describeLeaf(committer)} is not a valid device`, epoch);
  }
  if (commit.pathIdentity && !sameDevice(commit.pathIdentity, committer)) {
    return fail("identity_changed", `the UpdatePath would turn ${describeLeaf(committer)} into another device`, epoch);
  }

  // RFC 9420 §12.3 applies removes before adds; updates come only by reference (see below).
  const removed: LeafChange[] = [];
  const adds: DeviceIdentity[] = [];
  const updates: Array<{ leaf: number; identity: DeviceIdentity }> = [];
  for (const p of commit.proposals) {
    if (p.type === "update") {
      // RFC 9420 §12.2: a commit may not include an Update from its own sender, so one by value is
      // always invalid; one by reference is another member's (resolved with its `leaf`).
      if (p.leaf === undefined || p.leaf === commit.senderLeaf) return fail("update_by_value", "a commit may not carry the committer's own Update; use the UpdatePath", epoch);
      updates.push({ leaf: p.leaf, identity: p.identity });
      continue;
    }
    if (p.type === "other") {
      // ReInit ends the group the room is tied to; ExternalInit is for external joiners, who are not members.
      if (p.name === "reinit" || p.name === "external_init") return fail("unsupported_proposal", `${p.name} proposals are not accepted`, epoch);
      continue; // psk, group_context_extensions and custom proposals change no leaf
    }
    if (p.type === "reference") return fail("proposal_by_reference", "the commit refers to a proposal this hub did not send", epoch);
    if (p.type === "add") {
      adds.push(p.identity);
      continue;
    }
    const target = leafAt(base, p.leaf);
    if (!target) return fail("remove_blank", `leaf ${p.leaf} is blank`, epoch);
    if (p.leaf === commit.senderLeaf) return fail("self_remove", "a commit cannot remove its own sender", epoch);
    if (removed.some((r) => r.leaf === p.leaf)) return fail("duplicate_remove", `leaf ${p.leaf} is removed twice`, epoch);
    const allowed =
      p.byHub === true ||
      target.userId === ctx.sender ||
      target.userId === p.proposer ||
      !ctx.isJoined(target.userId) ||
      !ctx.isValidDevice(target.userId, target.deviceId) ||
      base.pending.some((q) => q.leaf === p.leaf);
    if (!allowed) return fail("remove_forbidden", `${ctx.sender} may not remove ${describeLeaf(target)}: that user is still joined`, epoch);
    removed.push(target);
  }

  const missing = pendingRemovals(base).filter((p) => !removed.some((r) => r.leaf === p.leaf));
  if (missing.length > 0) {
    const names = missing.map((m) => ({ leaf: m.leaf, userId: m.userId, deviceId: m.deviceId }));
    return fail("pending_removals", `the commit must also remove ${names.map(describeLeaf).join(", ")}`, epoch, names);
  }

  const badUpdate = checkUpdates(base, updates, removed, ctx);
  if (badUpdate) return fail(badUpdate.code, badUpdate.reason, epoch);

  const leaves = base.leaves.slice();
  for (const r of removed) leaves[r.leaf] = null;
  const added: LeafChange[] = [];
  for (const a of adds) {
    if (!ctx.isJoined(a.userId)) return fail("add_not_joined", `${a.userId} is not joined`, epoch);
    if (!ctx.isValidDevice(a.userId, a.deviceId, a.signatureKey)) {
      return fail("add_invalid_device", `${a.userId}/${a.deviceId} is not a valid device with this signature key`, epoch);
    }
    if (leaves.some((l) => l !== null && sameDevice(l, a))) return fail("add_duplicate", `${a.userId}/${a.deviceId} is already in the group`, epoch);
    // RFC 9420 §12.1.1: the leftmost blank leaf, else a new leaf on the right.
    const blank = leaves.indexOf(null);
    const leaf = blank >= 0 ? blank : leaves.length;
    leaves[leaf] = { userId: a.userId, deviceId: a.deviceId };
    added.push({ leaf, userId: a.userId, deviceId: a.deviceId });
  }
  while (leaves.length > 0 && leaves[leaves.length - 1] === null) leaves.pop();

  const next: Roster = {
    roomId: base.roomId,
    epoch: epoch + 1,
    leaves,
    pending: [],
    removalEpoch: removed.length > 0 ? epoch + 1 : base.removalEpoch,
  };
  return { ok: true, roster: next, added, removed };
}

/**
 * Members' Updates by reference, each judged for its proposer's leaf rather than the committer: the leaf
 * keeps its user and device, that user is joined, and the new signature key is the device's published
 * one (as for any leaf). RFC 9420 §12.2: at most one Update or Remove per leaf.
 */
function checkUpdates(base: Roster, updates: Array<{ leaf: number; identity: DeviceIdentity }>, removed: LeafChange[], ctx: CommitContext): { code: RosterRejection; reason: string } | undefined {
  for (const [i, u] of updates.entries()) {
    const target = leafAt(base, u.leaf);
    if (!target) return { code: "update_forbidden", reason: `leaf ${u.leaf} is blank` };
    if (removed.some((r) => r.leaf === u.leaf) || updates.some((o, j) => j !== i && o.leaf === u.leaf)) {
      return { code: "update_conflict", reason: `leaf ${u.leaf} is updated twice, or updated and removed` };
    }
    if (!sameDevice(u.identity, target)) return { code: "identity_changed", reason: `the Update would turn ${describeLeaf(target)} into another device` };
    if (!ctx.isJoined(target.userId)) return { code: "update_forbidden", reason: `${target.userId} is not joined` };
    if (!ctx.isValidDevice(target.userId, target.deviceId, u.identity.signatureKey)) {
      return { code: "update_forbidden", reason: `${describeLeaf(target)} is not a valid device with the Update's signature key` };
    }
  }
  return undefined;
}

/**
 * Whether an `m.room.encrypted` event may be accepted now. Its epoch must be one every current member
 * could have sent in and no removed device can read: at most the current epoch, at least `removalEpoch`.
 * While removals are pending nothing encrypted is accepted, so nothing sent after a leave is readable by
 * the departed user's devices. The hub cannot tell which device sent it (that is encrypted).
 */
export function checkEncrypted(
  roster: Roster | null,
  header: EncryptedHeader,
  senderUser: string,
  isJoined: (userId: string) => boolean,
): EncryptedCheck {
  if (!roster) return fail("no_group", "the room's MLS group has not been created yet", 0);
  const epoch = roster.epoch;
  if (!isJoined(senderUser)) return fail("sender_not_joined", `${senderUser} is not joined`, epoch);
  if (!isGroupOf(header.groupId, roster.roomId)) return fail("wrong_group", "the message is for another MLS group than this room's", epoch);
  if (header.contentType !== "application") return fail("not_application", `m.room.encrypted must carry application data, not ${header.contentType}`, epoch);
  const missing = pendingRemovals(roster);
  if (missing.length > 0) {
    const names = missing.map((m) => ({ leaf: m.leaf, userId: m.userId, deviceId: m.deviceId }));
    return fail("pending_removals", `commit the pending removals first: ${names.map(describeLeaf).join(", ")}`, epoch, names);
  }
  if (header.epoch > epoch) return fail("epoch_not_reached", `epoch ${header.epoch} is ahead of the group's epoch ${epoch}`, epoch);
  if (header.epoch < roster.removalEpoch) {
    return fail("epoch_before_removal", `epoch ${header.epoch} precedes the removal at epoch ${roster.removalEpoch}`, epoch);
  }
  return { ok: true };
}
