// The hub's side of MIMI groupInfo (draft-ietf-mimi-protocol-06 §5.6): it keeps the GroupInfo (and
// ratchet tree) that came with the last accepted commit, over LM or MIMI, once room-mls-group-info.ts
// has checked it, and hands it to a participant's provider so that provider's clients can join
// externally or catch up. Only a GroupInfo for the group's current epoch is served: after a commit that
// carried none, an older one would lead nowhere.

import type { RoomMimiStorage } from "../room-mimi-storage.js";
import type { CommitListener, Committed } from "./core.js";

export type GroupInfoAnswer =
  | { status: "success"; groupInfo: Uint8Array; ratchetTree?: Uint8Array; pendingProposals: HeldProposal[] }
  | { status: "notAuthorized" | "noSuchRoom"; reason: string };

/** Commit listener: stores, in the commit's transaction, the GroupInfo an accepted commit carried. */
export class GroupInfoKeeper implements CommitListener {
  constructor(private readonly store: Pick<RoomMimiStorage, "setGroupInfo">) {}

  record(c: Committed): void {
    const kept = c.mls?.groupInfo;
    if (kept) this.store.setGroupInfo(kept);
  }
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
