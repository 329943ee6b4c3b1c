// One room per Durable Object, whatever protocol it speaks (Workers route by room ID and cannot know
// the protocol first). `Room` is the facade workerd exports: RPC methods of a line or two, stacked
// by concept - lifecycle and protocol choice (room-facade-base.ts), reads (room-facade-reads.ts),
// writes and federation handshakes (room-facade-writes.ts), and here ephemeral data, the converter,
// MLS and MIMI. The engine is in room/: the core (identity, log, state, the writer, commit), the
// protocols (LmHub, LmParticipant, MatrixDag) and the commit listeners (fan-out, D1 index, MLS,
// local notifications).
// Signatures and hashes of events from other servers are checked by the Worker first.

import { encodeBase64 } from "../shared/base64.js";
import { forbidden, notFound } from "../shared/errors.js";
import { serverNameOf } from "../shared/ids.js";
import type { Receipt } from "../shared/receipts-typing.js";
import { creationVersion, LmHub } from "./room/lm-hub.js";
import type { ParticipantOutcome, SubmitOutcome, UpdateOutcome, UpdateRequest } from "./room/mimi-hub.js";
import { bridgeUserOf, type FanoutItem } from "./room/mimi-follower.js";
import { answerGroupInfo, type GroupInfoAnswer } from "./room/mimi-group-info.js";
import { viewRoomEvents } from "./room/mimi-view.js";
import type { RelayVerdict, WelcomeMessage } from "./room/mimi-welcome.js";
import type { WelcomeRelay } from "../shared/mimi-welcome-relay.js";
import { eventIdOrThrow, type WelcomeVerdict } from "./room/verdict.js";
import type { ConversionItem } from "./room/converter.js";
import type { ImportResult } from "./room/converter-import.js";
import { RoomWrites } from "./room-facade-writes.js";

export type { FailedPdus } from "./room/verdict.js";
export type { JoinAnswer } from "./room/protocol.js";
export type { RoomInfo, SyncSummary, SyncView, TimelineEvent } from "./room/reads.js";
export type { RoomFacts, SlidingRoomArgs, SlidingRoomView } from "./room/sliding-view.js";
export type { ThreadSummary } from "./room/relation-reads.js";

export class Room extends RoomWrites {
  /** A user's typing; a remote user's (`origin` set) counts only when their server sent it. */
  async setTyping(userId: string, typing: boolean, timeoutMs?: number, origin?: string): Promise<void> {
    if (origin !== undefined && serverNameOf(userId) !== origin) return;
    if (origin !== undefined && this.state.membership(userId) !== "join") return;
    this.requireJoined(userId);
    await this.parts.ephemeral.setTyping(this.loaded().core.roomId, userId, typing, timeoutMs, Date.now());
  }

  /** A read receipt for an event of this room; a remote user's (`origin` set) counts only when their server sent it. */
  async setReceipt(r: Receipt, origin?: string): Promise<void> {
    if (origin !== undefined && (serverNameOf(r.userId) !== origin || this.state.membership(r.userId) !== "join")) return;
    this.requireJoined(r.userId);
    const e = this.parts.store.getEvent(r.eventId);
    if (!e || e.pos === null) {
      if (origin !== undefined) return;
      throw notFound("The receipt names no event of this room");
    }
    await this.parts.ephemeral.putReceipt(this.loaded().core.roomId, r);
  }

  /** Who is typing, and the receipts `userId` may see. */
  async ephemeral(userId: string): Promise<{ typing: string[]; receipts: Receipt[] }> {
    return { typing: this.parts.ephemeral.typingUsers(Date.now()), receipts: this.parts.ephemeral.receiptsFor(userId) };
  }

  /** An event of a paired room, written here by the converter through this room's protocol (idempotent). */
  async importConverted(item: ConversionItem): Promise<ImportResult> {
    const e = this.engine;
    if (!e?.core.last) return { outcome: "rejected", reason: "Room not known to this server" };
    return this.parts.converterImport.run(e.core, e.protocol, item);
  }

  async isAcceptedCommit(eventId: string): Promise<boolean> {
    return this.parts.mls.isAcceptedCommit(eventId);
  }

  /** Devices of `userId` that logged out: their leaves in this room's MLS group must go in the next commit. */
  async devicesRemoved(userId: string, deviceIds: string[]): Promise<number> {
    return this.section.run(async (w) => this.parts.mls.devicesRemoved(w, userId, deviceIds));
  }

  async mlsStatus(): Promise<{ epoch: number; members: number; pending: number; removalEpoch: number } | undefined> {
    return this.parts.mls.status();
  }

  /** A Welcome from a local user: delivered now, held until its commit is accepted, or refused (with why). */
  async holdWelcome(commitEventId: string, sender: string, type: string, messagesJson: string, messageId: string): Promise<WelcomeVerdict> {
    if (!this.engine?.core.last || this.state.membership(sender) !== "join") return { kind: "refused", reason: "the sender is not joined to the room" };
    const known = this.parts.store.getEvent(commitEventId) !== undefined;
    const verdict = this.parts.mls.holdWelcome({ commitEventId, sender, type, messagesJson, messageId }, known, Date.now());
    if (verdict.kind !== "deliver") return verdict;
    const messages = JSON.parse(messagesJson) as WelcomeMessage[];
    const rest = new Set(await this.parts.mimi.welcomes.divert(commitEventId, sender, messages));
    return { kind: "deliver", viaMimi: messages.filter((m) => !rest.has(m)).map((m) => m.target) };
  }

  /** Hub: a Welcome an LM participant server (`origin`, authenticated) relays for users of MIMI followers (room/mimi-welcome.ts). */
  async mimiRelayedWelcome(origin: string, relay: WelcomeRelay): Promise<RelayVerdict> {
    return this.parts.mimi.welcomes.relayed(origin, relay);
  }

  async mimiUpdate(provider: string, req: UpdateRequest): Promise<UpdateOutcome> {
    const hub = this.mimiHub();
    const out = await this.section.run(async (w) => hub.update(w, provider, req));
    this.parts.mimi.notifier.kick(hub.room); // a Welcome is queued after the commit
    return out;
  }

  async mimiSubmitMessage(provider: string, sender: string, appMessage: Uint8Array): Promise<SubmitOutcome> {
    const hub = this.mimiHub();
    return this.section.run(async (w) => hub.submitMessage(w, provider, sender, appMessage));
  }

  /** A local user adds a MIMI provider's user to the participant list (the Worker has checked the provider is a MIMI peer). */
  async mimiAddParticipant(inviter: string, userId: string): Promise<ParticipantOutcome> {
    const hub = this.mimiHub();
    return this.section.run(async (w) => hub.addParticipant(w, inviter, userId));
  }

  /** MIMI groupInfo: the kept GroupInfo for `requester`, a user of the provider asking (room/mimi-group-info.ts). */
  async mimiGroupInfo(requester: string): Promise<GroupInfoAnswer> {
    if (!this.engine?.core.last || !this.engine.mimi) return { status: "noSuchRoom", reason: "this server is not the hub of that room" };
    const epoch = this.parts.mls.currentRoster()?.epoch ?? 0;
    const pending = this.parts.mls.hub.pendingProposals().map((p) => ({ message: p.message, acceptedTs: p.acceptedTs ?? 0 }));
    return answerGroupInfo(this.parts.mimi.store, epoch, this.state.membership(requester) === "join", pending);
  }

  /**
   * Hub of an MLS room: its external sender (base64 ts-mls ExternalSender), whether the group installed
   * it, its pending proposals, and the participant list with roles once they are applied.
   */
  async mlsExternalSender(): Promise<{ externalSender: string; installed: boolean; proposals: string[]; participants: Array<{ userId: string; role: number }> }> {
    this.mimiHub();
    const { mls } = this.parts;
    if (!mls.encryption().mls) throw forbidden("This room is not an MLS room");
    const proposals = mls.hub.pendingProposals().map((p) => encodeBase64(p.message));
    const participants = mls.hub.isInstalled() ? mls.hub.participantList() : [];
    return { externalSender: encodeBase64(await mls.hub.externalSender()), installed: mls.hub.isInstalled(), proposals, participants };
  }

  async mimiStatus(): Promise<{ followers: string[]; queued: Array<{ provider: string; count: number }> }> {
    return { followers: [...this.parts.mimi.followers.list()], queued: this.parts.mimi.store.pendingNotifies() };
  }

  /**
   * Follower: the view of the hub's room `mimiRoom` (this object is the view room `viewRoomId`),
   * created on first use by the bridge user; `userId` (local, optional) is invited and joins it.
   */
  async mimiFollow(viewRoomId: string, mimiHub: string, mimiRoom: string, userId?: string): Promise<void> {
    await this.section.run(async (w) => {
      if (!this.engine) {
        const bridge = bridgeUserOf(this.env.SERVER_NAME);
        const { events, version } = viewRoomEvents(bridge, mimiRoom, mimiHub);
        for (const [k, v] of [["room_id", viewRoomId], ["room_version", version], ["hub", this.env.SERVER_NAME], ["mimi_room", mimiRoom], ["mimi_hub", mimiHub]] as const) this.parts.store.setMeta(k, v);
        const { protocol } = this.start({ roomId: viewRoomId, version: creationVersion(version, true, events), hub: this.env.SERVER_NAME }, (core) => this.lmHub(core));
        for (const e of events) eventIdOrThrow(await protocol.appendLocal(w, bridge, e));
      }
      const { protocol, follower } = this.loaded();
      if (!follower || follower.hub !== mimiHub || follower.mimiRoomId !== mimiRoom) throw forbidden("This room is not the view of that MIMI room");
      if (userId === undefined || this.state.membership(userId) === "join") return;
      if (!(protocol instanceof LmHub)) throw forbidden("Not a view room");
      if (this.state.membership(userId) !== "invite") eventIdOrThrow(await protocol.inviteRemote(w, { sender: bridgeUserOf(this.env.SERVER_NAME), target: userId, content: {} }));
      eventIdOrThrow(await protocol.appendLocal(w, userId, { type: "m.room.member", state_key: userId, content: { membership: "join" } }));
    });
    if (userId !== undefined) await this.parts.notifier.notifyNow(userId);
  }

  /** Follower: a notify from `hub` (already authenticated as that provider); a byte-identical repeat is processed once. */
  async mimiNotified(hub: string, bodyHash: string, items: FanoutItem[]): Promise<"processed" | "duplicate"> {
    const follower = this.engine?.follower;
    if (!follower || follower.hub !== hub) throw forbidden(`${hub} is not the hub of this room`);
    return this.section.run(async (w) => follower.notified(w, bodyHash, items, Date.now()));
  }
}
