// The MLS facts the MIMI hub needs, read from the room's MLS part (room-mls.ts) and the commit
// inspection in shared/: who committed (by the roster's sender leaf, or the creator's UpdatePath),
// the current epoch, the commit that started an epoch, and the devices in the group.

import { inspectCommit } from "../../shared/mls-commit.js";
import { resolvedMemberProposal } from "../../shared/mls-member-proposal.js";
import type { RoomMls } from "../room-mls.js";
import type { MimiMlsView } from "./mimi-hub.js";

export function mimiMlsView(mls: RoomMls): MimiMlsView {
  const algorithm = (): string | undefined => {
    const e = mls.encryption();
    return e.mls ? e.algorithm : undefined;
  };
  return {
    algorithm,
    epoch: () => mls.currentRoster()?.epoch ?? 0,
    committerOf(message) {
      const alg = algorithm();
      if (!alg) return { code: "not_mls_room", reason: "this room is not an MLS room" };
      const inspected = inspectCommit(message, alg);
      if (!inspected.ok) return { code: inspected.code, reason: inspected.reason };
      const roster = mls.currentRoster();
      const userId = roster ? roster.leaves[inspected.commit.senderLeaf]?.userId : inspected.commit.pathIdentity?.userId;
      return userId ? { userId } : { code: "unknown_sender", reason: `leaf ${inspected.commit.senderLeaf} holds no member` };
    },
    commitStarting: (epoch) => mls.commitInto(epoch),
    leavesOf: (userId) => (mls.currentRoster()?.leaves ?? []).flatMap((l, i) => (l?.userId === userId ? [i] : [])),
    participants: () => mls.hub.participants(),
    coveredByCommit: (users, run) => mls.hub.coveredByCommit(users, run),
    listUpdateVetted: (message, run) => mls.hub.listUpdateVetted(message, run),
    roles: { powerLevelsWith: (changes) => mls.hub.powerLevelsWith(changes), coveredByCommit: (run) => mls.hub.rolesCoveredByCommit(run) },
    proposals: {
      hubInstalled: () => mls.hub.isInstalled(),
      leafAt: (leaf) => mls.currentRoster()?.leaves[leaf] ?? undefined,
      isJoined: (userId) => mls.isJoined(userId),
      leavesBeingRemoved: () => [...(mls.currentRoster()?.pending.map((p) => p.leaf) ?? []), ...mls.hub.pendingProposals().flatMap((p) => (p.leaf === null ? [] : [p.leaf]))],
      heldEffects: () => mls.hub.pendingProposals().flatMap((p) => (p.proposer === undefined ? [] : (resolvedMemberProposal(p.message, p.proposer) ?? []))),
      rosterLeaves: () => mls.currentRoster()?.leaves ?? [],
      signatureKeyOf: (userId, deviceId) => mls.signatureKeyOf(userId, deviceId),
      hold: (row) => mls.hub.holdMemberProposal(row),
      leaves: () => (mls.currentRoster()?.leaves ?? []).flatMap((l) => (l ? [l] : [])),
    },
    devices: () => (mls.currentRoster()?.leaves ?? []).flatMap((l) => (l ? [{ userId: l.userId, deviceId: l.deviceId }] : [])),
  };
}
