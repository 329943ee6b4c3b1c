// A member's standalone proposal sent to the hub (MIMI -06 `update` carrying only a proposal; RFC 9420
// §12.1). The hub holds it for the next commit, which must include it by reference (room-mls-hub.ts),
// so it checks what it can without group secrets: a PublicMessage proposal from a member leaf of this
// group at the current epoch, signed by that leaf's key over a FramedContentTBS whose GroupContext is
// the epoch's (from the GroupInfo the hub keeps). The membership tag needs the epoch's membership key,
// which the hub never has. Only Remove is accepted here: docs/mimi.md says why.

import { makeProposalRef } from "ts-mls/authenticatedContent.js";
import { verifyWithLabel, type Signature } from "ts-mls/crypto/signature.js";
import { encodeFramedContentTBS, toTbs, type FramedContent, type FramedContentAuthData } from "ts-mls/framedContent.js";
import type { GroupContext } from "ts-mls/groupContext.js";
import { decodeMlsMessage, type MLSMessage } from "ts-mls/message.js";
import { sha256 } from "./mls-hub-proposals.js";
import { verifyEd25519 } from "./signing-key.js";

export interface MemberProposal {
  groupId: Uint8Array;
  epoch: number;
  senderLeaf: number;
  /** The leaf the Remove removes. */
  removed: number;
  content: FramedContent;
  auth: FramedContentAuthData;
}

export type MemberProposalInspection = { ok: true; proposal: MemberProposal } | { ok: false; code: "malformed" | "not_member_sender" | "unsupported_proposal"; reason: string };

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

export function inspectMemberProposal(bytes: Uint8Array): MemberProposalInspection {
  const m = decode(bytes);
  if (!m || m.wireformat !== "mls_public_message") return { ok: false, code: "malformed", reason: "not an MLS PublicMessage" };
  const { content, auth } = m.publicMessage;
  if (content.contentType !== "proposal") return { ok: false, code: "malformed", reason: `a PublicMessage carrying ${content.contentType}` };
  if (content.sender.senderType !== "member") return { ok: false, code: "not_member_sender", reason: `proposals come from members here, not ${content.sender.senderType}` };
  if (content.epoch > BigInt(Number.MAX_SAFE_INTEGER)) return { ok: false, code: "malformed", reason: "epoch out of range" };
  const p = content.proposal;
  if (p.proposalType !== "remove") {
    return { ok: false, code: "unsupported_proposal", reason: `only Remove is accepted as a standalone proposal, not ${String(p.proposalType)}` };
  }
  return { ok: true, proposal: { groupId: content.groupId, epoch: Number(content.epoch), senderLeaf: content.sender.leafIndex, removed: p.remove.removed, content, auth } };
}

const verifier: Signature = {
  verify: (publicKey, message, signature) => verifyEd25519(publicKey, signature, message),
  sign: () => Promise.reject(new Error("verification only")),
  keygen: () => Promise.reject(new Error("verification only")),
};

/** The sender leaf's signature over the proposal, with the epoch's GroupContext in the signed content. */
export async function memberProposalSigned(p: MemberProposal, signatureKey: Uint8Array, context: GroupContext): Promise<boolean> {
  try {
    const tbs = encodeFramedContentTBS(toTbs(p.content, "mls_public_message", context));
    return await verifyWithLabel(signatureKey, "FramedContentTBS", tbs, p.auth.signature, verifier);
  } catch {
    return false;
  }
}

/** The ProposalRef a commit lists for it (SHA-256: the suites here all use it). */
export function memberProposalRef(p: MemberProposal): Promise<Uint8Array> {
  return makeProposalRef({ wireformat: "mls_public_message", content: p.content, auth: p.auth }, sha256);
}
