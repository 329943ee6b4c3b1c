// The GroupInfo a commit may carry (`m.mls.commit` content `group_info`, MIMI update's GroupInfoOption):
// the hub keeps it to serve MIMI groupInfo and to read the GroupContext that members' standalone
// proposals are signed over, so it must be what the committer made for the epoch its commit starts.
// Checked here: it decodes (an MLSMessage or bare GroupInfo), names the room's group and that epoch, its
// signer is the committing leaf, and its signature verifies under that leaf's MLS signature key.

import { verifyGroupInfoSignature } from "ts-mls/groupInfo.js";
import { tryDecodeBase64 } from "./base64.js";
import { decodeBody } from "./mimi/tls-codec.js";
import { decodeGroupInfoField, readRatchetTree } from "./mimi/mls-fields.js";
import { ed25519Verifier } from "./mls-ed25519-verifier.js";
import { sameBytes } from "./bytes.js";

export interface CommitGroupInfo {
  /** The epoch the GroupInfo is for: the one the commit starts. */
  epoch: number;
  /** MLSMessage bytes. */
  groupInfo: Uint8Array;
  /** The ratchet_tree extension's encoding, when the committer sent the tree. */
  ratchetTree?: Uint8Array;
}

export type CommitGroupInfoCheck = { ok: true; kept?: CommitGroupInfo } | { ok: false; code: "bad_group_info"; reason: string };

export interface CommitSigner {
  groupId: Uint8Array;
  /** The epoch the commit is for; its GroupInfo is for the next. */
  commitEpoch: number;
  senderLeaf: number;
  /** The committing leaf's MLS signature key after the commit. */
  signatureKey: Uint8Array;
}

const refuse = (reason: string): CommitGroupInfoCheck => ({ ok: false, code: "bad_group_info", reason });

/** `groupInfo` and `ratchetTree` as the content carries them (unpadded base64, or absent). */
export async function checkCommitGroupInfo(groupInfo: unknown, ratchetTree: unknown, signer: CommitSigner): Promise<CommitGroupInfoCheck> {
  if (groupInfo === undefined) return ratchetTree === undefined ? { ok: true } : refuse("ratchet_tree comes only with a group_info");
  const bytes = tryDecodeBase64(groupInfo);
  if (bytes === undefined) return refuse("group_info is not unpadded base64");
  const decoded = decodeGroupInfoField(bytes);
  if (!decoded.ok) return refuse(`group_info: ${decoded.error.detail}`);
  const info = decoded.value.value;
  const epoch = signer.commitEpoch + 1;
  if (!sameBytes(info.groupContext.groupId, signer.groupId)) return refuse("the GroupInfo is for another group");
  if (info.groupContext.epoch !== BigInt(epoch)) return refuse(`the GroupInfo is for epoch ${info.groupContext.epoch}, the commit starts epoch ${epoch}`);
  if (info.signer !== signer.senderLeaf) return refuse(`the GroupInfo is signed by leaf ${info.signer}, not the committer's leaf ${signer.senderLeaf}`);
  let signed = false;
  try {
    signed = await verifyGroupInfoSignature(info, signer.signatureKey, ed25519Verifier);
  } catch {
    signed = false;
  }
  if (!signed) return refuse("the GroupInfo's signature does not verify under the committer's MLS signature key");
  let tree: Uint8Array | undefined;
  if (ratchetTree !== undefined) {
    tree = tryDecodeBase64(ratchetTree);
    if (tree === undefined) return refuse("ratchet_tree is not unpadded base64");
    const t = decodeBody("ratchet tree", tree, readRatchetTree);
    if (!t.ok) return refuse(`ratchet_tree: ${t.error.detail}`);
  }
  return { ok: true, kept: { epoch, groupInfo: decoded.value.bytes, ...(tree ? { ratchetTree: tree } : {}) } };
}
