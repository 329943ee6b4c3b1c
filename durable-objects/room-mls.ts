// The Room's MLS part (issue 7; docs/mls-membership.md states the rules): which events an MLS room
// accepts, the roster kept in step with room membership, the record of accepted commits, and Welcomes
// held until their commit is accepted. The rules are pure (shared/mls-roster.ts, mls-commit.ts,
// room-encryption.ts); this module feeds them the room's state and the Worker's device lookups.
//
// As hub, a failed check refuses the event (the client gets the error, an LPDU lands in failed_pdus).
// As participant, the hub has already ordered the event, so a failed check is only logged (a soft
// failure): refusing it would fork this replica from the hub's. A participant follows the roster only
// if it saw the group's creation (an epoch 0 commit); one that joined later, or whose view ever
// disagrees with the hub's, stops following it and checks what needs no roster.

import { encodeBase64 } from "../shared/base64.js";
import { MatrixError } from "../shared/errors.js";
import type { Pdu } from "../shared/event.js";
import { inspectCommit, readEncryptedHeader, type InspectedCommit } from "../shared/mls-commit.js";
import { applyCommit, checkEncrypted, deviceInvalidated, userJoined, userLeft, type Roster } from "../shared/mls-roster.js";
import {
  checkEncryptionEvent,
  checkRedaction,
  ENCRYPTED_EVENT,
  ENCRYPTION_EVENT,
  encryptionOfCreate,
  MLS_COMMIT_EVENT,
  type RoomEncryption,
} from "../shared/room-encryption.js";
import { membershipOf, type Membership } from "../shared/room-state.js";
import { convertersOf, mlsMembers, type MlsMembers } from "../shared/converter/mls-members.js";
import { PAIR_EVENT } from "../shared/converter/pairing.js";
import { privilegedCreators } from "../shared/mimi-roles.js";
import { mlsError } from "./room-mls-errors.js";
import { MlsHubSender, type HubEffect } from "./room-mls-hub.js";
import { carryHubProposals, resolveCarried } from "./room-mls-hub-refs.js";
import { vetCommitGroupInfo } from "./room-mls-group-info.js";
import { RoomMlsStorage, type HeldWelcome } from "./room-mls-storage.js";
import type { WelcomeVerdict } from "./room/verdict.js";
import type { Writer } from "./room/writer.js";

export type { MlsDeviceKeys, MlsEffect, MlsHost } from "./room-mls-types.js";
import type { MlsEffect, MlsHost } from "./room-mls-types.js";

/** How long a Welcome waits for its commit before it is dropped. */
export const WELCOME_HOLD_MS = 10 * 60_000;
/** Welcomes held per room at most: a bound on what unknown commit IDs can make the room store. */
const MAX_HELD_WELCOMES = 1_000;
/** Device answers are reused this long: a commit's checks and the next few commits share them. */
const DEVICE_CACHE_MS = 60_000;

function encryptionRefused(reason: string): MatrixError {
  return new MatrixError(403, "M_FORBIDDEN", `Encryption cannot be weakened: ${reason}`);
}

const deviceKey = (userId: string, deviceId: string): string => `${userId}\u0000${deviceId}`;

export class RoomMls {
  private readonly store: RoomMlsStorage;
  /** The hub as the group's external sender. */
  readonly hub: MlsHubSender;
  private roster: Roster | null = null;
  private untracked = false;
  private readonly devices = new Map<string, { key: string | null; at: number }>();
  private converters: string[] | undefined;

  constructor(
    storage: DurableObjectStorage,
    private readonly host: MlsHost,
  ) {
    this.store = new RoomMlsStorage(storage);
    this.hub = new MlsHubSender(storage, host.serverName, {
      powerLevels: () => host.state.get("m.room.power_levels", "")?.content,
      creators: () => privilegedCreators(host.state.get("m.room.create", "")),
    }, host.memberProposalGraceMs);
  }

  /** Reads the persisted roster once the room is known. */
  load(roomId: string): void {
    this.roster = this.store.loadRoster(roomId);
    this.untracked = this.store.isUntracked();
  }

  /** The room's encryption as its create event fixes it; a create the hub could not accept counts as none. */
  encryption(): RoomEncryption {
    const create = this.host.state.get("m.room.create", "");
    const e = encryptionOfCreate(create?.content);
    return e.ok ? e.encryption : { mls: false };
  }

  /** The roster as the Room holds it (tests and admin views). */
  currentRoster(): Roster | null {
    return this.roster;
  }

  /** Epoch, occupied leaves and pending removals, for tests and operators. */
  status(): { epoch: number; members: number; pending: number; removalEpoch: number } | undefined {
    const r = this.roster;
    return r ? { epoch: r.epoch, members: r.leaves.filter((l) => l !== null).length, pending: r.pending.length, removalEpoch: r.removalEpoch } : undefined;
  }

  /** Ghosts of the room's converters stand for their real users (shared/converter/mls-members.ts). */
  private members(): MlsMembers {
    this.converters ??= convertersOf(this.host.state);
    return mlsMembers(this.host.state, this.converters);
  }
  readonly isJoined = (userId: string): boolean => this.members().isJoined(userId);

  // ---- Checks: the hub refuses, a participant logs ----

  /** Hub: the event's MLS and encryption checks at the current position. Throws the refusal. */
  async vetAsHub(pdu: Pdu, roomId: string): Promise<MlsEffect | undefined> {
    return this.evaluate(pdu, roomId, "hub");
  }

  /** Participant: the same checks on an event the hub already accepted; never throws. */
  async observeAsParticipant(pdu: Pdu, roomId: string, eventId: string): Promise<MlsEffect | undefined> {
    try {
      return await this.evaluate(pdu, roomId, "participant");
    } catch (e) {
      console.warn(`MLS soft failure in ${roomId} for ${eventId}: ${e instanceof Error ? e.message : String(e)}`);
      // A commit the hub accepted but this replica would not have: its roster no longer matches the
      // hub's, so it stops following it rather than judge later events by a wrong roster.
      if (pdu.type === MLS_COMMIT_EVENT) {
        const inspected = this.encryption().mls ? this.inspect(pdu) : undefined;
        return { ...(inspected ? { commit: { epoch: inspected.epoch } } : {}), untrack: true };
      }
      return undefined;
    }
  }

  private inspect(pdu: Pdu): InspectedCommit | undefined {
    const enc = this.encryption();
    if (!enc.mls) return undefined;
    const r = inspectCommit(pdu.content["message"], enc.algorithm);
    return r.ok ? r.commit : undefined;
  }

  private async evaluate(pdu: Pdu, roomId: string, role: "hub" | "participant"): Promise<MlsEffect | undefined> {
    switch (pdu.type) {
      case "m.room.create": {
        if (pdu.state_key !== "") return undefined;
        const e = encryptionOfCreate(pdu.content);
        if (!e.ok) throw new MatrixError(400, "M_BAD_JSON", e.reason);
        return undefined;
      }
      case ENCRYPTION_EVENT: {
        if (pdu.state_key !== "") return undefined;
        const verdict = checkEncryptionEvent(this.encryption(), this.host.state.get(ENCRYPTION_EVENT, "")?.content, pdu.content);
        if (!verdict.ok) throw encryptionRefused(verdict.reason);
        return undefined;
      }
      case "m.room.member": {
        const userId = pdu.state_key;
        if (role !== "hub" || typeof userId !== "string") return undefined;
        const hub = await this.hub.membershipEffect(userId, this.host.state.membership(userId), membershipOf(pdu), this.roster);
        return hub ? { hub } : undefined;
      }
      case "m.room.power_levels": {
        if (role !== "hub" || pdu.state_key !== "") return undefined;
        const hub = await this.hub.roleProposals(pdu.content, this.roster);
        return hub ? { hub } : undefined;
      }
      case "m.room.redaction":
        this.checkRedaction(pdu);
        return undefined;
      case MLS_COMMIT_EVENT:
        return this.evaluateCommit(pdu, roomId, role);
      case ENCRYPTED_EVENT:
        this.evaluateEncrypted(pdu, role);
        return undefined;
      default:
        return undefined;
    }
  }

  private checkRedaction(pdu: Pdu): void {
    const targetId = pdu.redacts ?? pdu.content["redacts"];
    if (typeof targetId !== "string") return;
    const target = this.host.eventById(targetId);
    if (!target) return;
    const isCurrent = typeof target.state_key === "string" && this.host.state.eventIdOf(target.type, target.state_key) === targetId;
    const verdict = checkRedaction(this.encryption(), { type: target.type, ...(target.state_key !== undefined ? { stateKey: target.state_key } : {}), isCurrent });
    if (!verdict.ok) throw encryptionRefused(verdict.reason);
  }

  private async evaluateCommit(pdu: Pdu, roomId: string, role: "hub" | "participant"): Promise<MlsEffect> {
    const enc = this.encryption();
    const epoch = this.roster?.epoch ?? 0;
    if (!enc.mls) throw mlsError("not_mls_room", "this room's m.room.create names no MLS algorithm", 0);
    if (pdu.state_key !== undefined) throw mlsError("bad_content", "m.mls.commit is not a state event", epoch);
    const inspected = inspectCommit(pdu.content["message"], enc.algorithm);
    if (!inspected.ok) throw mlsError(inspected.code, inspected.reason, epoch);
    let commit = inspected.commit;
    let hub: HubEffect | undefined;
    if (role === "hub") {
      const joined = () => this.host.state.members("join").flatMap((e) => (typeof e.pdu.state_key === "string" ? [e.pdu.state_key] : []));
      const vetted = await this.hub.vetCommit(roomId, commit, pdu.content["message"], joined);
      if (!vetted.ok) throw mlsError(vetted.code, vetted.reason, epoch);
      ({ commit, effect: hub } = vetted);
      carryHubProposals(pdu, vetted.carried);
    }
    if (role === "participant" && (this.untracked || (this.roster === null && commit.epoch !== 0))) {
      // Joined after the group was created (or lost track): no roster to judge by, only the record.
      return this.untracked ? { commit: { epoch: commit.epoch } } : { commit: { epoch: commit.epoch }, untrack: true };
    }
    if (role === "participant") commit = await resolveCarried(commit, pdu, { commitInto: (e) => this.store.commitInto(e), eventById: (id) => this.host.eventById(id), memberOf: (l) => this.roster?.leaves[l]?.userId });
    // A participant trusts the hub's device checks (it would need the same lookups to repeat them).
    const sender = this.members().realUser(pdu.sender);
    const valid = role === "hub" ? await this.deviceCheck(commit, sender) : () => true;
    const result = applyCommit(this.roster, commit, { roomId, sender, isJoined: this.isJoined, isValidDevice: valid });
    if (!result.ok) throw mlsError(result.code, result.reason, result.currentEpoch, result.missing);
    const needsGroupInfo = this.hub.isInstalled() && (this.host.hasMimiFollowers?.() ?? false);
    const groupInfo = role === "hub" ? await vetCommitGroupInfo(pdu, commit, roomId, this.roster, this.signatureKeyOf, needsGroupInfo) : undefined;
    return { commit: { epoch: commit.epoch, result }, ...(hub ? { hub } : {}), ...(groupInfo ? { groupInfo } : {}) };
  }

  private evaluateEncrypted(pdu: Pdu, role: "hub" | "participant"): void {
    const enc = this.encryption();
    if (!enc.mls) return; // double-ratchet rooms carry Olm/Megolm events untouched
    const epoch = this.roster?.epoch ?? 0;
    if (pdu.content["algorithm"] !== enc.algorithm) {
      throw mlsError("wrong_algorithm", `m.room.encrypted in this room must use ${enc.algorithm}`, epoch);
    }
    const header = readEncryptedHeader(pdu.content["ciphertext"]);
    if (!header.ok) throw mlsError(header.code, header.reason, epoch);
    if (role === "participant" && this.roster === null) return; // nothing to judge the epoch by
    const check = checkEncrypted(this.roster, header.header, this.members().realUser(pdu.sender), this.isJoined);
    if (!check.ok) throw mlsError(check.code, check.reason, check.currentEpoch, check.missing);
    // The message names the commit that started its epoch, so clients know which group state opens it.
    const ref = pdu.content["commit_event_id"];
    if (typeof ref !== "string") throw mlsError("bad_content", "m.room.encrypted needs the commit_event_id of its epoch", epoch);
    const refEpoch = this.store.commitEpoch(ref);
    if (refEpoch === undefined) throw mlsError("unknown_commit", `${ref.slice(0, 100)} is not an accepted m.mls.commit of this room`, epoch);
    if (refEpoch + 1 !== header.header.epoch) {
      throw mlsError("commit_mismatch", `the message is for epoch ${header.header.epoch}, its commit_event_id started epoch ${refEpoch + 1}`, epoch);
    }
  }

  /**
   * Looks up, in one request, every device whose validity the commit's checks can ask about, and answers
   * from that. A device whose server could not be asked is valid only where that protects a member: it
   * cannot be removed on the ground of being invalid, but it cannot commit or be added either.
   */
  private async deviceCheck(commit: InspectedCommit, sender: string): Promise<(userId: string, deviceId: string, signatureKey?: Uint8Array) => boolean> {
    const wanted: Array<[string, string]> = [];
    const roster = this.roster;
    const committer = roster ? roster.leaves[commit.senderLeaf] : commit.pathIdentity;
    if (committer) wanted.push([committer.userId, committer.deviceId]);
    for (const p of commit.proposals) {
      if (p.type === "add" || p.type === "update") wanted.push([p.identity.userId, p.identity.deviceId]);
      if (p.type === "remove" && roster) {
        const target = roster.leaves[p.leaf];
        // Validity only decides a removal of another joined user's device that is not already owed.
        if (target && target.userId !== sender && this.isJoined(target.userId) && !roster.pending.some((q) => q.leaf === p.leaf)) {
          wanted.push([target.userId, target.deviceId]);
        }
      }
    }
    const known = await this.devicesOf(wanted);
    return (userId, deviceId, signatureKey) => {
      const k = known.get(deviceKey(userId, deviceId));
      if (k === undefined) return signatureKey === undefined && userId !== sender; // unreachable
      if (k === null) return false;
      return signatureKey === undefined || k === encodeBase64(signatureKey);
    };
  }

  /** A device's base64 MLS signature key; null: not a valid MLS device; undefined: its server did not answer. */
  signatureKeyOf = async (userId: string, deviceId: string): Promise<string | null | undefined> => (await this.devicesOf([[userId, deviceId]])).get(deviceKey(userId, deviceId));

  /** Device keys by deviceKey(); null = not a valid MLS device; absent = its server did not answer. */
  private async devicesOf(wanted: Array<[string, string]>): Promise<Map<string, string | null>> {
    const now = Date.now();
    const out = new Map<string, string | null>();
    const query: Record<string, string[]> = {};
    for (const [u, d] of wanted) {
      const cached = this.devices.get(deviceKey(u, d));
      if (cached && now - cached.at < DEVICE_CACHE_MS) out.set(deviceKey(u, d), cached.key);
      else if (!(query[u] ??= []).includes(d)) (query[u] as string[]).push(d);
    }
    if (Object.keys(query).length === 0) return out;
    const answer = await this.host.lookupDevices(query);
    const unreachable = new Set(answer.unreachable);
    for (const [u, ds] of Object.entries(query)) {
      if (unreachable.has(u)) continue;
      for (const d of ds) {
        const key = answer.keys[u]?.[d] ?? null;
        out.set(deviceKey(u, d), key);
        this.devices.set(deviceKey(u, d), { key, at: now });
      }
    }
    if (this.devices.size > 10_000) this.devices.clear(); // a bound, not an eviction policy
    return out;
  }

  // ---- Recording: inside the Room's commit transaction ----

  /**
   * Persists what an accepted event changes: the commit's roster delta and its epoch record, and the
   * pending removals a membership change causes. Memory changes last, so a failed write leaves it as it was.
   */
  record(eventId: string, pos: number, pdu: Pdu, membershipBefore: Membership | undefined, effect: MlsEffect | undefined): void {
    let next = this.roster;
    let untracked = this.untracked;
    if (effect?.commit) {
      this.store.recordCommit(eventId, effect.commit.epoch, pos);
      const r = effect.commit.result;
      if (r) {
        if (next === null) this.store.saveRoster(r.roster);
        else this.store.saveCommitDelta(r.roster, r.removed.map((l) => l.leaf), r.added);
        next = r.roster;
      }
    }
    if (effect?.hub) this.hub.record(effect.hub);
    if (effect?.untrack && !untracked) {
      this.store.dropRoster();
      this.store.markUntracked();
      next = null;
      untracked = true;
    }
    if (pdu.type === PAIR_EVENT) this.converters = undefined;
    if (next && pdu.type === "m.room.member" && typeof pdu.state_key === "string") {
      const after = membershipOf(pdu);
      // A ghost's leave or ban removes its real user's devices (mls-members.ts).
      const user = this.members().realUser(pdu.state_key);
      let changed = next;
      if (membershipBefore === "join" && after !== "join") changed = userLeft(next, user);
      else if (membershipBefore !== "join" && after === "join") changed = userJoined(next, user);
      if (changed !== next) {
        this.store.savePending(changed);
        next = changed;
      }
    }
    this.roster = next;
    this.untracked = untracked;
  }

  /**
   * Devices that are gone (logged out): "Invalid devices MUST NOT be members ... and are removed", so
   * any leaf of theirs becomes a pending removal the next commit must contain. Returns the pending count.
   * Only in the exclusive section (the Writer), so it never falls between a commit's checks and its record.
   */
  devicesRemoved(_w: Writer, userId: string, deviceIds: readonly string[]): number {
    for (const d of deviceIds) this.devices.delete(deviceKey(userId, d));
    const before = this.roster;
    if (!before) return 0;
    let next = before;
    for (const d of deviceIds) next = deviceInvalidated(next, userId, d);
    if (next !== before) {
      this.store.savePending(next);
      this.roster = next;
    }
    return next.pending.length;
  }

  /** The accepted m.mls.commit that moved the group into `epoch`. */
  commitInto(epoch: number): string | undefined {
    return this.store.commitInto(epoch);
  }

  /** Whether `eventId` is an accepted m.mls.commit of this room. */
  isAcceptedCommit(eventId: string): boolean {
    return this.store.commitEpoch(eventId) !== undefined;
  }

  // ---- Welcomes held for their commit (docs/mls-membership.md "Welcome release") ----

  /**
   * A Welcome whose commit is `commitEventId`: "deliver" when that commit is accepted, "held" until it
   * is (at most WELCOME_HOLD_MS), "refused" when it can never be (the event is something else, or the
   * room holds too many already).
   */
  holdWelcome(w: Omit<HeldWelcome, "seq">, known: boolean, now: number): WelcomeVerdict {
    if (this.isAcceptedCommit(w.commitEventId)) return { kind: "deliver" };
    if (known) return { kind: "refused", reason: "the room holds that event and it is not an accepted commit" };
    this.store.dropExpiredWelcomes(now);
    if (this.store.heldWelcomeCount() >= MAX_HELD_WELCOMES) return { kind: "refused", reason: `the room already holds ${MAX_HELD_WELCOMES} Welcomes` };
    this.store.holdWelcome(w, now + WELCOME_HOLD_MS);
    return { kind: "held" };
  }

  /** Held Welcomes whose commit has been accepted meanwhile; expired ones are dropped first. */
  releasableWelcomes(now: number): HeldWelcome[] {
    this.store.dropExpiredWelcomes(now);
    return this.store.releasableWelcomes(now);
  }

  welcomeReleased(seq: number): void {
    this.store.deleteHeldWelcome(seq);
  }
}
