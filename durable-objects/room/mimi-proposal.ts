// A member's standalone proposal through MIMI `update` (draft-ietf-mimi-protocol-06 §3.5; RFC 9420
// §12.4): checked (shared/mls-member-proposal.ts), held beside the hub's own proposals so the next
// commit must include it by reference, and fanned out as the hub's are: notify to followers, one
// to-device message to devices here and on LM servers. A past epoch's proposals go with the commit
// that ends it (the gate makes every commit include them all, then the Room clears them).

import { decodeBase64, encodeBase64 } from "../../shared/base64.js";
import type { JsonObject } from "../../shared/canonical-json.js";
import { serverNameOf } from "../../shared/ids.js";
import { decodeGroupInfoField } from "../../shared/mimi/index.js";
import { ciphersuiteOfAlgorithm } from "../../shared/mls-algorithm.js";
import { inspectMemberProposal, memberProposalPayloadSigned, memberProposalRef, memberProposalSigned } from "../../shared/mls-member-proposal.js";
import { afterHolding, deviceKey, deviceNamedBy, judgeMemberProposal, type HoldState, type MemberProposalEffect } from "../../shared/mls-member-proposal-rules.js";
import { groupIdOfRoom } from "../../shared/mls-roster.js";
import type { FollowerSet, RoomMimiStorage } from "../room-mimi-storage.js";
import { HUB_PROPOSALS_EVENT } from "./mls-hub-fanout.js";
import { sameBytes } from "../../shared/bytes.js";

export interface MemberProposalView {
  hubInstalled(): boolean;
  leafAt(leaf: number): { userId: string; deviceId: string } | undefined;
  isJoined(userId: string): boolean;
  /** Leaves a pending removal, or a held proposal, already removes. */
  leavesBeingRemoved(): number[];
  /** What members' held (not lapsed) proposals do. */
  heldEffects(): MemberProposalEffect[];
  /** The roster's leaves; null is blank. */
  rosterLeaves(): ReadonlyArray<{ userId: string; deviceId: string } | null>;
  /** A device's base64 MLS signature key; null when not a valid MLS device; undefined when its server did not answer. */
  signatureKeyOf(userId: string, deviceId: string): Promise<string | null | undefined>;
  hold(row: { ref: string; epoch: number; leaf: number | null; userId: string; message: Uint8Array; proposer: string; acceptedTs: number }): void;
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

/** More proposals than this in one update are refused (a bound on the signature checks per request). */
export const MAX_PROPOSALS_PER_UPDATE = 16;

type Refusal = Exclude<ProposalOutcome, { code: "success" }>;
type Judged = { effect: MemberProposalEffect; sender: HoldState["sender"]; published: string | null };
type Checked = { ok: true; judged: Judged; row: HeldRow } | { ok: false; outcome: Refusal };

function holdStateNow(view: MemberProposalView): Omit<HoldState, "sender"> {
  const held = view.heldEffects();
  return {
    leaves: view.rosterLeaves(),
    isJoined: (u) => view.isJoined(u),
    removing: new Set(view.leavesBeingRemoved()),
    updating: new Set(held.flatMap((e) => (e.type === "update" ? [e.leaf] : []))),
    adding: new Set(held.flatMap((e) => (e.type === "add" ? [deviceKey(e.identity)] : []))),
  };
}

/** Judges the whole batch against `state`, each proposal after those before it; the first refusal. */
function judgeBatch(state: Omit<HoldState, "sender">, batch: readonly Judged[]): { index: number; reason: string } | undefined {
  let s = state;
  for (const [index, j] of batch.entries()) {
    const v = judgeMemberProposal(j.effect, { ...s, sender: j.sender }, j.published);
    if (!v.ok) return { index, reason: v.reason };
    s = afterHolding(s, j.effect);
  }
  return undefined;
}

/**
 * An update's proposals (-06 §3.5: `proposal` and `moreProposals`): all are checked first, each against
 * the held ones and the batch before it, then all are held, or none (the first refusal is the answer).
 */
export async function acceptMemberProposals(c: MemberProposalContext, provider: string, messages: readonly Uint8Array[]): Promise<ProposalOutcome> {
  const view = c.mls.proposals;
  const algorithm = c.mls.algorithm();
  if (messages.length > MAX_PROPOSALS_PER_UPDATE) return { code: "notAllowed", description: `at most ${MAX_PROPOSALS_PER_UPDATE} proposals per update` };
  if (!algorithm || !view.hubInstalled()) return { code: "notAllowed", description: "standalone proposals need the hub installed as the group's external sender" };
  const epoch = c.mls.epoch();
  const named = (i: number, d: string) => (messages.length > 1 ? `proposal ${i}: ${d}` : d);
  const rows: HeldRow[] = [];
  const batch: Judged[] = [];
  for (const [i, message] of messages.entries()) {
    const checked = await checkOne(c, provider, message, ciphersuiteOfAlgorithm(algorithm), holdStateNow(view), batch);
    if (!checked.ok) return { ...checked.outcome, description: named(i, checked.outcome.description) };
    batch.push(checked.judged);
    rows.push(checked.row);
  }
  // The key look-ups may have let a commit or another update in: judge again, with no await before holding.
  if (c.mls.epoch() !== epoch) return { code: "wrongEpoch", currentEpoch: c.mls.epoch(), description: `the group moved to epoch ${c.mls.epoch()} meanwhile` };
  const late = judgeBatch(holdStateNow(view), batch);
  if (late) return { code: "invalidProposal", description: named(late.index, late.reason) };
  const now = c.now();
  for (const row of rows) view.hold({ ...row, acceptedTs: now });
  fanOut(c, provider, rows, now);
  return { code: "success", acceptedTimestamp: now, eventId: "" };
}

type HeldRow = { ref: string; epoch: number; leaf: number | null; userId: string; message: Uint8Array; proposer: string; acceptedTs: number };

async function checkOne(
  c: MemberProposalContext,
  provider: string,
  message: Uint8Array,
  suite: ReturnType<typeof ciphersuiteOfAlgorithm>,
  state: Omit<HoldState, "sender">,
  before: readonly Judged[],
): Promise<Checked> {
  const view = c.mls.proposals;
  const refuse = (outcome: Refusal): Checked => ({ ok: false, outcome });
  const inspected = inspectMemberProposal(message, suite);
  if (!inspected.ok) return refuse(inspected.code === "unsupported_proposal" || inspected.code === "invalid_proposal" ? { code: "invalidProposal", description: inspected.reason } : { code: "notAllowed", description: inspected.reason });
  const p = inspected.proposal;
  if (!sameBytes(p.groupId, groupIdOfRoom(c.roomId))) return refuse({ code: "notAllowed", description: "the proposal is for another group" });
  const epoch = c.mls.epoch();
  if (p.epoch !== epoch) return refuse({ code: "wrongEpoch", currentEpoch: epoch, description: `proposals must be for epoch ${epoch}` });
  const sender = view.leafAt(p.senderLeaf);
  if (!sender) return refuse({ code: "notAllowed", description: `leaf ${p.senderLeaf} holds no member` });
  if (serverNameOf(sender.userId) !== provider) return refuse({ code: "notAllowed", description: `${provider} cannot propose for ${sender.userId}` });
  if (!view.isJoined(sender.userId)) return refuse({ code: "notAllowed", description: `${sender.userId} is not joined` });

  // The signed content includes the epoch's GroupContext, which the hub knows only from a GroupInfo.
  const kept = c.store.groupInfo();
  const info = kept?.epoch === epoch ? decodeGroupInfoField(kept.groupInfo) : undefined;
  if (!info?.ok) return refuse({ code: "notAllowed", description: `the hub holds no GroupInfo for epoch ${epoch}, so it cannot check the proposal's signature` });
  const key = await view.signatureKeyOf(sender.userId, sender.deviceId);
  if (!key) return refuse({ code: "notAllowed", description: `${sender.userId}/${sender.deviceId} has no valid MLS credential` });
  if (!(await memberProposalSigned(p, decodeBase64(key), info.value.value.groupContext))) return refuse({ code: "notAllowed", description: "the proposal's signature does not verify" });
  if (!(await memberProposalPayloadSigned(p))) return refuse({ code: "invalidProposal", description: `the ${p.effect.type === "add" ? "KeyPackage" : "LeafNode"}'s signature does not verify` });

  // The next commit must include it, so it must be one the roster will accept then.
  const named = deviceNamedBy(p.effect);
  const published = named === undefined ? null : named.userId === sender.userId && named.deviceId === sender.deviceId ? key : await view.signatureKeyOf(named.userId, named.deviceId);
  if (published === undefined) return refuse({ code: "notAllowed", description: `${named?.userId ?? ""}'s server did not answer for the device` });
  const judged: Judged = { effect: p.effect, sender: { leaf: p.senderLeaf, ...sender }, published };
  const verdict = judgeMemberProposal(p.effect, { ...before.reduce((s, b) => afterHolding(s, b.effect), state), sender: judged.sender }, published);
  if (!verdict.ok) return refuse({ code: "invalidProposal", description: verdict.reason });
  const ref = encodeBase64(await memberProposalRef(p));
  // A Remove keeps the leaf it removes; an Add or Update keeps the user it lapses with (room-mls-hub-storage.ts).
  const e = p.effect;
  const row: HeldRow =
    e.type === "remove"
      ? { ref, epoch, leaf: e.leaf, userId: state.leaves[e.leaf]?.userId ?? "", message, proposer: sender.userId, acceptedTs: 0 }
      : { ref, epoch, leaf: null, userId: e.identity.userId, message, proposer: sender.userId, acceptedTs: 0 };
  return { ok: true, judged, row };
}

/** As a commit's: the proposer's own provider records it from the answer, not by notify. */
function fanOut(c: MemberProposalContext, origin: string, rows: readonly HeldRow[], now: number): void {
  const first = rows[0];
  if (!first) return;
  const followers = new Set(c.followers.list());
  for (const provider of followers) if (provider !== origin) for (const r of rows) c.store.enqueueNotify(provider, "message", now, r.message);
  const content = { room_id: c.roomId, epoch: first.epoch, proposals: rows.map((r) => encodeBase64(r.message)) };
  const toDevice = c.mls.proposals
    .leaves()
    .filter((l) => !followers.has(serverNameOf(l.userId)) && c.mls.proposals.isJoined(l.userId))
    .map((l) => ({ target: l.userId, targetDevice: l.deviceId, content }));
  if (toDevice.length > 0) c.deliverToDevice(`@_mimi:${c.serverName}`, HUB_PROPOSALS_EVENT, toDevice, `member-proposal-${first.ref}`);
}
