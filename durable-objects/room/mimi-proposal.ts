// A member's standalone proposal through MIMI `update` (draft-ietf-mimi-protocol-06 §3.5; RFC 9420
// §12.4): checked (shared/mls-member-proposal.ts), held beside the hub's own proposals so the next
// commit must include it by reference, and fanned out as the hub's are: notify to followers, one
// to-device message to devices here and on LM servers. A past epoch's proposals go with the commit
// that ends it (the gate makes every commit include them all, then the Room clears them).

import { decodeBase64, encodeBase64 } from "../../shared/base64.js";
import type { JsonObject } from "../../shared/canonical-json.js";
import { serverNameOf } from "../../shared/ids.js";
import { decodeGroupInfoField } from "../../shared/mimi/index.js";
import { inspectMemberProposal, memberProposalRef, memberProposalSigned } from "../../shared/mls-member-proposal.js";
import { groupIdOfRoom } from "../../shared/mls-roster.js";
import type { FollowerSet, RoomMimiStorage } from "../room-mimi-storage.js";
import { HUB_PROPOSALS_EVENT } from "./mls-hub-fanout.js";

export interface MemberProposalView {
  hubInstalled(): boolean;
  leafAt(leaf: number): { userId: string; deviceId: string } | undefined;
  isJoined(userId: string): boolean;
  /** Leaves a pending removal, or a held proposal, already removes. */
  leavesBeingRemoved(): number[];
  /** A device's base64 MLS signature key; null when not a valid MLS device; undefined when its server did not answer. */
  signatureKeyOf(userId: string, deviceId: string): Promise<string | null | undefined>;
  hold(row: { ref: string; epoch: number; leaf: number; userId: string; message: Uint8Array; proposer: string; acceptedTs: number }): void;
  /** The group's devices with their leaves, for the to-device fan-out. */
  leaves(): Array<{ userId: string; deviceId: string }>;
}

/** What the hub gives this module (a narrow port, so it needs nothing from mimi-hub.ts). */
export interface MemberProposalContext {
  readonly mls: { algorithm(): string | undefined; epoch(): number; readonly proposals: MemberProposalView };
  deliverToDevice(sender: string, type: string, messages: Array<{ target: string; targetDevice: string; content: JsonObject }>, messageId: string): void;
  readonly serverName: string;
  now(): number;
  readonly store: RoomMimiStorage;
  readonly followers: FollowerSet;
  readonly roomId: string;
}

/** The UpdateResponseCode cases a standalone proposal can get (mimi-hub.ts UpdateOutcome). */
export type ProposalOutcome =
  | { code: "success"; acceptedTimestamp: number; eventId: string }
  | { code: "wrongEpoch"; currentEpoch: number; description: string }
  | { code: "notAllowed"; description: string }
  | { code: "invalidProposal"; description: string };

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

export async function acceptMemberProposal(c: MemberProposalContext, provider: string, message: Uint8Array): Promise<ProposalOutcome> {
  const view = c.mls.proposals;
  const inspected = inspectMemberProposal(message);
  if (!inspected.ok) return inspected.code === "unsupported_proposal" ? { code: "invalidProposal", description: inspected.reason } : { code: "notAllowed", description: inspected.reason };
  const p = inspected.proposal;
  if (!c.mls.algorithm() || !view.hubInstalled()) return { code: "notAllowed", description: "standalone proposals need the hub installed as the group's external sender" };
  if (!sameBytes(p.groupId, groupIdOfRoom(c.roomId))) return { code: "notAllowed", description: "the proposal is for another group" };
  const epoch = c.mls.epoch();
  if (p.epoch !== epoch) return { code: "wrongEpoch", currentEpoch: epoch, description: `proposals must be for epoch ${epoch}` };
  const sender = view.leafAt(p.senderLeaf);
  if (!sender) return { code: "notAllowed", description: `leaf ${p.senderLeaf} holds no member` };
  if (serverNameOf(sender.userId) !== provider) return { code: "notAllowed", description: `${provider} cannot propose for ${sender.userId}` };
  if (!view.isJoined(sender.userId)) return { code: "notAllowed", description: `${sender.userId} is not joined` };

  // The signed content includes the epoch's GroupContext, which the hub knows only from a GroupInfo.
  const kept = c.store.groupInfo();
  const info = kept?.epoch === epoch ? decodeGroupInfoField(kept.groupInfo) : undefined;
  if (!info?.ok) return { code: "notAllowed", description: `the hub holds no GroupInfo for epoch ${epoch}, so it cannot check the proposal's signature` };
  const key = await view.signatureKeyOf(sender.userId, sender.deviceId);
  if (!key) return { code: "notAllowed", description: `${sender.userId}/${sender.deviceId} has no valid MLS credential` };
  if (!(await memberProposalSigned(p, decodeBase64(key), info.value.value.groupContext))) return { code: "notAllowed", description: "the proposal's signature does not verify" };

  // The next commit must include it, so it must be one the roster will accept then.
  const target = view.leafAt(p.removed);
  if (!target) return { code: "invalidProposal", description: `leaf ${p.removed} is blank` };
  if (view.leavesBeingRemoved().includes(p.removed)) return { code: "invalidProposal", description: `leaf ${p.removed} is already being removed` };
  if (target.userId !== sender.userId && view.isJoined(target.userId)) {
    return { code: "invalidProposal", description: `${sender.userId} may not remove ${target.userId}'s device: that user is still joined` };
  }
  const ref = encodeBase64(await memberProposalRef(p));
  const now = c.now();
  view.hold({ ref, epoch, leaf: p.removed, userId: target.userId, message, proposer: sender.userId, acceptedTs: now });
  fanOut(c, provider, message, epoch, ref, now);
  return { code: "success", acceptedTimestamp: now, eventId: "" };
}

/** As a commit's: the proposer's own provider records it from the answer, not by notify. */
function fanOut(c: MemberProposalContext, origin: string, message: Uint8Array, epoch: number, ref: string, now: number): void {
  const followers = new Set(c.followers.list());
  for (const provider of followers) if (provider !== origin) c.store.enqueueNotify(provider, "message", now, message);
  const content = { room_id: c.roomId, epoch, proposals: [encodeBase64(message)] };
  const toDevice = c.mls.proposals
    .leaves()
    .filter((l) => !followers.has(serverNameOf(l.userId)) && c.mls.proposals.isJoined(l.userId))
    .map((l) => ({ target: l.userId, targetDevice: l.deviceId, content }));
  if (toDevice.length > 0) c.deliverToDevice(`@_mimi:${c.serverName}`, HUB_PROPOSALS_EVENT, toDevice, `member-proposal-${ref}`);
}
