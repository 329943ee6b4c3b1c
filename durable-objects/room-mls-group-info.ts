// Hub: the GroupInfo an accepted-to-be commit carries (content `group_info`, optional `ratchet_tree`),
// whether it came over LM or as a MIMI update. A wrong one refuses the whole commit (the committer made
// it, so it is the committer's error); a right one is kept for MIMI groupInfo and standalone proposals.
// While the room has MIMI followers every commit must carry one, so the hub always holds the current
// epoch's GroupInfo (-06 requires it of a MIMI update; LM commits are held to the same).

import { tryDecodeBase64 } from "../shared/base64.js";
import type { Pdu } from "../shared/event.js";
import type { InspectedCommit } from "../shared/mls-commit.js";
import { checkCommitGroupInfo, type CommitGroupInfo } from "../shared/mls-commit-group-info.js";
import { groupIdOfRoom, type Roster } from "../shared/mls-roster.js";
import { mlsError } from "./room-mls-errors.js";

/**
 * The GroupInfo to keep, undefined when the commit carries none; throws the refusal. `roster` is the
 * one before the commit; the committer's key is its UpdatePath leaf's or, without a path, its device's.
 */
export async function vetCommitGroupInfo(
  pdu: Pdu,
  commit: InspectedCommit,
  roomId: string,
  roster: Roster | null,
  signatureKeyOf: (userId: string, deviceId: string) => Promise<string | null | undefined>,
  required: boolean,
): Promise<CommitGroupInfo | undefined> {
  const { group_info: groupInfo, ratchet_tree: ratchetTree } = pdu.content;
  const epoch = roster?.epoch ?? 0;
  if (groupInfo === undefined && required) throw mlsError("group_info_required", "this room has MIMI followers, so a commit must carry the new epoch's GroupInfo as group_info", epoch);
  if (groupInfo === undefined && ratchetTree === undefined) return undefined;
  let key: Uint8Array | undefined = commit.pathIdentity?.signatureKey;
  if (!key) {
    const leaf = roster?.leaves[commit.senderLeaf];
    const published = leaf ? await signatureKeyOf(leaf.userId, leaf.deviceId) : undefined;
    key = tryDecodeBase64(published);
  }
  if (!key) throw mlsError("bad_group_info", "the committer's MLS signature key is not known, so its GroupInfo cannot be checked", epoch);
  const checked = await checkCommitGroupInfo(groupInfo, ratchetTree, { groupId: groupIdOfRoom(roomId), commitEpoch: commit.epoch, senderLeaf: commit.senderLeaf, signatureKey: key });
  if (!checked.ok) throw mlsError(checked.code, checked.reason, epoch);
  return checked.kept;
}
