// Whether the hub may hold a member's standalone proposal (docs/mimi.md "Standalone proposals"). A held
// proposal is one the next commit must include, so it must be one the roster will accept then
// (mls-roster.ts applyCommit) and one no other held proposal contradicts (RFC 9420 §12.2: one Update or
// Remove per leaf, no Add of a device already in the group). Pure: the Room gathers the state.

import { encodeBase64 } from "./base64.js";
import type { CommitProposal } from "./mls-commit.js";
import { sameDevice, type DeviceIdentity } from "./mls-identity.js";

/** The membership proposals a member may send alone; an Update is for its sender's `leaf`. */
export type MemberProposalEffect =
  | Extract<CommitProposal, { type: "remove" }>
  | Extract<CommitProposal, { type: "add" }>
  | { type: "update"; identity: DeviceIdentity; leaf: number };

export interface HoldState {
  sender: { leaf: number; userId: string; deviceId: string };
  /** The roster's leaves; null is blank. */
  leaves: ReadonlyArray<{ userId: string; deviceId: string } | null>;
  isJoined(userId: string): boolean;
  /** Leaves that pending removals or held proposals already remove. */
  removing: ReadonlySet<number>;
  /** Leaves a held Update already updates. */
  updating: ReadonlySet<number>;
  /** Devices (deviceKey) a held Add already adds. */
  adding: ReadonlySet<string>;
}

export type HoldVerdict = { ok: true } | { ok: false; reason: string };

export const deviceKey = (d: { userId: string; deviceId: string }): string => `${d.userId}\u0000${d.deviceId}`;

/** The device whose published MLS key an Add or Update must carry; none for a Remove. */
export function deviceNamedBy(e: MemberProposalEffect): DeviceIdentity | undefined {
  return e.type === "remove" ? undefined : e.identity;
}

/**
 * `publishedKey`: the base64 MLS signature key the named device publishes (deviceNamedBy), null when it
 * has no valid MLS credential.
 */
export function judgeMemberProposal(e: MemberProposalEffect, s: HoldState, publishedKey: string | null): HoldVerdict {
  const no = (reason: string): HoldVerdict => ({ ok: false, reason });
  switch (e.type) {
    case "remove": {
      const target = s.leaves[e.leaf];
      if (!target) return no(`leaf ${e.leaf} is blank`);
      if (s.removing.has(e.leaf)) return no(`leaf ${e.leaf} is already being removed`);
      if (s.updating.has(e.leaf)) return no(`leaf ${e.leaf} has a held Update`);
      if (target.userId !== s.sender.userId && s.isJoined(target.userId)) return no(`${s.sender.userId} may not remove ${target.userId}'s device: that user is still joined`);
      return { ok: true };
    }
    case "add": {
      const who = `${e.identity.userId}/${e.identity.deviceId}`;
      if (!s.isJoined(e.identity.userId)) return no(`${e.identity.userId} is not joined`);
      if (publishedKey !== encodeBase64(e.identity.signatureKey)) return no(`${who} has no valid MLS credential with this signature key`);
      if (s.adding.has(deviceKey(e.identity))) return no(`${who} is already being added`);
      const leaf = s.leaves.findIndex((l, i) => l !== null && sameDevice(l, e.identity) && !s.removing.has(i));
      if (leaf >= 0) return no(`${who} is already a member (leaf ${leaf})`);
      return { ok: true };
    }
    case "update": {
      if (e.leaf !== s.sender.leaf) return no("an Update is for its sender's own leaf");
      if (!sameDevice(e.identity, s.sender)) return no(`the Update would turn ${s.sender.userId}/${s.sender.deviceId} into another device`);
      if (publishedKey !== encodeBase64(e.identity.signatureKey)) return no(`the Update's signature key is not ${s.sender.userId}/${s.sender.deviceId}'s published MLS key`);
      if (s.removing.has(e.leaf)) return no(`leaf ${e.leaf} is being removed`);
      if (s.updating.has(e.leaf)) return no(`leaf ${e.leaf} already has a held Update`);
      return { ok: true };
    }
  }
}

/** The state after holding `e`, so the next proposal of the same batch is judged against it too. */
export function afterHolding<S extends Pick<HoldState, "removing" | "updating" | "adding">>(s: S, e: MemberProposalEffect): S {
  if (e.type === "remove") return { ...s, removing: new Set([...s.removing, e.leaf]) };
  if (e.type === "update") return { ...s, updating: new Set([...s.updating, e.leaf]) };
  return { ...s, adding: new Set([...s.adding, deviceKey(e.identity)]) };
}

/** Milliseconds a member's held proposal stays required when the operator sets nothing. */
export const DEFAULT_MEMBER_PROPOSAL_GRACE_MS = 60_000;

/**
 * Whether the next commit must still include a held proposal. The hub's own always; a member's only
 * within `graceMs` of being held: the hub cannot check its membership tag (nor what else only the
 * group's members can), and RFC 9420 §12.2 lets a committer leave out a proposal it finds invalid, so
 * after the grace the committer's judgement stands rather than one bad proposal blocking every commit.
 */
export function stillRequired(held: { proposer?: string; acceptedTs?: number; lapsed?: true }, now: number, graceMs: number): boolean {
  if (held.lapsed) return false;
  if (held.proposer === undefined) return true;
  return now - (held.acceptedTs ?? 0) < graceMs;
}

/** The grace from an operator's setting: a non-negative number of milliseconds, else the default. */
export function memberProposalGraceMs(setting: string | undefined): number {
  const n = Number(setting);
  return setting !== undefined && setting.trim() !== "" && Number.isFinite(n) && n >= 0 ? n : DEFAULT_MEMBER_PROPOSAL_GRACE_MS;
}
