// The hub as its room's MLS external sender (docs/mimi.md "Participant list"). Any commit may install the
// hub's key in external_senders (GroupContextExtensions) while it is not installed; from then on the
// hub proposes, for every membership change, the participant-list AppDataUpdate and, for a departure,
// a Remove for each of the user's leaves; for a power-levels change, the participants' new roles
// (roles are power levels, shared/mimi-roles.ts); and refuses every commit that does not include all
// of them by reference. Until a group installs it, the room keeps the LM rules alone (mls-roster.ts)
// and takes no MIMI participants (room/mimi-hub.ts).

import { encodeBase64 } from "../shared/base64.js";
import type { JsonObject } from "../shared/canonical-json.js";
import type { CommitProposal, InspectedCommit } from "../shared/mls-commit.js";
import { APP_DATA_UPDATE_PROPOSAL_TYPE, encodeHubExternalSender, externalSendersIn, hubExternalSender, namesExternalSender, participantListProposal, participantListUpdateOfProposal, removeProposal, signHubProposal } from "../shared/mls-hub-proposals.js";
import { resolvedMemberProposal } from "../shared/mls-member-proposal.js";
import { DEFAULT_MEMBER_PROPOSAL_GRACE_MS, stillRequired } from "../shared/mls-member-proposal-rules.js";
import { groupIdOfRoom, type Roster } from "../shared/mls-roster.js";
import { userUriOf } from "../shared/mimi-identifiers.js";
import { owedListUpdate, touchedThisEpoch, type Participant } from "../shared/mimi-list-owed.js";
import { powerLevelsWithRoles, roleChangeFor, roleIndexOf } from "../shared/mimi-roles.js";
import type { ParticipantListUpdate } from "../shared/mimi/participant-list.js";
import type { Membership } from "../shared/room-state.js";
import { generateSeed, signingKeyFromSeed } from "../shared/signing-key.js";
import { RoomMlsHubStorage, type HubProposalRow } from "./room-mls-hub-storage.js";

/** What an accepted event does to the hub's external-sender records; applied in the Room's commit. */
export interface HubEffect {
  install?: true;
  /** An accepted commit: the pending proposals are now part of the group (the gate made sure of it). */
  clear?: true;
  proposals?: HubProposalRow[];
  participants?: Array<{ userId: string; role: number }>;
  /** A user who stopped being joined: members' held Adds of their devices and Updates of their leaves lapse. */
  lapse?: string;
}

/** `carried`: the hub proposals the commit includes, in its order, for LM participants (shared/mls-hub-references.ts). */
export type HubCommitVet = { ok: true; commit: InspectedCommit; effect?: HubEffect; carried?: Uint8Array[] } | { ok: false; code: string; reason: string };

/** How shared/mls-commit.ts names the participant-list AppDataUpdate when a commit carries it by value. */
const BY_VALUE_LIST_UPDATE = `custom:${APP_DATA_UPDATE_PROPOSAL_TYPE}`;

export class MlsHubSender {
  private readonly store: RoomMlsHubStorage;
  private publicKey: Promise<Uint8Array> | undefined;
  /** Users whose departure the commit being written removes itself (a MIMI participant removal). */
  private covered = new Set<string>();
  /** While set, a power-levels change proposes no role change: the commit being written carries it. */
  private rolesCovered = false;
  /** The MIMI commit (base64) whose by-value participant-list update the MIMI path has applied. */
  private vettedListCommit: string | undefined;

  constructor(
    storage: DurableObjectStorage,
    private readonly serverName: string,
    /** The room's current power-levels content and v12 creators, which give each participant's role (shared/mimi-roles.ts). */
    private readonly roles: { powerLevels(): unknown; creators(): ReadonlySet<string> },
    /** How long a member's held proposal stays required (shared/mls-member-proposal-rules.ts stillRequired). */
    private readonly graceMs: number = DEFAULT_MEMBER_PROPOSAL_GRACE_MS,
  ) {
    this.store = new RoomMlsHubStorage(storage);
  }

  private roleOf(userId: string): number {
    return roleIndexOf(this.roles.powerLevels(), userId, this.roles.creators());
  }

  /** The current power-levels content with `changes` as the users' levels: how a committed role change is written. */
  powerLevelsWith(changes: ReadonlyArray<{ userId: string; role: number }>): JsonObject {
    return powerLevelsWithRoles(this.roles.powerLevels(), changes);
  }

  private seed(): Uint8Array {
    const existing = this.store.sender();
    if (existing) return existing.seed;
    this.store.createSender(generateSeed());
    return (this.store.sender() as { seed: Uint8Array }).seed;
  }

  private key(): Promise<Uint8Array> {
    this.publicKey ??= signingKeyFromSeed(this.seed(), "mls").then((k) => k.publicKey);
    return this.publicKey;
  }

  /** The ExternalSender (ts-mls encoding) the group's creator puts in external_senders. */
  async externalSender(): Promise<Uint8Array> {
    return encodeHubExternalSender(hubExternalSender(this.serverName, await this.key()));
  }

  isInstalled(): boolean {
    return this.store.sender()?.installed === true;
  }

  /** The participant list's users, in order, as the hub's proposals have built it. */
  participants(): string[] {
    return this.store.participants().map((p) => p.userId);
  }

  /** While `run` writes their departures, the hub proposes nothing for `users`: the commit at hand removes them. */
  async coveredByCommit<T>(users: readonly string[], run: () => Promise<T>): Promise<T> {
    this.covered = new Set(users);
    try {
      return await run();
    } finally {
      this.covered = new Set();
    }
  }

  /**
   * While `run` writes the MIMI commit `message`, its by-value participant-list update is taken: the
   * MIMI path (room/mimi-participant-removal.ts) checked it and wrote its kicks and power levels first.
   */
  async listUpdateVetted<T>(message: string, run: () => Promise<T>): Promise<T> {
    this.vettedListCommit = message;
    try {
      return await run();
    } finally {
      this.vettedListCommit = undefined;
    }
  }

  /** While `run` writes the committer's power-levels change, the hub proposes no role change: the commit at hand carries it. */
  async rolesCoveredByCommit<T>(run: () => Promise<T>): Promise<T> {
    this.rolesCovered = true;
    try {
      return await run();
    } finally {
      this.rolesCovered = false;
    }
  }

  pendingProposals(): HubProposalRow[] {
    return this.isInstalled() ? this.store.proposals().filter((p) => !p.lapsed) : [];
  }

  /** The participant list with roles, pending proposals applied (what the next commit makes it). */
  participantList(): Array<{ userId: string; role: number }> {
    return this.store.participants();
  }

  /**
   * A power-levels change (`powerLevels`, the new content): one participant-list update with the new
   * role of every participant whose role it changes, signed for the group's current epoch.
   */
  async roleProposals(powerLevels: unknown, roster: Roster | null): Promise<HubEffect | undefined> {
    if (!roster || !this.isInstalled()) return undefined;
    const list = this.store.participants();
    if (this.rolesCovered) {
      const change = roleChangeFor(list, powerLevels, this.roles.creators());
      return change && { participants: change.participants };
    }
    // Users a pending list proposal already touches wait for the next epoch (vetCommit's owed update).
    return this.signListChange(roleChangeFor(list, powerLevels, this.roles.creators(), this.touchedNow(list)), roster.roomId, roster.epoch);
  }

  /** Users the epoch's uncommitted hub list proposals already add, remove or change (-06 §7.5 allows one change per user per commit). */
  private touchedNow(list: readonly Participant[]): Set<string> {
    const rows = this.store.proposals().filter((p) => p.leaf === null && p.proposer === undefined);
    const updates = rows.flatMap((r) => participantListUpdateOfProposal(r.message) ?? []);
    return touchedThisEpoch(list, updates, rows.flatMap((r) => (r.userId ? [r.userId] : [])));
  }

  private async signListChange(change: { update: ParticipantListUpdate; participants: Participant[] } | undefined, roomId: string, epoch: number): Promise<HubEffect | undefined> {
    if (!change) return undefined;
    const signed = await signHubProposal(this.seed(), groupIdOfRoom(roomId), epoch, participantListProposal(change.update));
    const row: HubProposalRow = { ref: encodeBase64(signed.ref), epoch, leaf: null, userId: "", message: signed.message, acceptedTs: Date.now() };
    return { proposals: [row], participants: change.participants };
  }

  /**
   * A commit's external-sender checks: while the hub is not installed, a commit may install its key (and
   * nothing else as external sender); once installed, a commit may not drop it, must include every pending
   * hub proposal, and may refer to no other proposal. Hub Removes come back as ordinary removes, marked as the hub's.
   */
  async vetCommit(roomId: string, commit: InspectedCommit, message: unknown, joined: () => string[]): Promise<HubCommitVet> {
    const installed = this.isInstalled();
    const senders = commit.proposals.some((p) => p.type === "other" && p.name === "group_context_extensions") ? externalSendersIn(message) : [];
    // At any epoch, so an LM room's group can take MIMI participants later; the list proposal then names
    // every user joined at that point.
    if (!installed && senders.some((s) => s !== undefined)) {
      const key = await this.key();
      if (!senders.every((s) => s !== undefined && namesExternalSender(s, key))) {
        return { ok: false, code: "foreign_external_sender", reason: "external_senders may name only this hub" };
      }
      const participants = joined().map((userId) => ({ userId, role: this.roleOf(userId) }));
      const update: ParticipantListUpdate = { changedRoleParticipants: [], removedIndices: [], addedParticipants: participants.map((p) => ({ user: userUriOf(p.userId), roleIndex: p.role })) };
      const signed = await signHubProposal(this.seed(), groupIdOfRoom(roomId), commit.epoch + 1, participantListProposal(update));
      const proposal: HubProposalRow = { ref: encodeBase64(signed.ref), epoch: commit.epoch + 1, leaf: null, userId: "", message: signed.message, acceptedTs: Date.now() };
      return { ok: true, commit, effect: { install: true, proposals: [proposal], participants } };
    }
    if (!installed) return { ok: true, commit };
    if (senders.length > 0) {
      const key = await this.key();
      if (!senders.every((s) => s !== undefined && namesExternalSender(s, key))) {
        return { ok: false, code: "external_sender_removed", reason: "a GroupContextExtensions proposal must keep this hub as the only external sender" };
      }
    }
    // Otherwise the group's list would change with no membership or power-levels event behind it.
    if (message !== this.vettedListCommit && commit.proposals.some((p) => p.type === "other" && p.name === BY_VALUE_LIST_UPDATE)) {
      return { ok: false, code: "participant_list_by_value", reason: "a commit changes the participant list by value only through MIMI update; here membership and power-levels events change it, and the hub proposes the change" };
    }
    // Lapsed rows still resolve, so a commit including one is judged by the roster (e.g. add_not_joined).
    const held = this.store.proposals();
    const pending = new Map(held.map((p) => [p.ref, p]));
    const seen = new Set<string>();
    const carried: Uint8Array[] = [];
    const proposals: CommitProposal[] = commit.proposals.map((p) => {
      if (p.type !== "reference") return p;
      const row = pending.get(encodeBase64(p.ref));
      if (!row) return p; // the roster refuses it: not a proposal this hub sent
      seen.add(row.ref);
      carried.push(row.message);
      if (row.proposer !== undefined) return resolvedMemberProposal(row.message, row.proposer) ?? p;
      if (row.leaf === null) return { type: "other", name: "app_data_update" };
      return { type: "remove", leaf: row.leaf, byHub: true };
    });
    const now = Date.now();
    const missing = held.filter((p) => !seen.has(p.ref) && stillRequired(p, now, this.graceMs));
    if (missing.length > 0) {
      const whom = [...new Set(missing.map((m) => m.userId || "the participant list"))].join(", ");
      return { ok: false, code: "missing_hub_proposals", reason: `the commit must include the hub's ${missing.length} pending proposal(s) (for ${whom}) by reference, members' standalone ones included` };
    }
    // What waited for this commit (a second change of a user in one epoch), proposed for the next epoch.
    const deferred = await this.signListChange(owedListUpdate(this.store.participants(), joined(), (u) => this.roleOf(u)), roomId, commit.epoch + 1);
    return { ok: true, commit: { ...commit, proposals }, effect: { clear: true, ...deferred }, carried };
  }

  /** membershipProposals, and a departure's lapse of members' held Adds and Updates for the user. */
  async membershipEffect(userId: string, before: Membership | undefined, after: Membership | undefined, roster: Roster | null): Promise<HubEffect | undefined> {
    const effect = await this.membershipProposals(userId, before, after, roster);
    if (before !== "join" || after === "join" || !this.isInstalled()) return effect;
    return { ...effect, lapse: userId };
  }

  /** The proposals a membership change calls for, signed for the group's current epoch. */
  async membershipProposals(userId: string, before: Membership | undefined, after: Membership | undefined, roster: Roster | null): Promise<HubEffect | undefined> {
    if (!roster || !this.isInstalled()) return undefined;
    const wasIn = before === "join";
    const isIn = after === "join";
    if (wasIn === isIn) return undefined;
    const list = this.store.participants();
    const index = list.findIndex((p) => p.userId === userId);
    // A user an uncommitted list proposal already touches waits for the next epoch (vetCommit's owed
    // update); a departure's Removes still go now, as the user's clients must leave with the user.
    const waits = !this.covered.has(userId) && this.touchedNow(list).has(userId);
    let update: ParticipantListUpdate;
    let participants: Array<{ userId: string; role: number }>;
    if (isIn) {
      if (index >= 0 || waits) return undefined;
      const role = this.roleOf(userId);
      participants = [...list, { userId, role }];
      update = { changedRoleParticipants: [], removedIndices: [], addedParticipants: [{ user: userUriOf(userId), roleIndex: role }] };
    } else {
      participants = waits ? [...list] : list.filter((p) => p.userId !== userId);
      if (this.covered.has(userId)) return { participants };
      update = { changedRoleParticipants: [], removedIndices: index >= 0 ? [index] : [], addedParticipants: [] };
    }
    const already = new Set(this.store.proposals().flatMap((p) => (p.leaf === null ? [] : [p.leaf])));
    const leaves = isIn ? [] : roster.leaves.flatMap((l, i) => (l?.userId === userId && !already.has(i) ? [i] : []));
    const listChange = !waits && (isIn || index >= 0);
    if (!listChange && leaves.length === 0) return undefined; // nothing of theirs left to remove
    const seed = this.seed();
    const groupId = groupIdOfRoom(roster.roomId);
    const rows: HubProposalRow[] = [];
    const sign = async (leaf: number | null) => {
      const s = await signHubProposal(seed, groupId, roster.epoch, leaf === null ? participantListProposal(update) : removeProposal(leaf));
      rows.push({ ref: encodeBase64(s.ref), epoch: roster.epoch, leaf, userId, message: s.message, acceptedTs: Date.now() });
    };
    if (listChange) await sign(null);
    for (const leaf of leaves) await sign(leaf);
    return { proposals: rows, participants };
  }

  /**
   * A member's standalone proposal (room/mimi-proposal.ts checked it), held beside the hub's own: -06
   * §3.5 has the hub require the next commit to include it, so the gate treats it like the hub's.
   */
  holdMemberProposal(row: HubProposalRow & { proposer: string }): void {
    this.store.addProposal(row);
  }

  /** Inside the Room's commit transaction. */
  record(effect: HubEffect): void {
    if (effect.install) this.store.markInstalled();
    if (effect.clear) this.store.clearProposals();
    if (effect.lapse !== undefined) this.store.lapseMemberProposals(effect.lapse);
    for (const p of effect.proposals ?? []) this.store.addProposal(p);
    if (effect.participants) this.store.saveParticipants(effect.participants);
  }
}
