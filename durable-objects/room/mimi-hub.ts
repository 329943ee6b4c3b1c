// MIMI hub endpoints of a room this server orders (draft-ietf-mimi-protocol-06 "update" and
// "submitMessage"). A MIMI hub room is an LM hub room that also serves MIMI followers:
// what a follower submits becomes an event of the room's own protocol, written for the follower's
// user and vouched for by the hub (shared/mimi-vouched.ts), so the one-commit-per-epoch gate, the
// roster and the auth rules judge it exactly as they judge an LM event, and LM participants receive it
// as a PDU with the same MLS bytes. This module imports no protocol: the facade hands it a port that
// writes through whichever protocol orders the room. Fan-out to followers is the MimiNotifier listener.

import { decodeBase64, encodeBase64 } from "../../shared/base64.js";
import type { JsonObject } from "../../shared/canonical-json.js";
import type { Pdu } from "../../shared/event.js";
import { MLS_ALGORITHM_PREFIX } from "../../shared/mls-algorithm.js";
import { serverNameOf } from "../../shared/ids.js";
import { readEncryptedHeader } from "../../shared/mls-commit.js";
import { ENCRYPTED_EVENT, MLS_COMMIT_EVENT } from "../../shared/room-encryption.js";
import type { FollowerSet, RoomMimiStorage } from "../room-mimi-storage.js";
import { applyParticipantRemovals } from "./mimi-participant-removal.js";
import type { RolePorts } from "./mimi-participant-roles.js";
import { acceptMemberProposals, type MemberProposalView } from "./mimi-proposal.js";
import { isProposalMessage } from "../../shared/mls-member-proposal.js";
import type { LocalEvent } from "./protocol.js";
import type { Verdict } from "./verdict.js";
import type { Writer } from "./writer.js";

/** What the room's MLS part tells the MIMI hub (room-mls.ts fills it). */
export interface MimiMlsView {
  /** The room's MLS algorithm, or undefined when the room is not an MLS room. */
  algorithm(): string | undefined;
  /** The group's current epoch (0 before the group exists). */
  epoch(): number;
  /** The user whose device sent this commit (base64 PublicMessage), as the roster knows it; or why not known. */
  committerOf(message: string): { userId: string } | { code: string; reason: string };
  /** The accepted m.mls.commit that moved the group into `epoch`. */
  commitStarting(epoch: number): string | undefined;
  /** The devices in the group now, for finding who a commit added. */
  devices(): Array<{ userId: string; deviceId: string }>;
  /** The leaf indices of `userId`'s devices. */
  leavesOf(userId: string): number[];
  /** The participant list's users, in order (the hub's external-sender records). */
  participants(): string[];
  /** Runs `run` with the hub proposing nothing for `users`' departures (the commit at hand removes them). */
  coveredByCommit<T>(users: readonly string[], run: () => Promise<T>): Promise<T>;
  /** Runs `run` with the by-value participant-list update of the MIMI commit `message` (base64) taken as checked. */
  listUpdateVetted<T>(message: string, run: () => Promise<T>): Promise<T>;
  /** Participants' roles as power levels (room/mimi-participant-roles.ts). */
  readonly roles: RolePorts["mls"]["roles"];
  /** Members' standalone proposals (room/mimi-proposal.ts). */
  readonly proposals: MemberProposalView;
}


export interface MimiHubPorts {
  /** Writes an event of `provider`'s user through the protocol that orders the room (LmHub.appendVouched). */
  appendVouched(w: Writer, provider: string, sender: string, event: LocalEvent): Promise<Verdict>;
  /** A local user's invite, written through the room's protocol (no invite is offered to a follower). */
  invite(w: Writer, sender: string, target: string): Promise<Verdict>;
  /** Queues a commit's Welcome for followers by notify, once per provider per commit (room/mimi-welcome.ts). */
  queueWelcome(commitEventId: string, providers: ReadonlySet<string>, welcome: Uint8Array): void;
  /** Sends a to-device message from `sender` (the Welcomes of devices on LM servers and here). */
  deliverToDevice(sender: string, type: string, messages: Array<{ target: string; targetDevice: string; content: JsonObject }>, messageId: string): void;
  /** Whether `server` takes part in the room through LM (then it cannot become a MIMI follower). */
  isLmServer(server: string): boolean;
  readonly mls: MimiMlsView;
  readonly serverName: string;
  now(): number;
}

/** A participant-list change's outcome (the room's membership events for it). */
export type ParticipantOutcome = { ok: true; eventId: string } | { ok: false; description: string };

export interface UpdateRequest {
  /** An MLS PublicMessage carrying a commit (or a proposal). */
  message: Uint8Array;
  welcome?: Uint8Array | undefined;
  groupInfo?: Uint8Array | undefined;
  ratchetTree?: Uint8Array | undefined;
  /** With a proposal: the HandshakeBundle's `moreProposals`, held with it or not at all. */
  moreProposals?: Uint8Array[] | undefined;
}

/** UpdateResponseCode of -06, with what each case carries. */
export type UpdateOutcome =
  | { code: "success"; acceptedTimestamp: number; eventId: string }
  | { code: "wrongEpoch"; currentEpoch: number; description: string }
  | { code: "notAllowed"; description: string }
  | { code: "invalidProposal"; description: string };

/** SubmitResponseCode of -06 (the draft's `accepted(0)`, selected as `success`). */
export type SubmitOutcome =
  | { code: "success"; acceptedTimestamp: number; eventId: string }
  | { code: "epochTooOld"; currentEpoch: number; description: string }
  | { code: "notAllowed"; description: string };

/** Roster refusals that concern the proposals a commit carries rather than who may commit. */
const PROPOSAL_CODES = new Set(["proposal_by_reference", "update_by_value", "update_conflict", "update_forbidden", "unsupported_proposal", "remove_blank", "duplicate_remove", "add_duplicate", "wrong_ciphersuite", "bad_credential"]);

/** MIMI participation needs the hub to propose every participant-list change, which it can only as external sender. */
const NOT_INSTALLED = "the room's MLS group has not installed this hub as its external sender (external_senders), so it takes no MIMI participants";

const deviceKey = (d: { userId: string; deviceId: string }): string => `${d.userId}\u0000${d.deviceId}`;

export class MimiHub {
  constructor(
    private readonly roomId: string,
    private readonly store: RoomMimiStorage,
    private readonly followers: FollowerSet,
    private readonly ports: MimiHubPorts,
  ) {}

  /**
   * A follower's commit (with its Welcome, GroupInfo and ratchet tree): written as the committing
   * user's m.mls.commit. The user is the one whose device sent it, as the roster knows the sender
   * leaf, and must belong to the requesting provider.
   */
  async update(w: Writer, provider: string, req: UpdateRequest): Promise<UpdateOutcome> {
    const algorithm = this.ports.mls.algorithm();
    if (!algorithm) return { code: "notAllowed", description: "this room is not an MLS room" };
    if (isProposalMessage(req.message)) return acceptMemberProposals({ ...this.ports, store: this.store, followers: this.followers, roomId: this.roomId }, provider, [req.message, ...(req.moreProposals ?? [])]);
    if (req.moreProposals?.length) return { code: "notAllowed", description: "moreProposals go with a proposal, not a commit" };
    const message = encodeBase64(req.message);
    const found = this.ports.mls.committerOf(message);
    if ("code" in found) return PROPOSAL_CODES.has(found.code) ? { code: "invalidProposal", description: found.reason } : { code: "notAllowed", description: found.reason };
    if (!this.ports.mls.proposals.hubInstalled()) return { code: "notAllowed", description: NOT_INSTALLED };
    const committer = found.userId;
    if (serverNameOf(committer) !== provider) return { code: "notAllowed", description: `${provider} cannot commit for ${committer}` };
    const removal = await applyParticipantRemovals(this.ports, w, provider, committer, req.message);
    if (removal) return removal;
    const before = new Set(this.ports.mls.devices().map(deviceKey));
    // The GroupInfo rides in the event, so the room's MLS part checks and keeps it as for an LM commit.
    const content: JsonObject = { message, ...(req.groupInfo ? { group_info: encodeBase64(req.groupInfo) } : {}), ...(req.ratchetTree ? { ratchet_tree: encodeBase64(req.ratchetTree) } : {}) };
    const verdict = await this.ports.mls.listUpdateVetted(message, () => this.ports.appendVouched(w, provider, committer, { type: MLS_COMMIT_EVENT, content }));
    if (verdict.outcome === "rejected") {
      const code = verdict.fields?.["mls_code"];
      const current = verdict.fields?.["current_epoch"];
      if (code === "wrong_epoch" && typeof current === "number") return { code: "wrongEpoch", currentEpoch: current, description: verdict.reason };
      if (typeof code === "string" && PROPOSAL_CODES.has(code)) return { code: "invalidProposal", description: verdict.reason };
      return { code: "notAllowed", description: verdict.reason };
    }
    if (verdict.outcome !== "accepted") return { code: "notAllowed", description: "this commit was already accepted" };
    const now = this.ports.now();
    if (req.welcome) this.fanOutWelcome(req.welcome, before, { commitEventId: verdict.eventId, algorithm });
    return { code: "success", acceptedTimestamp: now, eventId: verdict.eventId };
  }

  /**
   * A Welcome goes to whoever the commit added, as the hub reads it from its roster (so it needs no
   * KeyPackageRef table): followers get it by notify; devices on LM servers and here get the to-device
   * Welcome an LM member would have sent (docs/mls-membership.md), from this server's MIMI bridge user.
   */
  private fanOutWelcome(welcome: Uint8Array, before: ReadonlySet<string>, commit: { commitEventId: string; algorithm: string }): void {
    const providers = new Set<string>();
    const toDevice: Array<{ target: string; targetDevice: string; content: JsonObject }> = [];
    const content: JsonObject = {
      algorithm: `${MLS_ALGORITHM_PREFIX}welcome.${commit.algorithm.slice(MLS_ALGORITHM_PREFIX.length)}`,
      ciphertext: encodeBase64(welcome),
      commit_event_id: commit.commitEventId,
      room_id: this.roomId,
    };
    for (const d of this.ports.mls.devices()) {
      if (before.has(deviceKey(d))) continue;
      const server = serverNameOf(d.userId);
      if (this.followers.has(server)) providers.add(server);
      else toDevice.push({ target: d.userId, targetDevice: d.deviceId, content });
    }
    if (providers.size > 0) this.ports.queueWelcome(commit.commitEventId, providers, welcome);
    if (toDevice.length > 0) this.ports.deliverToDevice(`@_mimi:${this.ports.serverName}`, "m.room.encrypted", toDevice, `mimi-welcome-${commit.commitEventId}`);
  }

  /** A follower's application message: written as `sender`'s m.room.encrypted, ciphertext unchanged. */
  async submitMessage(w: Writer, provider: string, sender: string, appMessage: Uint8Array): Promise<SubmitOutcome> {
    const algorithm = this.ports.mls.algorithm();
    if (!algorithm) return { code: "notAllowed", description: "this room is not an MLS room" };
    if (serverNameOf(sender) !== provider) return { code: "notAllowed", description: `${provider} cannot send for ${sender}` };
    if (!this.ports.mls.proposals.hubInstalled()) return { code: "notAllowed", description: NOT_INSTALLED };
    const ciphertext = encodeBase64(appMessage);
    const header = readEncryptedHeader(ciphertext);
    if (!header.ok) return { code: "notAllowed", description: header.reason };
    const current = this.ports.mls.epoch();
    const commit = header.header.epoch > 0 ? this.ports.mls.commitStarting(header.header.epoch) : undefined;
    if (!commit) {
      if (header.header.epoch < current) return { code: "epochTooOld", currentEpoch: current, description: `no accepted commit started epoch ${header.header.epoch}` };
      return { code: "notAllowed", description: `epoch ${header.header.epoch} has not been reached` };
    }
    const content = { algorithm, ciphertext, commit_event_id: commit };
    const verdict = await this.ports.appendVouched(w, provider, sender, { type: ENCRYPTED_EVENT, content });
    if (verdict.outcome === "rejected") {
      const epoch = typeof verdict.fields?.["current_epoch"] === "number" ? verdict.fields["current_epoch"] : current;
      if (verdict.fields?.["mls_code"] === "epoch_before_removal") return { code: "epochTooOld", currentEpoch: epoch, description: verdict.reason };
      return { code: "notAllowed", description: verdict.reason };
    }
    if (verdict.outcome !== "accepted") return { code: "notAllowed", description: "this message was already accepted" };
    return { code: "success", acceptedTimestamp: this.ports.now(), eventId: verdict.eventId };
  }

  /**
   * A user of a MIMI provider is added to the participant list by a local user: the room records the
   * invite and the user's join (-06 has no invite step; consent is a separate exchange), and the
   * provider becomes a follower, which gets notify instead of LM fan-out from then on.
   */
  async addParticipant(w: Writer, inviter: string, userId: string): Promise<ParticipantOutcome> {
    const provider = serverNameOf(userId);
    if (provider === this.ports.serverName) return { ok: false, description: "local users join through the client API" };
    if (!this.ports.mls.proposals.hubInstalled()) return { ok: false, description: NOT_INSTALLED };
    if (!this.followers.has(provider) && this.ports.isLmServer(provider)) return { ok: false, description: `${provider} takes part in this room through LM` };
    const firstUser = !this.followers.has(provider);
    this.followers.add(provider, this.ports.now());
    const invite = await this.ports.invite(w, inviter, userId);
    if (invite.outcome === "rejected") {
      if (firstUser) this.followers.remove(provider);
      return { ok: false, description: invite.reason };
    }
    return this.membership(w, provider, userId, "join");
  }

  private async membership(w: Writer, provider: string, userId: string, membership: "join"): Promise<ParticipantOutcome> {
    const v = await this.ports.appendVouched(w, provider, userId, { type: "m.room.member", state_key: userId, content: { membership } });
    if (v.outcome === "rejected") return { ok: false, description: v.reason };
    return { ok: true, eventId: v.eventId };
  }

  get room(): string {
    return this.roomId;
  }
}

/** The MLS message an accepted event carries, for fan-out to followers; undefined for other events. */
export function mlsMessageOf(pdu: Pdu): Uint8Array | undefined {
  const field = pdu.type === MLS_COMMIT_EVENT ? pdu.content["message"] : pdu.type === ENCRYPTED_EVENT ? pdu.content["ciphertext"] : undefined;
  if (typeof field !== "string") return undefined;
  try {
    return decodeBase64(field);
  } catch {
    return undefined;
  }
}
