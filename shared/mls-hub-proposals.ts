// The hub as its room's MLS external sender (RFC 9420 §12.1.8.1; MIMI -06 §4.3.2, where "a client or
// server" proposes participant-list changes). The hub signs external proposals (Remove, and the
// participant list's AppDataUpdate) with its own Ed25519 key; clients that hold the key in the group's
// external_senders extension verify and keep them, and the next commit includes them by reference.
// ts-mls builds and encodes every MLS structure here; only the Ed25519 and SHA-256 primitives are
// WebCrypto's, so the Worker needs none of ts-mls's crypto back ends.

import { makeProposalRef } from "ts-mls/authenticatedContent.js";
import type { Hash } from "ts-mls/crypto/hash.js";
import type { Signature } from "ts-mls/crypto/signature.js";
import { decodeExternalSender, encodeExternalSender, type ExternalSender } from "ts-mls/externalSender.js";
import { signFramedContentTBS, type FramedContent, type FramedContentTBS } from "ts-mls/framedContent.js";
import { decodeMlsMessage, encodeMlsMessage, type MLSMessage } from "ts-mls/message.js";
import type { Proposal } from "ts-mls/proposal.js";
import { decodeAppDataUpdate, encodeAppDataUpdate, COMPONENT_ID } from "./mimi/app-data.js";
import { decodeParticipantListUpdate, encodeParticipantListUpdate, type ParticipantListUpdate } from "./mimi/participant-list.js";
import { tryDecodeBase64 } from "./base64.js";
import { signingKeyFromSeed } from "./signing-key.js";
import { sameBytes } from "./bytes.js";

/**
 * draft-ietf-mls-extensions leaves AppDataUpdate's proposal type to IANA; until it has one, the hub uses
 * this value from RFC 9420's private-use range (0xF000-0xFFFF). docs/mimi.md records the choice.
 */
export const APP_DATA_UPDATE_PROPOSAL_TYPE = 0xf008;

const utf8 = new TextEncoder();

/** The hub's entry in external_senders: its signature key and a basic credential naming the server. */
export function hubExternalSender(serverName: string, publicKey: Uint8Array): ExternalSender {
  return { signaturePublicKey: publicKey, credential: { credentialType: "basic", identity: utf8.encode(serverName) } };
}

export function encodeHubExternalSender(sender: ExternalSender): Uint8Array {
  return encodeExternalSender(sender);
}

/** Whether an external_senders extension's data names exactly this signature key (ts-mls's one-sender reading). */
export function namesExternalSender(extensionData: Uint8Array, publicKey: Uint8Array): boolean {
  let decoded: [ExternalSender, number] | undefined;
  try {
    decoded = decodeExternalSender(extensionData, 0);
  } catch {
    return false;
  }
  if (!decoded || decoded[1] !== extensionData.length) return false;
  const key = decoded[0].signaturePublicKey;
  return sameBytes(key, publicKey);
}

/** The AppDataUpdate proposal that applies `update` to the participant list (component 0x0022). */
export function participantListProposal(update: ParticipantListUpdate): Proposal {
  const body = encodeAppDataUpdate({ componentId: COMPONENT_ID.participantList, op: "update", update: encodeParticipantListUpdate(update) });
  return { proposalType: APP_DATA_UPDATE_PROPOSAL_TYPE, proposalData: body };
}

export function removeProposal(leaf: number): Proposal {
  return { proposalType: "remove", remove: { removed: leaf } };
}

function webCryptoSignature(seed: Uint8Array): Signature {
  return {
    sign: async (_key, message) => (await signingKeyFromSeed(seed, "mls")).sign(message),
    verify: () => Promise.reject(new Error("the hub only signs")),
    keygen: () => Promise.reject(new Error("the hub only signs")),
  };
}

export const sha256: Hash = {
  digest: async (data) => new Uint8Array(await crypto.subtle.digest("SHA-256", data)),
  mac: async (key, data) => {
    const k = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    return new Uint8Array(await crypto.subtle.sign("HMAC", k, data));
  },
  verifyMac: () => Promise.reject(new Error("not needed for proposal references")),
};

export interface SignedProposal {
  /** The MLSMessage (a PublicMessage from external sender 0), as clients receive it. */
  message: Uint8Array;
  /** Its ProposalRef, which the next commit must list. */
  ref: Uint8Array;
}

/**
 * Signs `proposal` as external sender 0 for the group's `epoch`. An external sender's FramedContentTBS
 * carries no GroupContext (RFC 9420 §6.1), so the hub needs only the group ID and the epoch. The
 * ProposalRef hash is SHA-256: the Ed25519 suites the hub signs for all use it.
 */
export async function signHubProposal(seed: Uint8Array, groupId: Uint8Array, epoch: number, proposal: Proposal): Promise<SignedProposal> {
  const content: FramedContent = {
    groupId,
    epoch: BigInt(epoch),
    sender: { senderType: "external", senderIndex: 0 },
    authenticatedData: new Uint8Array(),
    contentType: "proposal",
    proposal,
  };
  const tbs = { protocolVersion: "mls10", wireformat: "mls_public_message", content, senderType: "external" } as FramedContentTBS;
  const signature = await signFramedContentTBS(seed, tbs, webCryptoSignature(seed));
  const auth = { contentType: "proposal" as const, signature };
  const message: MLSMessage = { version: "mls10", wireformat: "mls_public_message", publicMessage: { content, auth, senderType: "external" } };
  const ref = await makeProposalRef({ wireformat: "mls_public_message", content, auth }, sha256);
  return { message: encodeMlsMessage(message), ref };
}

/** What a commit changes in the participant list by value: its AppDataUpdates for component 0x0022 and the leaves it removes. */
export interface CommitParticipantChanges {
  epoch: number;
  listUpdates: ParticipantListUpdate[];
  removedLeaves: number[];
}

/** Reads a commit's (MLSMessage bytes) participant-list changes; an error names what could not be read. */
export function participantChangesIn(message: Uint8Array): CommitParticipantChanges | { error: string } {
  let decoded: [MLSMessage, number] | undefined;
  try {
    decoded = decodeMlsMessage(message, 0);
  } catch {
    decoded = undefined;
  }
  if (!decoded || decoded[0].wireformat !== "mls_public_message") return { error: "not a PublicMessage" };
  const content = decoded[0].publicMessage.content;
  if (content.contentType !== "commit") return { error: "not a commit" };
  const out: CommitParticipantChanges = { epoch: Number(content.epoch), listUpdates: [], removedLeaves: [] };
  for (const p of content.commit.proposals) {
    if (p.proposalOrRefType !== "proposal") continue;
    const proposal = p.proposal;
    if (proposal.proposalType === "remove") out.removedLeaves.push(proposal.remove.removed);
    if (proposal.proposalType !== APP_DATA_UPDATE_PROPOSAL_TYPE || !("proposalData" in proposal)) continue;
    const update = decodeAppDataUpdate(proposal.proposalData);
    if (!update.ok) return { error: `AppDataUpdate: ${update.error.detail}` };
    if (update.value.componentId !== COMPONENT_ID.participantList) continue;
    if (update.value.op !== "update") return { error: "the participant list cannot be removed" };
    const body = decodeParticipantListUpdate(update.value.update);
    if (!body.ok) return { error: `ParticipantListUpdate: ${body.error.detail}` };
    out.listUpdates.push(body.value);
  }
  return out;
}

/** The external_senders data of every GroupContextExtensions proposal the commit carries by value; undefined where one has none. */
export function externalSendersIn(message: unknown): Array<Uint8Array | undefined> {
  const bytes = tryDecodeBase64(message);
  if (bytes === undefined) return [];
  let decoded: [MLSMessage, number] | undefined;
  try {
    decoded = decodeMlsMessage(bytes, 0);
  } catch {
    return [];
  }
  if (!decoded || decoded[0].wireformat !== "mls_public_message") return [];
  const content = decoded[0].publicMessage.content;
  if (content.contentType !== "commit") return [];
  return content.commit.proposals.flatMap((p) => {
    if (p.proposalOrRefType !== "proposal" || p.proposal.proposalType !== "group_context_extensions") return [];
    const ext = p.proposal.groupContextExtensions.extensions.find((e) => e.extensionType === "external_senders");
    return [ext?.extensionData];
  });
}

/** The participant-list update a hub proposal (an MLSMessage the hub signed) carries; undefined for any other proposal. */
export function participantListUpdateOfProposal(message: Uint8Array): ParticipantListUpdate | undefined {
  let decoded: [MLSMessage, number] | undefined;
  try {
    decoded = decodeMlsMessage(message, 0);
  } catch {
    return undefined;
  }
  if (!decoded || decoded[0].wireformat !== "mls_public_message") return undefined;
  const content = decoded[0].publicMessage.content;
  if (content.contentType !== "proposal") return undefined;
  const p = content.proposal;
  if (p.proposalType !== APP_DATA_UPDATE_PROPOSAL_TYPE || !("proposalData" in p)) return undefined;
  const update = decodeAppDataUpdate(p.proposalData);
  if (!update.ok || update.value.op !== "update" || update.value.componentId !== COMPONENT_ID.participantList) return undefined;
  const body = decodeParticipantListUpdate(update.value.update);
  return body.ok ? body.value : undefined;
}
