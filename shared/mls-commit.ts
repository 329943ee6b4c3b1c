// What the hub can read from MLS messages without any group secrets (draft -04 "Updating Group State",
// `m.mls.commit` and `m.room.encrypted`). Commits are PublicMessages so the hub sees who commits which
// membership changes; application messages are PrivateMessages whose clear header (group ID, epoch,
// content type) is all the hub ever reads. Nothing here verifies MLS signatures: that needs the group's
// ratchet tree and context, which the hub does not keep. The room's own authentication of the event
// sender (who must own the sender leaf, see mls-roster.ts) is what binds a commit to a user.

// Codec-only subpaths: ts-mls's crypto back ends (and their optional dynamic imports) stay out of the Worker.
import type { ContentTypeName } from "ts-mls/contentType.js";
import type { CiphersuiteName } from "ts-mls/crypto/ciphersuite.js";
import type { LeafNode } from "ts-mls/leafNode.js";
import { decodeMlsMessage, type MLSMessage } from "ts-mls/message.js";
import type { Proposal } from "ts-mls/proposal.js";
import { tryDecodeBase64 } from "./base64.js";
import { ciphersuiteOfAlgorithm } from "./mls-algorithm.js";
import { decodeDeviceIdentity, type DeviceIdentity } from "./mls-identity.js";

export type CommitProposal =
  | { type: "add"; identity: DeviceIdentity; cipherSuite: CiphersuiteName }
  /**
   * byHub: the hub's own external Remove; proposer: a member's standalone Remove (its user), judged by
   * that user's rights. Both are resolved from references (room-mls-hub.ts).
   */
  | { type: "remove"; leaf: number; byHub?: true; proposer?: string }
  /**
   * An Update. By value it is necessarily the committer's own; `leaf`: resolved from a member's
   * standalone Update by reference (room-mls-hub.ts), for the proposer's leaf.
   */
  | { type: "update"; identity: DeviceIdentity; leaf?: number }
  /** psk, reinit, external_init, group_context_extensions, or "custom:<number>". */
  | { type: "other"; name: string }
  /** A proposal sent earlier, by its ProposalRef: only the hub's own external proposals resolve (room-mls-hub.ts). */
  | { type: "reference"; ref: Uint8Array };

export interface InspectedCommit {
  groupId: Uint8Array;
  epoch: number;
  senderLeaf: number;
  proposals: CommitProposal[];
  /** The committer's leaf identity when the commit carries an UpdatePath (its new leaf node). */
  pathIdentity?: DeviceIdentity;
}

export type MessageRejection =
  | "malformed"
  | "unsupported_algorithm"
  | "not_public_message"
  | "not_private_message"
  | "not_commit"
  | "not_member_sender"
  | "proposal_by_reference"
  | "bad_credential"
  | "wrong_ciphersuite";

export type Rejected = { ok: false; code: MessageRejection; reason: string };
export type CommitInspection = { ok: true; commit: InspectedCommit } | Rejected;

export interface EncryptedHeader {
  groupId: Uint8Array;
  epoch: number;
  contentType: ContentTypeName;
}
export type HeaderInspection = { ok: true; header: EncryptedHeader } | Rejected;

function reject(code: MessageRejection, reason: string): Rejected {
  return { ok: false, code, reason };
}

/** Unpadded base64 -> one whole MLSMessage, or why not. ts-mls decoders may throw as well as fail. */
function decodeWhole(base64: unknown): MLSMessage | Rejected {
  const bytes = tryDecodeBase64(base64);
  if (bytes === undefined) return reject("malformed", "not base64");
  let decoded: [MLSMessage, number] | undefined;
  try {
    decoded = decodeMlsMessage(bytes, 0);
  } catch {
    decoded = undefined;
  }
  if (decoded === undefined) return reject("malformed", "not an MLS message");
  if (decoded[1] !== bytes.length) return reject("malformed", "trailing bytes after the MLS message");
  if (decoded[0].version !== "mls10") return reject("malformed", "not MLS 1.0");
  return decoded[0];
}

function epochNumber(epoch: bigint): number | undefined {
  return epoch <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(epoch) : undefined;
}

function leafIdentity(leaf: LeafNode, what: string): DeviceIdentity | Rejected {
  if (leaf.credential.credentialType !== "basic") return reject("bad_credential", `${what}: not a basic credential`);
  const decoded = decodeDeviceIdentity(leaf.credential.identity, leaf.signaturePublicKey);
  return decoded.ok ? decoded.identity : reject("bad_credential", `${what}: ${decoded.reason}`);
}

/** What a proposal does to the roster; `suite` undefined: the KeyPackage's ciphersuite was checked before. */
export function describeProposal(proposal: Proposal, suite: CiphersuiteName | undefined, index: number): CommitProposal | Rejected {
  switch (proposal.proposalType) {
    case "add": {
      const kp = proposal.add.keyPackage;
      if (suite !== undefined && kp.cipherSuite !== suite) {
        return reject("wrong_ciphersuite", `proposal ${index}: KeyPackage uses ${kp.cipherSuite}, the room uses ${suite}`);
      }
      const identity = leafIdentity(kp.leafNode, `proposal ${index}`);
      return "ok" in identity ? identity : { type: "add", identity, cipherSuite: kp.cipherSuite };
    }
    case "remove":
      return { type: "remove", leaf: proposal.remove.removed };
    case "update": {
      const identity = leafIdentity(proposal.update.leafNode, `proposal ${index}`);
      return "ok" in identity ? identity : { type: "update", identity };
    }
    default:
      return { type: "other", name: typeof proposal.proposalType === "number" ? `custom:${proposal.proposalType}` : proposal.proposalType };
  }
}

/** Reads an `m.mls.commit` event's `message` for a room whose `encryption.algorithm` is `algorithm`. */
export function inspectCommit(message: unknown, algorithm: string): CommitInspection {
  const suite = ciphersuiteOfAlgorithm(algorithm);
  if (suite === undefined) return reject("unsupported_algorithm", `not an MLS algorithm: ${algorithm}`);
  const decoded = decodeWhole(message);
  if ("ok" in decoded) return decoded;
  if (decoded.wireformat !== "mls_public_message") return reject("not_public_message", `commits must be PublicMessages, got ${decoded.wireformat}`);
  const { content } = decoded.publicMessage;
  if (content.contentType !== "commit") return reject("not_commit", `a PublicMessage carrying ${content.contentType}`);
  if (content.sender.senderType !== "member") {
    return reject("not_member_sender", `commits must come from a member, not ${content.sender.senderType}`);
  }
  const epoch = epochNumber(content.epoch);
  if (epoch === undefined) return reject("malformed", "epoch out of range");
  const proposals: CommitProposal[] = [];
  for (const [i, p] of content.commit.proposals.entries()) {
    if (p.proposalOrRefType === "reference") {
      proposals.push({ type: "reference", ref: p.reference });
      continue;
    }
    const described = describeProposal(p.proposal, suite, i);
    if ("ok" in described) return described;
    proposals.push(described);
  }
  const commit: InspectedCommit = { groupId: content.groupId, epoch, senderLeaf: content.sender.leafIndex, proposals };
  if (content.commit.path !== undefined) {
    const identity = leafIdentity(content.commit.path.leafNode, "UpdatePath leaf");
    if ("ok" in identity) return identity;
    commit.pathIdentity = identity;
  }
  return { ok: true, commit };
}

/** Reads the clear header of an `m.room.encrypted` event's `ciphertext`; never decrypts. */
export function readEncryptedHeader(ciphertext: unknown): HeaderInspection {
  const decoded = decodeWhole(ciphertext);
  if ("ok" in decoded) return decoded;
  if (decoded.wireformat !== "mls_private_message") return reject("not_private_message", `expected a PrivateMessage, got ${decoded.wireformat}`);
  const { groupId, epoch, contentType } = decoded.privateMessage;
  const n = epochNumber(epoch);
  if (n === undefined) return reject("malformed", "epoch out of range");
  return { ok: true, header: { groupId, epoch: n, contentType } };
}
