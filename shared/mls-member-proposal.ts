// A member's standalone proposal sent to the hub (MIMI -06 `update` carrying only a proposal; RFC 9420
// §12.1). The hub holds it for the next commit, which must include it by reference (room-mls-hub.ts),
// so it checks what it can without group secrets: a PublicMessage proposal from a member leaf of this
// group at the current epoch, signed by that leaf's key over a FramedContentTBS whose GroupContext is
// the epoch's (from the GroupInfo the hub keeps). The membership tag needs the epoch's membership key,
// which the hub never has. Remove, Add and Update are taken (docs/mimi.md "Standalone proposals"); the
// rules for holding one are shared/mls-member-proposal-rules.ts.

import { makeProposalRef } from "ts-mls/authenticatedContent.js";
import type { CiphersuiteName } from "ts-mls/crypto/ciphersuite.js";
import { verifyWithLabel } from "ts-mls/crypto/signature.js";
import { encodeFramedContentTBS, toTbs, type FramedContent, type FramedContentAuthData } from "ts-mls/framedContent.js";
import type { GroupContext } from "ts-mls/groupContext.js";
import { verifyKeyPackage } from "ts-mls/keyPackage.js";
import { verifyLeafNodeSignature } from "ts-mls/leafNode.js";
import { decodeMlsMessage, type MLSMessage } from "ts-mls/message.js";
import type { Proposal } from "ts-mls/proposal.js";
import { describeProposal } from "./mls-commit.js";
import { sha256 } from "./mls-hub-proposals.js";
import type { MemberProposalEffect } from "./mls-member-proposal-rules.js";
import { ed25519Verifier } from "./mls-ed25519-verifier.js";

export interface MemberProposal {
  groupId: Uint8Array;
  epoch: number;
  senderLeaf: number;
  /** What a commit including it does, as the roster reads it. */
  effect: MemberProposalEffect;
  proposal: Proposal;
  content: FramedContent;
  auth: FramedContentAuthData;
}

export type MemberProposalInspection =
  | { ok: true; proposal: MemberProposal }
  | { ok: false; code: "malformed" | "not_member_sender" | "unsupported_proposal" | "invalid_proposal"; reason: string };

/** Whether `bytes` is an MLS PublicMessage carrying a proposal (rather than a commit), so the update is a standalone proposal. */
export function isProposalMessage(bytes: Uint8Array): boolean {
  const m = decode(bytes);
  return m?.wireformat === "mls_public_message" && m.publicMessage.content.contentType === "proposal";
}

function decode(bytes: Uint8Array): MLSMessage | undefined {
  try {
    const d = decodeMlsMessage(bytes, 0);
    return d && d[1] === bytes.length && d[0].version === "mls10" ? d[0] : undefined;
  } catch {
    return undefined;
  }
}

/** What a member's proposal does when committed; undefined for kinds a member may not propose here. */
function effectOf(proposal: Proposal, senderLeaf: number, suite: CiphersuiteName | undefined): MemberProposalEffect | { reason: string } {
  if (proposal.proposalType !== "remove" && proposal.proposalType !== "add" && proposal.proposalType !== "update") {
    return { reason: `only Remove, Add and Update are accepted as standalone proposals, not ${String(proposal.proposalType)}` };
  }
  const d = describeProposal(proposal, suite, 0);
  if ("ok" in d) return { reason: d.reason };
  if (d.type === "add") return d;
  if (d.type === "update") return { ...d, leaf: senderLeaf };
  if (d.type === "remove") return d;
  return { reason: "not a membership proposal" };
}

/** `suite`: the room's ciphersuite, which an Add's KeyPackage must use. */
export function inspectMemberProposal(bytes: Uint8Array, suite?: CiphersuiteName): MemberProposalInspection {
  const m = decode(bytes);
  if (!m || m.wireformat !== "mls_public_message") return { ok: false, code: "malformed", reason: "not an MLS PublicMessage" };
  const { content, auth } = m.publicMessage;
  if (content.contentType !== "proposal") return { ok: false, code: "malformed", reason: `a PublicMessage carrying ${content.contentType}` };
  if (content.sender.senderType !== "member") return { ok: false, code: "not_member_sender", reason: `proposals come from members here, not ${content.sender.senderType}` };
  if (content.epoch > BigInt(Number.MAX_SAFE_INTEGER)) return { ok: false, code: "malformed", reason: "epoch out of range" };
  const p = content.proposal;
  const effect = effectOf(p, content.sender.leafIndex, suite);
  if ("reason" in effect) {
    const code = p.proposalType === "add" || p.proposalType === "update" ? "invalid_proposal" : "unsupported_proposal";
    return { ok: false, code, reason: effect.reason };
  }
  return { ok: true, proposal: { groupId: content.groupId, epoch: Number(content.epoch), senderLeaf: content.sender.leafIndex, effect, proposal: p, content, auth } };
}

/**
 * A held member proposal as a commit's reference resolves it (hub and LM participants alike), judged by
 * the proposer's rights: `proposer` is the user at its sender leaf.
 */
export function resolvedMemberProposal(bytes: Uint8Array, proposer: string): MemberProposalEffect | undefined {
  const m = decode(bytes);
  if (m?.wireformat !== "mls_public_message") return undefined;
  const { content } = m.publicMessage;
  if (content.contentType !== "proposal" || content.sender.senderType !== "member") return undefined;
  const effect = effectOf(content.proposal, content.sender.leafIndex, undefined);
  if ("reason" in effect) return undefined;
  return effect.type === "remove" ? { ...effect, proposer } : effect;
}

/** The sender leaf's signature over the proposal, with the epoch's GroupContext in the signed content. */
export async function memberProposalSigned(p: MemberProposal, signatureKey: Uint8Array, context: GroupContext): Promise<boolean> {
  try {
    const tbs = encodeFramedContentTBS(toTbs(p.content, "mls_public_message", context));
    return await verifyWithLabel(signatureKey, "FramedContentTBS", tbs, p.auth.signature, ed25519Verifier);
  } catch {
    return false;
  }
}

/**
 * The proposal's own signatures: an Add's KeyPackage, an Update's LeafNode (bound to the group and the
 * sender's leaf). A commit including a proposal that fails these fails at every client, so holding it
 * would stall the gate that requires it.
 */
export async function memberProposalPayloadSigned(p: MemberProposal): Promise<boolean> {
  try {
    if (p.proposal.proposalType === "add") return await verifyKeyPackage(p.proposal.add.keyPackage, ed25519Verifier);
    if (p.proposal.proposalType === "update") return await verifyLeafNodeSignature(p.proposal.update.leafNode, p.groupId, p.senderLeaf, ed25519Verifier);
    return true;
  } catch {
    return false;
  }
}

/** The ProposalRef a commit lists for it (SHA-256: the suites here all use it). */
export function memberProposalRef(p: MemberProposal): Promise<Uint8Array> {
  return makeProposalRef({ wireformat: "mls_public_message", content: p.content, auth: p.auth }, sha256);
}
