// One room per Durable Object, whatever protocol it speaks (Workers route by room ID and cannot know
// the protocol first). This class is the facade: RPC methods of a line or two, `load()` choosing the
// protocol from the stored version and hub, and the Cloudflare ports the engine runs on. The engine
// is in room/: the core (identity, log, state, the writer, commit), the protocols (LmHub,
// LmParticipant) and the commit listeners (fan-out, D1 index, MLS, local notifications).
// Signatures and hashes of events from other servers are checked by the Worker first.

import { DurableObject } from "cloudflare:workers";
import type { JsonObject } from "../shared/canonical-json.js";
import type { InitialEvent } from "../shared/create-room.js";
import { badJson, forbidden, limitExceeded, MatrixError, notFound } from "../shared/errors.js";
import type { Lpdu, Pdu } from "../shared/event.js";
import { eventIdOf } from "../shared/hashes.js";
import { serverNameOf } from "../shared/ids.js";
import type { Receipt } from "../shared/receipts-typing.js";
import { RoomState, type StrippedStateEvent } from "../shared/room-state.js";
import { getRoomVersion } from "../shared/room-versions.js";
import type { SyncSliceArgs } from "./room-history.js";
import type { MessagesArgs, MessagesPage } from "./room-messages.js";
import type { OutboxRow, StoredEvent } from "./room-storage.js";
import { roomParts, type RoomParts } from "./room/cloudflare.js";
import { RoomCore, type RoomIdentity } from "./room/core.js";
import { authChainOf } from "./room-history.js";
import { creationVersion, LmHub } from "./room/lm-hub.js";
import { bufferEarlyPdus, LmParticipant, type JoinState } from "./room/lm-participant.js";
import type { MimiHub, ParticipantOutcome, SubmitOutcome, UpdateOutcome, UpdateRequest } from "./room/mimi-hub.js";
import { bridgeUserOf, type FanoutItem, type MimiFollower } from "./room/mimi-follower.js";
import { mimiRoles } from "./room-mimi.js";
import { viewRoomEvents } from "./room/mimi-view.js";
import { MatrixDag } from "./room/matrix-dag.js";
import { DagGapFiller } from "./room/dag-missing.js";
import { resolveState } from "../shared/state-resolution.js";
import type { RoomVersion } from "../shared/room-version.js";
import type { InviteRequest, JoinAnswer, LocalEvent, MembershipKind, RoomProtocol } from "./room/protocol.js";
import type { RoomInfo, SyncView, TimelineEvent, View } from "./room/reads.js";
import { acceptedOrThrow, eventIdOrThrow, failedPdus, rejected, toMatrixError, type FailedPdus, type WelcomeVerdict } from "./room/verdict.js";
import { roomFacts, slidingRoomView, type RoomFacts, type SlidingRoomArgs, type SlidingRoomView } from "./room/sliding-view.js";
import type { ThreadSummary } from "./room/relation-reads.js";
import { Writer } from "./room/writer.js";
import { hasProvenance } from "../shared/converter/provenance.js";
import { PAIR_EVENT, parsePairing } from "../shared/converter/pairing.js";
import type { ConversionItem } from "./room/converter.js";
import { rememberAccepted, screenProvenance } from "./room/converter-gate.js";
import type { ImportResult } from "./room/converter-import.js";
import { DEDUP_WINDOW_MS } from "./room-converter-storage.js";

export type { FailedPdus } from "./room/verdict.js";
export type { JoinAnswer } from "./room/protocol.js";
export type { RoomInfo, SyncSummary, SyncView, TimelineEvent } from "./room/reads.js";
export type { RoomFacts, SlidingRoomArgs, SlidingRoomView } from "./room/sliding-view.js";
export type { ThreadSummary } from "./room/relation-reads.js";

interface Engine {
  core: RoomCore;
  protocol: RoomProtocol;
  /** Hub rooms: the MIMI endpoints, writing through the LM hub (room/mimi-hub.ts). */
  mimi?: MimiHub;
  /** View rooms of a MIMI room hosted elsewhere (room/mimi-follower.ts). */
  follower?: MimiFollower;
}

export class Room extends DurableObject<Env> {
  private readonly state = new RoomState();
  private readonly section = Writer.section();
  private readonly parts: RoomParts;
  /** Set once the room's identity is known (created here, joined, or loaded). */
  private engine: Engine | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.parts = roomParts(ctx, env, this.state, () => this.engine?.core);
    void ctx.blockConcurrencyWhile(async () => this.load());
  }

  /** Reads the room's identity and picks its protocol: the hub role when its hub is this server. */
  private load(): void {
    const [roomId, versionId, hub] = ["room_id", "room_version", "hub"].map((k) => this.parts.store.getMeta(k));
    const version = versionId === undefined ? undefined : getRoomVersion(versionId);
    if (!roomId || !version || !hub) return;
    const { core } = this.start({ roomId, version, hub }, (c) => (!version.linearized ? this.dag(c) : hub === this.env.SERVER_NAME ? this.lmHub(c) : new LmParticipant(c, this.parts.ports)));
    core.loadFromStore();
    this.parts.mls.load(roomId);
    if (core.last) this.parts.notifier.renotify(roomId, core.last.pos);
  }

  private start<P extends RoomProtocol>(identity: RoomIdentity, make: (core: RoomCore) => P): { core: RoomCore; protocol: P } {
    const core = new RoomCore(identity, this.state, this.parts.store, this.section, this.parts.ports.transaction, this.parts.listeners);
    const protocol = make(core);
    this.engine = { core, protocol };
    if (protocol instanceof LmHub) Object.assign(this.engine, mimiRoles(identity.roomId, protocol, this.parts, this.state, this.env, (p) => this.ctx.waitUntil(p)));
    return { core, protocol };
  }

  /** The LM hub of a room that may also serve MIMI followers, which get notify instead of LM fan-out. */
  private lmHub(core: RoomCore): LmHub {
    const followers = this.parts.mimi.followers;
    return new LmHub(core, this.parts.ports, (server) => followers.has(server));
  }

  /** The full-mesh protocol (room versions 11 and 12) on `core`, with state resolution and gap filling. */
  private dag(core: RoomCore): MatrixDag {
    const version: RoomVersion = core.version;
    const dag = new MatrixDag(core, this.parts.ports, this.parts.dag, (stateSets, getEvent) => resolveState({ version, stateSets, getEvent }));
    dag.gapFiller = new DagGapFiller(core, dag, this.parts.ports);
    return dag;
  }

  /** 403 unless `userId` is joined (also when this server does not know the room). */
  private requireJoined(userId: string): void {
    if (this.state.membership(userId) !== "join") throw forbidden(this.engine ? `${userId} is not in room ${this.engine.core.roomId}` : `${userId} is not in this room`);
  }

  /** Whether this server orders the room now: a hub with a timeline (fan-out push-back applies only then). */
  private ordersHere(): boolean {
    // Full-mesh rooms take no LPDUs, and received events add nothing to our outbox: no push-back.
    return !!this.engine?.core.last && this.engine.protocol.isHub && this.engine.core.version.linearized;
  }

  /** The room, once it has a timeline; 404 before. */
  private loaded(): Engine {
    if (!this.engine?.core.last) throw notFound("Room not known to this server");
    return this.engine;
  }

  async info(): Promise<RoomInfo | undefined> {
    return this.engine && this.parts.reads.info(this.engine.core, this.engine.protocol);
  }

  async getEventJson(eventId: string, view: View = "federation"): Promise<{ json: string; pos: number | null } | undefined> {
    return this.parts.reads.eventJson(eventId, view);
  }

  async currentStateJson(view: View = "federation"): Promise<Array<{ eventId: string; json: string }>> {
    this.loaded();
    return this.parts.reads.currentState(view);
  }

  async stateEvent(type: string, stateKey: string, view: View = "federation"): Promise<{ eventId: string; json: string } | undefined> {
    return this.parts.reads.stateEvent(type, stateKey, view);
  }

  /** Whether `server` may read this room over federation: only a server with a joined user reads history. */
  async serverHasMembers(server: string): Promise<boolean> {
    return server === this.env.SERVER_NAME || this.state.isServerJoined(server);
  }

  async membership(userId: string): Promise<string | undefined> {
    return this.state.membership(userId);
  }

  async joinedMembers(): Promise<string[]> {
    return this.parts.reads.joinedMembers();
  }

  async timeline(opts: { from?: number; dir: "f" | "b"; limit: number; view?: View }): Promise<TimelineEvent[]> {
    return this.parts.reads.timeline(opts);
  }

  /** State before an event plus its auth chain; answers only from the hub's own copy (replicas start at their join). */
  /** Events relating to `parentId` (client view), newest first for dir b. */
  async relations(args: { parentId: string; relType?: string; eventType?: string; from?: number; to?: number; dir: "b" | "f"; limit: number }): Promise<TimelineEvent[]> {
    return this.parts.relations.children(args);
  }

  /** Thread summaries for bundling into these events' `unsigned.m.relations` (roots without replies are absent). */
  async threadSummaries(rootIds: string[], userId: string): Promise<Record<string, ThreadSummary>> {
    return this.parts.relations.threadSummaries(rootIds, userId);
  }

  async threadRoots(args: { before?: number; limit: number; participant?: string }): Promise<{ events: TimelineEvent[]; next?: number }> {
    return this.parts.relations.threadRoots(args);
  }

  async stateAt(eventId: string): Promise<{ pdus: StoredEvent[]; authChain: StoredEvent[] }> {
    const { protocol } = this.loaded();
    if (protocol.stateIdsBefore) {
      const ids = protocol.stateIdsBefore(eventId);
      if (!ids) throw notFound("State at that event is not known here");
      const pdus = this.parts.store.getEvents(ids);
      return { pdus, authChain: authChainOf(this.parts.store, pdus) };
    }
    return this.parts.reads.stateAt(eventId);
  }

  /** Full-mesh rooms: get_missing_events (an empty answer in an LM room). */
  async missingEvents(earliest: string[], latest: string[], limit: number, minDepth: number): Promise<StoredEvent[]> {
    const ids = this.loaded().protocol.missingEvents?.(earliest, latest, limit, minDepth) ?? [];
    return this.parts.store.getEvents(ids);
  }

  /** The auth chain of one event (federation /event_auth). */
  async eventAuth(eventId: string): Promise<StoredEvent[] | undefined> {
    this.loaded();
    const e = this.parts.store.getEvent(eventId);
    return e && authChainOf(this.parts.store, [e]);
  }

  async backfill(from: string[], limit: number): Promise<StoredEvent[]> {
    this.loaded();
    return this.parts.reads.backfill(from, limit);
  }

  async syncView(args: SyncSliceArgs & { userId: string }): Promise<SyncView> {
    this.loaded();
    return this.parts.reads.syncView(args);
  }

  /** One room as sliding sync shows it to `userId` (who must have or have had a membership). */
  async slidingRoom(args: SlidingRoomArgs): Promise<SlidingRoomView> {
    this.loaded();
    if (this.state.membership(args.userId) === undefined) throw forbidden("Not a member of this room");
    return slidingRoomView(this.parts.store, this.state, (rows) => this.parts.reads.forClients(rows), args);
  }

  /** What sliding sync's list filters ask of a room; undefined before the room is known here. */
  async roomFacts(): Promise<RoomFacts | undefined> {
    return this.engine?.core.last ? roomFacts(this.state) : undefined;
  }

  async messages(args: MessagesArgs): Promise<MessagesPage> {
    const { core, protocol } = this.loaded();
    this.requireJoined(args.userId);
    return this.parts.reads.messages(core, protocol, args);
  }

  async canonicalEvent(eventId: string): Promise<string | undefined> {
    return this.parts.reads.canonicalEvent(eventId);
  }

  async lpduOf(eventId: string): Promise<Lpdu | undefined> {
    return this.parts.reads.lpduOf(eventId);
  }

  /** Creates the room with its initial events, all sent by `creator` (a local user); this server is its hub. */
  async create(roomId: string, versionId: string, creator: string, events: InitialEvent[], createTs?: number): Promise<string[]> {
    return this.section.run(async (w) => {
      if (this.engine) throw new MatrixError(400, "M_ROOM_IN_USE", "Room already exists");
      const version = creationVersion(versionId, serverNameOf(creator) === this.env.SERVER_NAME, events);
      for (const [k, v] of [["room_id", roomId], ["room_version", versionId], ["hub", this.env.SERVER_NAME]] as const) this.parts.store.setMeta(k, v);
      const { protocol } = this.start({ roomId, version, hub: this.env.SERVER_NAME }, (core) => (version.linearized ? this.lmHub(core) : this.dag(core)));
      const ids: string[] = [];
      for (const e of events) {
        const event = e.state_key === undefined ? { type: e.type, content: e.content } : e;
        // A v12 room ID is the create event's hash: the Worker built it at `createTs`, and so do we.
        ids.push(eventIdOrThrow(protocol instanceof MatrixDag ? await protocol.appendLocal(w, creator, event, e.type === "m.room.create" ? createTs : undefined) : await protocol.appendLocal(w, creator, event)));
      }
      if (version.roomIdFromCreateEvent && `!${ids[0]?.slice(1)}` !== roomId) throw new MatrixError(500, "M_UNKNOWN", "The create event does not derive the room ID");
      await this.parts.notifier.notifyNow(creator);
      return ids;
    });
  }

  /** First contact with a room hosted elsewhere: the verified send_join answer (IDs as the Worker computed them). */
  async initFromJoin(args: JoinState & { roomId: string; version: string; hub: string }): Promise<{ eventId: string }> {
    return this.section.run(async (w) => {
      const version = getRoomVersion(args.version);
      if (!version) throw new MatrixError(400, "M_UNSUPPORTED_ROOM_VERSION", `Unsupported room version ${args.version}`);
      const known = this.engine?.core.last && this.engine.protocol;
      if (!version.linearized) {
        const dag = known instanceof MatrixDag ? known : this.start({ roomId: args.roomId, version, hub: args.hub }, (core) => this.dag(core)).protocol;
        const v = known ? await dag.receiver.receive(w, args.hub, args.event) : await dag.firstJoin(w, args);
        if (v.outcome === "rejected") throw forbidden(v.reason);
        return { eventId: await eventIdOf(args.event, version) };
      }
      if (known) {
        // Already participating: the join is just another event from the hub.
        const v = known instanceof LmParticipant ? await known.acceptFromHub(w, args.event) : rejected("hub", "This server is the room's hub");
        if (v.outcome === "rejected") throw forbidden(v.reason);
        return { eventId: await eventIdOf(args.event, version) };
      }
      const { protocol: participant } = this.start({ roomId: args.roomId, version, hub: args.hub }, (core) => new LmParticipant(core, this.parts.ports));
      return { eventId: eventIdOrThrow(await participant.firstJoin(w, args)) };
    });
  }

  /** Marks a join in progress through `hub`, so its fan-out racing our send_join answer is kept. */
  async beginJoin(hub: string): Promise<void> {
    if (!this.engine?.core.last) this.parts.store.setMeta("joining_via", hub);
  }

  /** A local user's event; idempotent per (user, device, txnId). `mustBeJoined`: the client API's 403, checked here to save a call. */
  async send(sender: string, event: LocalEvent, txn?: { deviceId: string; txnId: string }, mustBeJoined = false): Promise<{ eventId: string }> {
    if (serverNameOf(sender) !== this.env.SERVER_NAME) throw forbidden("Not a local user");
    if (mustBeJoined) this.requireJoined(sender);
    if (hasProvenance(event.content)) throw forbidden("Only a room's converter sends events carrying io.switchboard.provenance");
    const pairing = event.type === PAIR_EVENT && event.state_key !== undefined ? parsePairing(event.state_key, event.content) : undefined;
    if (pairing && "error" in pairing) throw badJson(`Invalid ${PAIR_EVENT}: ${pairing.error}`);
    const known = txn && this.parts.store.getClientTxn(sender, txn.deviceId, txn.txnId);
    if (known) return { eventId: known };
    const { protocol, follower } = this.loaded();
    const forwarded = follower && (await this.section.run(async (w) => follower.send(w, sender, event)));
    const eventId = eventIdOrThrow(forwarded ?? (await protocol.send(sender, event, txn)));
    if (txn) this.parts.store.putClientTxn(sender, txn.deviceId, txn.txnId, eventId);
    await this.parts.notifier.notifyNow(sender);
    return { eventId };
  }

  /** A transaction's items for this room (signatures and hashes verified by the Worker); returns its failed_pdus. */
  async receive(origin: string, items: Array<{ id: string; lpdu?: Lpdu; pdu?: Pdu }>): Promise<FailedPdus> {
    return this.section.run(async (w) => {
      const e = this.engine;
      const wait = this.parts.outbox.refusalMs(origin, items, this.ordersHere());
      if (wait !== undefined) throw limitExceeded(wait);
      if (!e) return bufferEarlyPdus(this.parts.store, origin, items), {};
      if (!(e.core.version.linearized && e.protocol.isHub)) return failedPdus(await e.core.batch(w, () => e.protocol.receive(w, origin, items)));
      const screened = await screenProvenance(e.core, origin, items, this.parts.converterStore);
      const results = await e.core.batch(w, () => e.protocol.receive(w, origin, screened.kept));
      rememberAccepted(this.parts.converterStore, screened, results, Date.now());
      return failedPdus([...screened.answered, ...results]);
    });
  }

  /** make_join / make_leave / make_knock: a template, if the change would pass the auth rules now. */
  async makeMembership(userId: string, membership: MembershipKind): Promise<{ template: Record<string, unknown>; roomVersion: string }> {
    const answer = this.loaded().protocol.membershipTemplate(userId, membership);
    if ("outcome" in answer) throw toMatrixError(answer);
    return answer;
  }

  /** send_join / send_leave / send_knock: a join is answered with the state before it and its auth chain. */
  async sendMembership(origin: string, lpdu: Lpdu, membership: MembershipKind): Promise<JoinAnswer> {
    return this.section.run(async (w) => {
      const answer = await this.loaded().protocol.membershipAnswer(w, origin, lpdu, membership);
      if ("outcome" in answer) throw toMatrixError(answer);
      return answer;
    });
  }

  /** send_join / send_leave / send_knock v2 in a full-mesh room: the joining server's signed PDU (checked by the Worker). */
  async sendMembershipPdu(origin: string, pdu: Pdu, membership: MembershipKind): Promise<JoinAnswer> {
    return this.section.run(async (w) => {
      const { core, protocol } = this.loaded();
      if (!protocol.membershipPdu) throw new MatrixError(400, "M_BAD_JSON", "This room takes LPDUs in send_join, send_leave and send_knock");
      const answer = await core.batch(w, () => protocol.membershipPdu?.(w, origin, pdu, membership) ?? Promise.resolve(rejected("format", "unreachable")));
      if ("outcome" in answer) throw toMatrixError(answer);
      return answer;
    });
  }

  /** Invite of a user on another server, as hub: completed, checked, signed by the invitee's server, committed. */
  async inviteRemote(request: InviteRequest): Promise<{ eventId: string; json: string }> {
    return this.section.run(async (w) => {
      const { eventId, pdu } = acceptedOrThrow(await this.loaded().protocol.inviteRemote(w, request));
      return { eventId, json: JSON.stringify(pdu) };
    });
  }

  /** A local user invites someone. */
  async invite(sender: string, target: string, content: Record<string, unknown>): Promise<{ eventId: string }> {
    return { eventId: eventIdOrThrow(await this.loaded().protocol.invite(sender, target, content as JsonObject)) };
  }

  /** The hub refused an LPDU we sent (its failed_pdus); the waiting client gets the reason. */
  async lpduRejected(lpduHash: string, error: string, details: Record<string, unknown> = {}): Promise<void> {
    if (this.engine) this.engine.protocol.lpduRejected(lpduHash, error, details);
    else this.parts.store.deletePendingClientTxns(lpduHash);
  }

  async storeInvite(userId: string, pdu: Pdu, stripped: StrippedStateEvent[], origin: string, roomVersion: string): Promise<void> {
    await this.parts.storeInvite(userId, pdu, stripped, origin, this.engine ? undefined : roomVersion);
  }

  /** A local user's pending invite: the server to join through and the stripped state, as JSON. */
  async pendingInvite(userId: string): Promise<{ hub: string; origin: string; eventJson: string; strippedJson: string } | undefined> {
    return this.parts.reads.pendingInvite(userId);
  }

  async forgetInvite(userId: string): Promise<void> {
    this.parts.store.deleteInvite(userId);
  }

  /** A destination queue's pull; passing `after` also reports everything up to it as delivered. */
  async fanOutBatch(destination: string, after: number | null, limit: number): Promise<{ rows: OutboxRow[]; tip: number }> {
    return this.parts.outbox.batch(destination, after, limit);
  }

  async fanOutDone(destination: string, upTo: number): Promise<void> {
    this.parts.outbox.done(destination, upTo);
  }

  /** Asked before `origin`'s transaction of `count` PDUs is verified: how long it would be refused, or null (room is reserved for it). */
  async fanOutWait(origin: string, count: number): Promise<number | null> {
    return this.parts.outbox.admit(origin, count, this.ordersHere());
  }

  async outboxStatus(): Promise<Array<{ destination: string; count: number }>> {
    return this.parts.outbox.status();
  }

  override async alarm(): Promise<void> {
    const roomId = this.engine?.core.roomId;
    if (roomId === undefined) return;
    await this.parts.indexer.flush(roomId);
    await this.parts.outbox.reannounce(roomId);
    this.parts.mimi.notifier.kick(roomId);
    await this.parts.converter.flush();
    this.parts.converterStore.pruneKeysBefore(Date.now() - DEDUP_WINDOW_MS);
  }

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
    return this.parts.mls.holdWelcome({ commitEventId, sender, type, messagesJson, messageId }, known, Date.now());
  }

  /** MIMI hub rooms only (404 otherwise): the endpoints of room/mimi-hub.ts. */
  private mimiHub(): MimiHub {
    const mimi = this.loaded().mimi;
    if (!mimi) throw notFound("This server is not the room's hub");
    return mimi;
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
