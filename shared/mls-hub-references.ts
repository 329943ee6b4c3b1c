// How an LM participant server resolves the proposals a commit includes by reference (docs/mimi.md
// "Participant list"). The hub carries them beside the commit's PDU, in `unsigned`, which no event
// signature covers; the hub's own are trusted for their MLS signature, checked here against the hub's key
// as the group's own GroupContextExtensions installed it; members' standalone proposals are the hub's word,
// like its device checks. A proposal that fails any check resolves nothing, so its reference stays
// unresolved and the roster refuses it.

import { makeProposalRef } from "ts-mls/authenticatedContent.js";
import { verifyWithLabel } from "ts-mls/crypto/signature.js";
import { decodeExternalSender } from "ts-mls/externalSender.js";
import { encodeFramedContentTBS, type FramedContentTBS } from "ts-mls/framedContent.js";
import { decodeMlsMessage, type MLSMessage } from "ts-mls/message.js";
import { encodeBase64, tryDecodeBase64 } from "./base64.js";
import type { CommitProposal, InspectedCommit } from "./mls-commit.js";
import { APP_DATA_UPDATE_PROPOSAL_TYPE, externalSendersIn, sha256 } from "./mls-hub-proposals.js";
import { resolvedMemberProposal } from "./mls-member-proposal.js";
import { ed25519Verifier } from "./mls-ed25519-verifier.js";
import { sameBytes } from "./bytes.js";

/** The `unsigned` key of an accepted m.mls.commit PDU: the base64 hub proposals it includes, in order. */
export const HUB_PROPOSALS_UNSIGNED = "org.switchboard.mls.hub_proposals";
/** More references than this in one commit are not resolved (a bound on the verification work). */
const MAX_CARRIED = 256;

/** The hub's signature key as a commit (base64 MLSMessage) installs it in external_senders, if it does. */
export function hubKeyInstalledBy(message: unknown): Uint8Array | undefined {
  for (const data of externalSendersIn(message)) {
    if (data === undefined) continue;
    try {
      const [sender, used] = decodeExternalSender(data, 0) ?? [];
      if (sender && used === data.length) return sender.signaturePublicKey;
    } catch {
      // not an ExternalSender: installs nothing
    }
  }
  return undefined;
}

/** One carried proposal -> [its ProposalRef (base64), what it proposes], when the hub signed it for this group and epoch. */
async function verifiedHubProposal(base64: unknown, groupId: Uint8Array, epoch: number, hubKey: Uint8Array, memberOf: (leaf: number) => string | undefined): Promise<[string, CommitProposal] | undefined> {
  const bytes = tryDecodeBase64(base64);
  if (bytes === undefined) return undefined;
  let decoded: [MLSMessage, number] | undefined;
  try {
    decoded = decodeMlsMessage(bytes, 0);
  } catch {
    return undefined;
  }
  if (!decoded || decoded[1] !== bytes.length || decoded[0].wireformat !== "mls_public_message") return undefined;
  const { content, auth } = decoded[0].publicMessage;
  if (content.contentType !== "proposal" || !sameBytes(content.groupId, groupId) || content.epoch !== BigInt(epoch)) return undefined;
  if (content.sender.senderType === "member") {
    // A member's standalone Remove, Add or Update, which the hub checked against the epoch's
    // GroupContext (this server has none); the list reached us from the hub, whose transaction
    // signature covers it. The roster judges it here as at the hub.
    const proposer = memberOf(content.sender.leafIndex);
    const effect = proposer === undefined ? undefined : resolvedMemberProposal(bytes, proposer);
    if (effect === undefined) return undefined;
    const ref = await makeProposalRef({ wireformat: "mls_public_message", content, auth }, sha256);
    return [encodeBase64(ref), effect];
  }
  if (content.sender.senderType !== "external" || content.sender.senderIndex !== 0) return undefined;
  const tbs = { protocolVersion: "mls10", wireformat: "mls_public_message", content, senderType: "external" } as FramedContentTBS;
  if (!(await verifyWithLabel(hubKey, "FramedContentTBS", encodeFramedContentTBS(tbs), auth.signature, ed25519Verifier))) return undefined;
  const p = content.proposal;
  let described: CommitProposal;
  if (p.proposalType === "remove") described = { type: "remove", leaf: p.remove.removed, byHub: true };
  else if (p.proposalType === APP_DATA_UPDATE_PROPOSAL_TYPE) described = { type: "other", name: "app_data_update" };
  else return undefined; // the hub proposes nothing else
  const ref = await makeProposalRef({ wireformat: "mls_public_message", content, auth }, sha256);
  return [encodeBase64(ref), described];
}

/** The commit with every reference to a carried, verified hub proposal replaced by what it proposes. */
export async function resolveHubReferences(commit: InspectedCommit, carried: unknown, hubKey: Uint8Array, memberOf: (leaf: number) => string | undefined = () => undefined): Promise<InspectedCommit> {
  if (!commit.proposals.some((p) => p.type === "reference") || !Array.isArray(carried)) return commit;
  const known = new Map<string, CommitProposal>();
  for (const c of carried.slice(0, MAX_CARRIED)) {
    const v = await verifiedHubProposal(c, commit.groupId, commit.epoch, hubKey, memberOf);
    if (v) known.set(v[0], v[1]);
  }
  const proposals = commit.proposals.map((p) => (p.type === "reference" ? (known.get(encodeBase64(p.ref)) ?? p) : p));
  return { ...commit, proposals };
}
