// The hub's side of MIMI groupInfo (draft-ietf-mimi-protocol-06 §5.6): it keeps the GroupInfo (and
// ratchet tree) that came with the last accepted `update`, and hands it to a participant's provider
// so that provider's clients can join externally or catch up. Only a GroupInfo for the group's
// current epoch is served: a commit over LM carries none, and an older one would lead nowhere.

import { decodeGroupInfoField } from "../../shared/mimi/index.js";
import { groupIdOfRoom } from "../../shared/mls-roster.js";
import type { RoomMimiStorage, StoredGroupInfo } from "../room-mimi-storage.js";

export type GroupInfoAnswer =
  | { status: "success"; groupInfo: Uint8Array; ratchetTree?: Uint8Array; pendingProposals: HeldProposal[] }
  | { status: "notAuthorized" | "noSuchRoom"; reason: string };

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * The GroupInfo an accepted commit came with, when it is one worth serving: a well-formed GroupInfo
 * of this room's group for the epoch the commit started. Anything else is not kept.
 */
export function groupInfoToKeep(roomId: string, epochNow: number, groupInfo: Uint8Array | undefined, ratchetTree: Uint8Array | undefined): StoredGroupInfo | undefined {
  if (!groupInfo) return undefined;
  const decoded = decodeGroupInfoField(groupInfo);
  if (!decoded.ok) return undefined;
  const context = decoded.value.value.groupContext;
  if (context.epoch !== BigInt(epochNow) || !sameBytes(context.groupId, groupIdOfRoom(roomId))) return undefined;
  return { epoch: epochNow, groupInfo: decoded.value.bytes, ...(ratchetTree ? { ratchetTree } : {}) };
}

/** A proposal the next commit must include (the hub's own or a member's), as groupInfo lists it. */
export interface HeldProposal {
  message: Uint8Array;
  acceptedTs: number;
}

/** What the hub answers `requester` (already tied to the requesting provider by the Worker). */
export function answerGroupInfo(store: RoomMimiStorage, epochNow: number, requesterJoined: boolean, pendingProposals: HeldProposal[] = []): GroupInfoAnswer {
  // -06 lets the credential alone authorize; here the user must be a participant (joiningCode is not supported).
  if (!requesterJoined) return { status: "notAuthorized", reason: "the requesting user is not a participant of the room" };
  const kept = store.groupInfo();
  if (!kept || kept.epoch !== epochNow) return { status: "notAuthorized", reason: `the hub holds no GroupInfo for epoch ${epochNow}` };
  return { status: "success", groupInfo: kept.groupInfo, ...(kept.ratchetTree ? { ratchetTree: kept.ratchetTree } : {}), pendingProposals };
}
