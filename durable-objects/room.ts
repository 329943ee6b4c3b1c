// One room: its linear event order, current state and auth checks. As hub (the room's creator is
// ours) it completes and signs events and fans them out; as participant it keeps a verified replica
// and routes its users' events to the hub as LPDUs. Signatures and hashes of events from other
// servers are checked by the Worker before they reach this object (it holds the key cache); this
// object checks format, order and the auth rules.
//
// Longer than the usual file: the hub and participant paths, the outbox and the local-stream
// notifications all drive one state machine (the in-memory state, `last`, the exclusive section)
// and splitting them would scatter it. What only reads or only stores lives beside it:
// room-storage.ts (its SQL), room-fanout.ts (what each destination is owed), room-history.ts
// (read-side queries), room-mls.ts (MLS).

import { DurableObject } from "cloudflare:workers";
import type { JsonObject } from "../shared/canonical-json.js";
import { canonicalJson } from "../shared/canonical-json.js";
import type { InitialEvent } from "../shared/create-room.js";
import { forbidden, limitExceeded, MatrixError, notFound } from "../shared/errors.js";
import type { Lpdu, Pdu } from "../shared/event.js";
import { LM_PREFIX } from "../shared/federation-paths.js";
import { eventIdOf } from "../shared/hashes.js";
import { serverNameOf } from "../shared/ids.js";
import { buildLocalPdu } from "../shared/local-event.js";
import { buildLpdu, completeLpdu, completeLpduWithId, lpduFromPdu, type LpduFields } from "../shared/lpdu.js";
import { checkEncryptionEvent, ENCRYPTION_EVENT, encryptionOfCreate, MLS_COMMIT_EVENT } from "../shared/room-encryption.js";
import { membershipOf, RoomState, type StrippedStateEvent } from "../shared/room-state.js";
import type { RoomVersion } from "../shared/room-version.js";
import { redactionMayBeApplied, redactionTargetOf } from "../shared/redaction-auth.js";
import { getRoomVersion } from "../shared/room-versions.js";
import type { SigningKey } from "../shared/signing-key.js";
import { parseSigningKeySecret } from "../shared/signing-key.js";
import { indexEvents } from "./event-index.js";
import { mlsErrorFields, RoomMls, type MlsEffect } from "./room-mls.js";
import { authChainOf, backfillFrom, syncSlice } from "./room-history.js";
import { backfillOnce, type BackfillOutcome } from "./room-backfill.js";
import { BackfillStore } from "./room-backfill-storage.js";
import { pageMessages, type MessagesArgs, type MessagesPage } from "./room-messages.js";
import { FanOutLog } from "./room-fanout.js";
import { backlogLimit, FanOutBackpressure } from "./room-backpressure.js";
import { RoomStorage, type OutboxRow, type StoredEvent } from "./room-storage.js";

/** Why a PDU or LPDU was refused, keyed by the ID of what was received (draft "failed_pdus"). */
export type FailedPdus = Record<string, { error: string }>;

export interface RoomInfo {
  roomId: string;
  version: string;
  hub: string;
  isHub: boolean;
  lastPos: number;
  stateCount: number;
}

export interface TimelineEvent {
  pos: number;
  eventId: string;
  json: string;
}

export interface JoinAnswer {
  /** The send_join response body, assembled from stored JSON (it can be large). */
  body: string;
  eventId: string;
}

export interface SyncSummary {
  "m.heroes": string[];
  "m.joined_member_count": number;
  "m.invited_member_count": number;
}

export interface SyncView {
  events: Array<{ eventId: string; json: string; pos: number }>;
  limited: boolean;
  prevBatch: string;
  state: Array<{ eventId: string; json: string }>;
  summary: SyncSummary;
}

interface Notice {
  pos: number;
  membership?: "join" | "invite" | "leave" | "ban" | "knock";
  inviteStateJson?: string;
}

function strippedOf(e: Pdu): StrippedStateEvent {
  return { type: e.type, state_key: e.state_key ?? "", sender: e.sender, content: e.content };
}

const ECHO_TIMEOUT_MS = 30_000;

/** Events per pull by a destination queue, and per write to the D1 event index. */
const FLUSH_BATCH = 2_000;
const FLUSH_RETRY_MS = 2_000;
/** How long a destination queue may go unheard, with events waiting for it, before the room announces them again. */
const REANNOUNCE_MS = 5_000;
/** A queue not heard from for this long is told of each new event again, even if it was told before. */
const ANNOUNCE_AGAIN_MS = 1_000;
/** Outbox rows with this destination feed the D1 event index instead of a server. */
const INDEX_DESTINATION = "";
const INDEX_INTERVAL_MS = 1_000;

/** One destination queue as a room sees it; kept in memory only. */
interface QueueView {
  /** When the queue last pulled from or reported to this room (0: not since this instance started). */
  heard: number;
  /** When the alarm last announced waiting events to it again. */
  reannounced: number;
  /**
   * False while the queue is known to come back for more: it was told of events it has not pulled
   * yet, or its last pull stopped short of what was there. New events then need no announcement of
   * their own, which under load saves an RPC per destination per event.
   */
  mayIdle: boolean;
}

type Waiter = { promise: Promise<string>; resolve: (eventId: string) => void; reject: (e: unknown) => void; timer: ReturnType<typeof setTimeout> };

export class Room extends DurableObject<Env> {
  private readonly store: RoomStorage;
  /** A participant's history from before its replica began, fetched from the hub on demand. */
  private readonly history: BackfillStore;
  private backfilling: Promise<BackfillOutcome> | undefined;
  /** MLS rooms: roster, accepted commits, held Welcomes, and the encryption checks (room-mls.ts). */
  private readonly mls: RoomMls;
  private readonly state = new RoomState();
  private roomId: string | undefined;
  private version: RoomVersion | undefined;
  private hub: string | undefined;
  private last: { eventId: string; pos: number; pdu: Pdu } | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private signingKey: Promise<SigningKey> | undefined;
  private readonly echoWaiters = new Map<string, Waiter>();
  private flushing: Promise<void> | undefined;
  private flushAgain = false;
  private indexAlarmPending = false;
  private readonly pendingNotices = new Map<string, Notice>();
  private notifying: Promise<void> | undefined;

  /**
   * While a transaction's events are being accepted (receive), fan-out and notifications wait for
   * the end of the batch, so one flush and one notify carry the whole batch rather than the first
   * event going alone and every later one in small steps.
   */
  private batching = 0;
  private deferredFlush = false;
  private deferredNotify = false;
  /** Destinations to tell about newly committed events (destination -> newest position). */
  private readonly announceDue = new Map<string, number>();
  /** What each destination (and the D1 index) is still owed: the durable record of fan-out. */
  private readonly fanOut: FanOutLog;
  /** What this room knows of each destination's queue (see QueueView). */
  private readonly queues = new Map<string, QueueView>();
  /** Refuses participants' events while fan-out is too far behind (room-backpressure.ts). */
  private readonly backpressure: FanOutBackpressure;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = new RoomStorage(ctx.storage.sql);
    this.history = new BackfillStore(ctx.storage.sql);
    this.fanOut = new FanOutLog(ctx.storage);
    this.backpressure = new FanOutBackpressure(backlogLimit(env.FANOUT_BACKLOG_LIMIT));
    this.mls = new RoomMls(ctx.storage.sql, {
      state: this.state,
      eventById: (id) => this.eventById(id),
      // RPC answers arrive as plain data of the documented shape (Outbound.mlsDevices).
      lookupDevices: (query) => this.env.OUTBOUND.mlsDevices(query),
    });
    void ctx.blockConcurrencyWhile(async () => {
      this.load();
      this.renotifyAfterLoad();
    });
  }

  private load(): void {
    this.roomId = this.store.getMeta("room_id");
    const v = this.store.getMeta("room_version");
    this.version = v === undefined ? undefined : getRoomVersion(v);
    this.hub = this.store.getMeta("hub");
    const current = this.store.currentState();
    const redacted = this.store.redactionsOf(current.map((e) => e.eventId));
    for (const e of current) {
      const pdu = JSON.parse(e.json) as Pdu;
      this.state.apply(e.eventId, redacted.has(e.eventId) && this.version ? (this.version.redact(pdu) as Pdu) : pdu);
    }
    const last = this.store.lastEvent();
    if (last) {
      const stored = this.store.getEvent(last.eventId);
      if (stored) this.last = { eventId: last.eventId, pos: last.pos, pdu: JSON.parse(stored.json) as Pdu };
    }
    if (this.roomId) this.mls.load(this.roomId);
  }

  private get serverName(): string {
    return this.env.SERVER_NAME;
  }

  private key(): Promise<SigningKey> {
    this.signingKey ??= parseSigningKeySecret(this.env.SIGNING_KEY);
    return this.signingKey;
  }

  /** Runs `fn` after every earlier call has finished: the room's single writer. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private requireRoom(): { roomId: string; version: RoomVersion; hub: string } {
    if (!this.roomId || !this.version || !this.hub || !this.last) throw notFound("Room not known to this server");
    return { roomId: this.roomId, version: this.version, hub: this.hub };
  }

  private get isHub(): boolean {
    return this.hub === this.serverName;
  }

  // ------------------------------------------------------------------------------------------
  // Reads
  // ------------------------------------------------------------------------------------------

  async info(): Promise<RoomInfo | undefined> {
    if (!this.roomId || !this.version || !this.hub) return undefined;
    return {
      roomId: this.roomId,
      version: this.version.id,
      hub: this.hub,
      isHub: this.isHub,
      lastPos: this.last?.pos ?? 0,
      stateCount: this.state.size,
    };
  }

  /** An event's stored JSON (PDU form, no event_id), or undefined. */
  async getEventJson(eventId: string, view: "federation" | "client" = "federation"): Promise<{ json: string; pos: number | null } | undefined> {
    const e = this.store.getEvent(eventId);
    if (!e) return undefined;
    const shown = view === "client" ? (this.forClients([e])[0] as StoredEvent) : e;
    return { json: shown.json, pos: e.pos };
  }

  /** Current state event JSON, create event first, then in timeline order. */
  async currentStateJson(view: "federation" | "client" = "federation"): Promise<Array<{ eventId: string; json: string }>> {
    this.requireRoom();
    const rows = this.store.currentState().map((e) => ({ eventId: e.eventId, json: e.json }));
    return view === "client" ? this.forClients(rows) : rows;
  }

  async stateEvent(type: string, stateKey: string, view: "federation" | "client" = "federation"): Promise<{ eventId: string; json: string } | undefined> {
    const entry = this.state.entry(type, stateKey);
    if (!entry) return undefined;
    const row = { eventId: entry.eventId, json: JSON.stringify(entry.pdu) };
    return view === "client" ? (this.forClients([row])[0] as typeof row) : row;
  }

  /** Whether `server` may read this room over federation (event, state, backfill). */
  async serverHasMembers(server: string): Promise<boolean> {
    // Only a server with a joined user reads history: an invite or a knock shows stripped state,
    // not the timeline, and a server whose users all left no longer follows the room.
    return server === this.serverName || this.state.isServerJoined(server);
  }

  async membership(userId: string): Promise<string | undefined> {
    return this.state.membership(userId);
  }

  /** 403 unless `userId` is joined (also when this server does not know the room). */
  private requireJoined(userId: string): void {
    if (this.state.membership(userId) !== "join") throw forbidden(this.roomId ? `${userId} is not in room ${this.roomId}` : `${userId} is not in this room`);
  }

  async joinedMembers(): Promise<string[]> {
    return this.state.members("join").map((e) => e.pdu.state_key as string);
  }

  /** Timeline window for clients: forwards from a position or backwards before one. */
  async timeline(opts: { from?: number; dir: "f" | "b"; limit: number; view?: "federation" | "client" }): Promise<TimelineEvent[]> {
    const limit = Math.max(1, Math.min(opts.limit, 1000));
    const rows =
      opts.dir === "f"
        ? this.store.eventsAfter(opts.from ?? 0, limit)
        : this.store.eventsBefore(opts.from ?? Number.MAX_SAFE_INTEGER, limit);
    const out = rows.map((r) => ({ pos: r.pos as number, eventId: r.eventId, json: r.json }));
    return opts.view === "client" ? this.forClients(out) : out;
  }

  /** /messages: a page of what `args.userId` may see; a participant fetches older history from the hub as it goes. */
  async messages(args: MessagesArgs): Promise<MessagesPage> {
    this.requireRoom();
    this.requireJoined(args.userId);
    const page = await pageMessages({ store: this.store, history: this.history, ...(this.isHub ? {} : { backfill: () => this.backfillOnce() }) }, args);
    return { ...page, events: this.forClients(page.events) };
  }

  /** One page of older history from the hub; concurrent callers share one fetch. */
  private backfillOnce(): Promise<BackfillOutcome> {
    const { roomId, version, hub } = this.requireRoom();
    this.backfilling ??= backfillOnce({
      roomId,
      version,
      store: this.store,
      history: this.history,
      fetch: async (upTo, limit) => {
        const res = await this.env.OUTBOUND.backfillVerified(hub, roomId, upTo, limit, version.id);
        return "pdus" in res ? (res.pdus as unknown as Pdu[]) : undefined;
      },
      transaction: (fn) => this.ctx.storage.transactionSync(fn),
      redactionApplies: (redactionId, redaction, targetId, target) => this.mayRedact(redactionId, redaction, targetId, target),
    }).finally(() => (this.backfilling = undefined));
    return this.backfilling;
  }

  /**
   * State before an event plus the auth chain of that state (federation /state and /state_ids).
   * Answers only the hub's own copy: participants' replicas start at their join.
   */
  async stateAt(eventId: string): Promise<{ pdus: StoredEvent[]; authChain: StoredEvent[] }> {
    this.requireRoom();
    const target = this.store.getEvent(eventId);
    if (!target || target.pos === null) throw notFound("Event not found in this room");
    const pdus = this.store.getEvents(this.store.stateIdsBefore(target.pos));
    return { pdus, authChain: this.authChain(pdus) };
  }

  /** Events up to and including each of `from`, oldest first, at most `limit` (federation /backfill). */
  async backfill(from: string[], limit: number): Promise<StoredEvent[]> {
    this.requireRoom();
    const events = backfillFrom(this.store, from, limit);
    if (!events) throw notFound("None of the requested events is in this room");
    return events;
  }

  private authChain(events: StoredEvent[]): StoredEvent[] {
    return authChainOf(this.store, events);
  }

  // ------------------------------------------------------------------------------------------
  // Creating a room (hub)
  // ------------------------------------------------------------------------------------------

  /** Creates the room with its initial events, all sent by `creator` (a local user). */
  async create(roomId: string, versionId: string, creator: string, events: InitialEvent[]): Promise<string[]> {
    return this.exclusive(async () => {
      if (this.roomId) throw new MatrixError(400, "M_ROOM_IN_USE", "Room already exists");
      const version = getRoomVersion(versionId);
      if (!version) throw new MatrixError(400, "M_UNSUPPORTED_ROOM_VERSION", `Unsupported room version ${versionId}`);
      if (serverNameOf(creator) !== this.serverName) throw forbidden("Only local users can create rooms here");
      // Before anything is stored: a room whose encryption the hub cannot enforce, or whose initial
      // state would already weaken it, is never created (rather than left half made).
      const encryption = encryptionOfCreate(events.find((e) => e.type === "m.room.create")?.content);
      if (!encryption.ok) throw new MatrixError(400, "M_BAD_JSON", encryption.reason);
      let current: JsonObject | undefined;
      for (const e of events) {
        if (e.type !== ENCRYPTION_EVENT || e.state_key !== "") continue;
        const verdict = checkEncryptionEvent(encryption.encryption, current, e.content);
        if (!verdict.ok) throw forbidden(`Encryption cannot be weakened: ${verdict.reason}`);
        current = e.content;
      }
      this.roomId = roomId;
      this.version = version;
      this.hub = this.serverName;
      this.store.setMeta("room_id", roomId);
      this.store.setMeta("room_version", versionId);
      this.store.setMeta("hub", this.serverName);
      const ids: string[] = [];
      for (const e of events) {
        const fields: { type: string; state_key?: string; content: JsonObject } = { type: e.type, content: e.content };
        if (e.state_key !== undefined) fields.state_key = e.state_key;
        ids.push((await this.appendLocal(creator, fields)).eventId);
      }
      await this.notifyNow(creator);
      return ids;
    });
  }

  // ------------------------------------------------------------------------------------------
  // Local users' events
  // ------------------------------------------------------------------------------------------

  /**
   * A local user's event. As hub it is appended at once; as participant it goes to the hub as an
   * LPDU and this call waits for the hub's echo. Idempotent per (user, device, txnId).
   */
  async send(
    sender: string,
    event: { type: string; state_key?: string; content: JsonObject; redacts?: string },
    txn?: { deviceId: string; txnId: string },
    /** Refuse (403) unless the sender is joined: the client API's rule, checked here to save it a call. */
    mustBeJoined = false,
  ): Promise<{ eventId: string }> {
    if (serverNameOf(sender) !== this.serverName) throw forbidden("Not a local user");
    if (mustBeJoined) this.requireJoined(sender);
    if (txn) {
      const known = this.store.getClientTxn(sender, txn.deviceId, txn.txnId);
      if (known) return { eventId: known };
    }
    const { hub } = this.requireRoom();
    let eventId: string;
    if (hub === this.serverName) {
      eventId = (await this.exclusive(() => this.appendLocal(sender, event))).eventId;
    } else {
      // A retry whose first attempt already built an LPDU (its client gave up, or this object
      // restarted while waiting) waits for that LPDU rather than sending the hub a second event.
      const pending = txn && this.store.getPendingClientTxn(sender, txn.deviceId, txn.txnId);
      eventId = pending ? await this.resumeViaHub(pending) : await this.sendViaHub(sender, event, txn);
    }
    if (txn) this.store.putClientTxn(sender, txn.deviceId, txn.txnId, eventId);
    await this.notifyNow(sender);
    return { eventId };
  }

  /** The fields a local user's event starts from, whichever server completes it. */
  private eventFields(sender: string, event: { type: string; state_key?: string; content: JsonObject }): LpduFields {
    return {
      room_id: this.roomId as string,
      type: event.type,
      sender,
      origin_server_ts: Date.now(),
      content: event.content,
      ...(event.state_key !== undefined ? { state_key: event.state_key } : {}),
    };
  }

  /** Hub path for a local user's event. Caller holds the exclusive section. */
  private async appendLocal(
    sender: string,
    event: { type: string; state_key?: string; content: JsonObject; redacts?: string },
  ): Promise<{ eventId: string; pdu: Pdu }> {
    const version = this.version as RoomVersion;
    const fields = { ...this.eventFields(sender, event), ...(event.redacts !== undefined ? { redacts: event.redacts } : {}) };
    const links = this.linksFor(fields);
    const pdu = await buildLocalPdu(fields, links, this.serverName, await this.key(), version);
    return this.acceptAsHub(pdu, undefined);
  }

  private linksFor(e: Pick<Pdu, "type" | "sender" | "state_key" | "content">): { authEvents: string[]; prevEvents: string[]; depth?: number } {
    const version: RoomVersion = this.version as RoomVersion;
    // Only a room's first event goes unlinked: any later create event names the last event, so the
    // auth rules ("a create event has no prev_events") refuse it.
    if (e.type === "m.room.create" && !this.last) return { authEvents: [], prevEvents: [], depth: 1 };
    const authEvents: string[] = [];
    for (const [type, key] of version.authEventKeys(e)) {
      const id = this.state.eventIdOf(type, key);
      if (id !== undefined && !authEvents.includes(id)) authEvents.push(id);
    }
    const prevEvents = this.last ? [this.last.eventId] : [];
    const depth = (this.last?.pdu.depth ?? 0) + 1;
    return { authEvents, prevEvents, depth };
  }

  /** Auth-checks a completed PDU against current state and commits it. Caller holds the exclusive section. */
  private async acceptAsHub(pdu: Pdu, lpduHash: string | undefined, knownId?: string): Promise<{ eventId: string; pdu: Pdu }> {
    const version: RoomVersion = this.version as RoomVersion;
    version.checkFormat(pdu);
    this.checkAuthOrThrow(pdu);
    const mls = await this.mls.vetAsHub(pdu, this.roomId as string);
    const eventId = knownId ?? (await eventIdOf(pdu, version));
    this.commit(eventId, pdu, lpduHash, true, mls);
    return { eventId, pdu };
  }

  private checkAuthOrThrow(pdu: Pdu): void {
    const version: RoomVersion = this.version as RoomVersion;
    const authEvents: Pdu[] = [];
    for (const id of pdu.auth_events) {
      const e = this.eventById(id);
      if (e) authEvents.push(e);
    }
    const result = version.checkAuth({
      event: pdu,
      state: this.state,
      authEvents,
      createEvent: this.state.get("m.room.create", ""),
      prevEvent: this.last?.pdu,
    });
    if (!result.allowed) throw forbidden(`Auth rule ${result.rule}: ${result.reason}`);
  }

  private eventById(eventId: string): Pdu | undefined {
    if (this.last?.eventId === eventId) return this.last.pdu;
    for (const e of this.state.all()) if (e.eventId === eventId) return e.pdu;
    const stored = this.store.getEvent(eventId);
    return stored ? (JSON.parse(stored.json) as Pdu) : undefined;
  }

  /**
   * Persists an accepted event at the next position (with what it changes in the MLS records) and, as
   * hub, queues its fan-out.
   */
  private commit(eventId: string, pdu: Pdu, lpduHash: string | undefined, fanOut: boolean, mls?: MlsEffect): number {
    const pos = (this.last?.pos ?? 0) + 1;
    // Canonical JSON, so fan-out can assemble transactions from the stored text as is.
    const json = canonicalJson(pdu);
    const destinations = fanOut ? this.destinationsFor(pdu) : [];
    const membershipBefore = pdu.type === "m.room.member" && typeof pdu.state_key === "string" ? this.state.membership(pdu.state_key) : undefined;
    const redacted = this.redactionTarget(eventId, pdu);
    this.ctx.storage.transactionSync(() => {
      this.fanOut.save();
      if (redacted) this.store.putRedaction(redacted.targetId, eventId, json);
      const insert: Parameters<RoomStorage["insertEvent"]>[0] = { eventId, pos, type: pdu.type, sender: pdu.sender, json };
      if (pdu.state_key !== undefined) insert.stateKey = pdu.state_key;
      if (lpduHash !== undefined) insert.lpduHash = lpduHash;
      this.store.insertEvent(insert);
      if (typeof pdu.state_key === "string") this.store.setCurrentState(pdu.type, pdu.state_key, eventId);
      this.fanOut.append(pos, [...destinations, INDEX_DESTINATION]);
      this.mls.record(eventId, pos, pdu, membershipBefore, mls);
    });
    this.fanOut.committed();
    for (const d of destinations) if (this.mayBeIdle(d)) this.announceDue.set(d, pos);
    this.state.apply(eventId, pdu);
    // A redacted state event counts in its redacted form from now on, as in Matrix.
    if (redacted?.stateEntry) this.state.apply(redacted.targetId, (this.version as RoomVersion).redact(redacted.target) as Pdu);
    if (pdu.type === MLS_COMMIT_EVENT) this.releaseWelcomes();
    this.last = { eventId, pos, pdu };
    if (destinations.length > 0) this.kickFlush();
    this.scheduleIndexing();
    this.queueNotifications(pos, pdu);
    return pos;
  }

  /**
   * The event an accepted redaction strips, when the rules let it (shared/redaction-auth.ts): the
   * redaction's sender holds the redact level or shares a server with the target's sender.
   */
  private redactionTarget(eventId: string, pdu: Pdu): { targetId: string; target: Pdu; stateEntry: boolean } | undefined {
    if (pdu.type !== "m.room.redaction") return undefined;
    const targetId = redactionTargetOf(pdu);
    if (targetId === undefined) return undefined;
    const stored = this.store.getEvent(targetId);
    if (!stored) return undefined;
    const target = JSON.parse(stored.json) as Pdu;
    if (!this.mayRedact(eventId, pdu, targetId, target)) return undefined;
    const stateEntry = typeof target.state_key === "string" && this.state.eventIdOf(target.type, target.state_key) === targetId;
    return { targetId, target, stateEntry };
  }

  private mayRedact(redactionId: string, redaction: Pdu, targetId: string, target: Pdu): boolean {
    const version = this.version as RoomVersion;
    const createEvent = this.state.get("m.room.create", "");
    return redactionMayBeApplied(redaction, target, { redactionId, targetId, state: this.state, version: version.authRules, ...(createEvent ? { createEvent } : {}) });
  }

  /** Events as clients see them: redacted ones stripped, with `unsigned.redacted_because`. */
  private forClients<T extends { eventId: string; json: string }>(rows: T[]): T[] {
    const redactions = this.store.redactionsOf(rows.map((r) => r.eventId));
    if (redactions.size === 0) return rows;
    const version = this.version as RoomVersion;
    return rows.map((r) => {
      const red = redactions.get(r.eventId);
      if (!red) return r;
      const stripped = version.redact(JSON.parse(r.json) as Pdu) as Record<string, unknown>;
      const because = JSON.parse(red.json) as Record<string, unknown>;
      return { ...r, json: JSON.stringify({ ...stripped, unsigned: { redacted_because: { ...because, event_id: red.redactionId } } }) };
    });
  }

  /**
   * Every server with a joined user once the event applies, the sender's server, and the target
   * of a kick or ban (draft "Sending Events"); never ourselves.
   */
  private destinationsFor(pdu: Pdu): string[] {
    const out = new Set(this.state.joinedServers());
    if (pdu.type === "m.room.member" && typeof pdu.state_key === "string") {
      try {
        const target = serverNameOf(pdu.state_key);
        if (membershipOf(pdu) === "join") out.add(target);
        if ((membershipOf(pdu) === "leave" || membershipOf(pdu) === "ban") && pdu.state_key !== pdu.sender) out.add(target);
      } catch {
        /* malformed target: the auth rules already refused anything that matters */
      }
    }
    out.add(serverNameOf(pdu.sender));
    out.delete(this.serverName);
    return [...out];
  }

  // ------------------------------------------------------------------------------------------
  // Hub: LPDUs from participant servers
  // ------------------------------------------------------------------------------------------

  /**
   * A transaction's items for this room, signatures and hashes already verified by the Worker:
   * LPDUs (no auth_events) when we are the hub, PDUs when the sender is our hub. Returns the
   * failures keyed by the ID of what was received; items for a room we are not in are dropped.
   */
  async receive(origin: string, items: Array<{ id: string; lpdu?: Lpdu; pdu?: Pdu }>): Promise<FailedPdus> {
    const failed: FailedPdus = {};
    await this.exclusive(async () => {
      this.refuseWhileFanOutBehind(origin, items);
      this.batching++;
      try {
        await this.receiveItems(origin, items, failed);
      } finally {
        this.batching--;
        this.releaseDeferredKicks();
      }
    });
    return failed;
  }

  private releaseDeferredKicks(): void {
    if (this.batching > 0) return;
    if (this.deferredFlush) {
      this.deferredFlush = false;
      this.kickFlush();
    }
    if (this.deferredNotify) {
      this.deferredNotify = false;
      this.kickNotify();
    }
  }

  /** Caller holds the exclusive section. */
  private async receiveItems(origin: string, items: Array<{ id: string; lpdu?: Lpdu; pdu?: Pdu }>, failed: FailedPdus): Promise<void> {
    for (const { id, lpdu, pdu } of items) {
      try {
        if (lpdu) {
          if (!this.last || this.hub !== this.serverName) continue; // not our room to order: dropped
          await this.acceptLpdu(origin, lpdu);
        } else if (pdu) {
          if (this.hub === this.serverName) throw forbidden("Only the hub sends PDUs in a room it hosts, and that is us");
          if (!this.last) {
            if (this.store.getMeta("joining_via") === origin) this.store.bufferPdu(JSON.stringify(pdu), Date.now());
            continue; // a room we are not in: dropped
          }
          if (origin !== this.hub) throw forbidden(`${origin} is not the hub of this room`);
          if (pdu.hub_server !== undefined && pdu.hub_server !== this.hub) throw forbidden(`hub_server ${String(pdu.hub_server)} is not this room's hub`);
          const error = await this.acceptFromHub(pdu);
          if (error) failed[id] = { error };
        }
      } catch (e) {
        failed[id] = { error: e instanceof Error ? e.message : String(e) };
      }
    }
  }

  /** Marks a join in progress through `hub`, so its fan-out racing our send_join answer is kept. */
  async beginJoin(hub: string): Promise<void> {
    if (!this.last) this.store.setMeta("joining_via", hub);
  }

  /** Caller holds the exclusive section. Duplicate LPDUs (a retried transaction) are accepted once. */
  private async acceptLpdu(origin: string, lpdu: Lpdu): Promise<{ eventId: string; pdu: Pdu }> {
    const { hub, version } = this.requireRoom();
    if (hub !== this.serverName) throw new MatrixError(400, "M_WRONG_SERVER", "This server is not the room's hub");
    if (serverNameOf(lpdu.sender) !== origin) throw forbidden(`${origin} cannot send events for ${lpdu.sender}`);
    const lpduHash = lpdu.hashes.lpdu.sha256;
    const known = this.store.getEventIdByLpduHash(lpduHash);
    if (known) return { eventId: known, pdu: this.eventById(known) as Pdu };
    const { pdu, eventId } = await completeLpduWithId(lpdu, this.linksFor(lpdu), this.serverName, await this.key(), version);
    return this.acceptAsHub(pdu, lpduHash, eventId);
  }

  /** make_join / make_leave / make_knock: a template, if the change would pass the auth rules now. */
  async makeMembership(userId: string, membership: "join" | "leave" | "knock"): Promise<{ template: Record<string, unknown>; roomVersion: string }> {
    const { roomId, version, hub } = this.requireRoom();
    if (hub !== this.serverName) throw new MatrixError(400, "M_WRONG_SERVER", "This server is not the room's hub");
    const template: JsonObject = {
      room_id: roomId,
      type: "m.room.member",
      state_key: userId,
      sender: userId,
      origin_server_ts: Date.now(),
      content: { membership },
      hub_server: hub,
    };
    // Trial run of the auth rules with the links the real event would get.
    const links = this.linksFor(template as unknown as Pdu);
    const trial = { ...template, auth_events: links.authEvents, prev_events: links.prevEvents, hashes: {}, signatures: {} } as unknown as Pdu;
    const result = version.checkAuth({
      event: trial,
      state: this.state,
      authEvents: links.authEvents.map((id) => this.eventById(id)).filter((e): e is Pdu => e !== undefined),
      createEvent: this.state.get("m.room.create", ""),
      prevEvent: this.last?.pdu,
    });
    if (!result.allowed) throw forbidden(`Auth rule ${result.rule}: ${result.reason}`);
    return { template, roomVersion: version.id };
  }

  /**
   * send_join / send_leave / send_knock: the LPDU goes in like any other; a join is answered with
   * the state before it and its auth chain, a knock with stripped state.
   */
  async sendMembership(origin: string, lpdu: Lpdu, membership: "join" | "leave" | "knock"): Promise<JoinAnswer> {
    return this.exclusive(async () => {
      this.requireRoom();
      if (lpdu.type !== "m.room.member" || lpdu.content["membership"] !== membership) {
        throw new MatrixError(400, "M_BAD_JSON", `Expected an m.room.member event with membership ${membership}`);
      }
      if (lpdu.state_key !== lpdu.sender) throw new MatrixError(400, "M_BAD_JSON", "state_key must equal sender");
      const stateBefore = membership === "join" ? this.store.currentState() : [];
      const { eventId, pdu } = await this.acceptLpdu(origin, lpdu);
      if (membership === "join") {
        const stateJson = stateBefore.map((e) => e.json);
        const chain = this.authChain(stateBefore).map((e) => e.json);
        const body = `{"state":[${stateJson.join(",")}],"auth_chain":[${chain.join(",")}],"event":${JSON.stringify(pdu)},"members_omitted":false,"origin":${JSON.stringify(this.serverName)}}`;
        return { body, eventId };
      }
      if (membership === "knock") return { body: JSON.stringify({ stripped_state: this.state.stripped(), knock_room_state: this.state.stripped() }), eventId };
      return { body: "{}", eventId };
    });
  }

  /**
   * Invite of a user on another server, as hub: the invite is completed (from a participant's LPDU
   * or built for a local sender), auth-checked, offered to the target server's /invite (which signs
   * it), then appended with that signature.
   */
  async inviteRemote(
    args: { lpdu: Lpdu; origin: string } | { sender: string; target: string; content: JsonObject },
  ): Promise<{ eventId: string; json: string }> {
    return this.exclusive(async () => {
      const { hub } = this.requireRoom();
      const version: RoomVersion = this.version as RoomVersion;
      if (hub !== this.serverName) throw new MatrixError(400, "M_WRONG_SERVER", "This server is not the room's hub");
      let pdu: Pdu;
      let lpduHash: string | undefined;
      if ("lpdu" in args) {
        if (serverNameOf(args.lpdu.sender) !== args.origin) throw forbidden(`${args.origin} cannot send events for ${args.lpdu.sender}`);
        lpduHash = args.lpdu.hashes.lpdu.sha256;
        pdu = await completeLpdu(args.lpdu, this.linksFor(args.lpdu), this.serverName, await this.key(), version);
      } else {
        const fields = {
          room_id: this.roomId as string,
          type: "m.room.member",
          state_key: args.target,
          sender: args.sender,
          origin_server_ts: Date.now(),
          content: { ...args.content, membership: "invite" },
        };
        pdu = await buildLocalPdu(fields, this.linksFor(fields), this.serverName, await this.key(), version);
      }
      if (pdu.type !== "m.room.member" || membershipOf(pdu) !== "invite" || typeof pdu.state_key !== "string") {
        throw new MatrixError(400, "M_BAD_JSON", "Not an invite");
      }
      version.checkFormat(pdu);
      this.checkAuthOrThrow(pdu);
      const target = serverNameOf(pdu.state_key);
      let final = pdu;
      if (target !== this.serverName && !this.state.isServerJoined(target)) {
        final = await this.offerInvite(target, pdu);
      }
      const eventId = await eventIdOf(final, version);
      this.commit(eventId, final, lpduHash, true);
      return { eventId, json: JSON.stringify(final) };
    });
  }

  /**
   * A local user invites someone. As hub: inviteRemote. As participant: an LPDU over /send when the
   * invitee's server already takes part (or is us), else the hub's /invite, which asks the
   * invitee's server to sign it.
   */
  async invite(sender: string, target: string, content: Record<string, unknown>): Promise<{ eventId: string }> {
    const { roomId, hub } = this.requireRoom();
    if (hub === this.serverName) {
      const { eventId } = await this.inviteRemote({ sender, target, content: content as JsonObject });
      return { eventId };
    }
    const member = { type: "m.room.member", state_key: target, content: { ...(content as JsonObject), membership: "invite" } };
    const targetServer = serverNameOf(target);
    if (targetServer === this.serverName || this.state.isServerJoined(targetServer)) {
      return { eventId: await this.sendViaHub(sender, member) };
    }
    const lpdu = await buildLpdu({ room_id: roomId, sender, origin_server_ts: Date.now(), ...member }, await this.key(), hub);
    const txnId = (await eventIdOf(lpdu, this.version as RoomVersion)).slice(1);
    const res = await this.env.OUTBOUND.request(hub, "POST", `${LM_PREFIX}/invite/${encodeURIComponent(txnId)}`, {
      event: lpdu,
      room_version: (this.version as RoomVersion).id,
      invite_room_state: this.state.stripped(),
    });
    const body = res.body as { pdu?: unknown; event?: unknown; error?: unknown } | null;
    const pdu = (body?.pdu ?? body?.event) as Pdu | undefined;
    if (res.status !== 200 || typeof pdu !== "object" || pdu === null) {
      throw new MatrixError(res.status === 403 ? 403 : 502, res.status === 403 ? "M_FORBIDDEN" : "M_UNKNOWN", `Invite failed at the hub: ${String(body?.error ?? res.status)}`);
    }
    return { eventId: await eventIdOf(pdu, this.version as RoomVersion) };
  }

  /** POST /invite to the target server; its answer must be our event plus its signature. */
  private async offerInvite(target: string, pdu: Pdu): Promise<Pdu> {
    const version: RoomVersion = this.version as RoomVersion;
    const eventId = await eventIdOf(pdu, version);
    const res = await this.env.OUTBOUND.inviteAndVerify(target, eventId, pdu as unknown as Record<string, unknown>, version.id, this.state.stripped());
    if (!("pdu" in res)) throw new MatrixError(res.status >= 400 && res.status < 500 ? 403 : 502, "M_FORBIDDEN", `Invite refused by ${target}: ${res.error}`);
    const signed = res.pdu as unknown as Pdu;
    if ((await eventIdOf(signed, version)) !== eventId) throw forbidden(`${target} changed the invite event`);
    return signed;
  }

  // ------------------------------------------------------------------------------------------
  // Participant: the hub's PDUs, and our users' events going to the hub
  // ------------------------------------------------------------------------------------------

  /** First contact with a room hosted elsewhere: the verified send_join answer. */
  async initFromJoin(args: {
    roomId: string;
    version: string;
    hub: string;
    /** With the IDs the Worker computed while verifying them. */
    state: Array<{ eventId: string; pdu: Pdu }>;
    authChain: Array<{ eventId: string; pdu: Pdu }>;
    event: Pdu;
  }): Promise<{ eventId: string }> {
    return this.exclusive(async () => {
      const version = getRoomVersion(args.version);
      if (!version) throw new MatrixError(400, "M_UNSUPPORTED_ROOM_VERSION", `Unsupported room version ${args.version}`);
      if (this.roomId && this.last) {
        // Already participating: the join is just another event from the hub.
        const failed = await this.acceptFromHub(args.event);
        if (failed) throw forbidden(failed);
        return { eventId: await eventIdOf(args.event, version) };
      }
      this.roomId = args.roomId;
      this.version = version;
      this.hub = args.hub;
      const outliers = new Map<string, Pdu>();
      for (const { eventId, pdu } of [...args.authChain, ...args.state]) outliers.set(eventId, pdu);
      this.ctx.storage.transactionSync(() => {
        this.store.setMeta("room_id", args.roomId);
        this.store.setMeta("room_version", args.version);
        this.store.setMeta("hub", args.hub);
        for (const [id, e] of outliers) {
          if (this.store.getEvent(id)) continue;
          const row: Parameters<RoomStorage["insertEvent"]>[0] = { eventId: id, pos: null, type: e.type, sender: e.sender, json: JSON.stringify(e) };
          if (e.state_key !== undefined) row.stateKey = e.state_key;
          this.store.insertEvent(row);
        }
      });
      // The state before the join, replayed in the order given (create first).
      for (const { eventId: id, pdu: e } of args.state) {
        this.state.apply(id, e);
        if (typeof e.state_key === "string") {
          this.store.setCurrentState(e.type, e.state_key, id);
          this.store.putJoinState(e.type, e.state_key, id);
        }
      }
      const joinId = await eventIdOf(args.event, version);
      this.checkAuthOrThrow(args.event);
      this.commit(joinId, args.event, args.event.hashes.lpdu?.sha256, false);
      this.resolveEcho(args.event, joinId);
      // PDUs that raced ahead of the send_join answer.
      for (const json of this.store.takeBufferedPdus()) await this.acceptFromHub(JSON.parse(json) as Pdu);
      return { eventId: joinId };
    });
  }

  /** Caller holds the exclusive section. Returns an error message, or undefined when accepted or already known. */
  private async acceptFromHub(pdu: Pdu): Promise<string | undefined> {
    const version: RoomVersion = this.version as RoomVersion;
    try {
      version.checkFormat(pdu);
      const eventId = await eventIdOf(pdu, version);
      // Known already: in our timeline, or older than it. Events kept without a position are the
      // state and auth chain of our first join, which all precede our first event; when users of
      // this server join concurrently, an earlier join's answer (or fan-out) can arrive after a
      // later join's answer began our timeline, and that earlier join is in its state.
      if (this.store.getEvent(eventId) !== undefined) return undefined;
      const prev = pdu.prev_events[0];
      if (prev !== this.last?.eventId) {
        await this.fillGap(prev);
        if (this.store.getEvent(eventId)?.pos != null) return undefined;
        if (prev !== this.last?.eventId) return `prev_events ${String(prev)} does not follow our last event`;
      }
      this.checkAuthOrThrow(pdu);
      const mls = await this.mls.observeAsParticipant(pdu, this.roomId as string, eventId);
      this.commit(eventId, pdu, pdu.hashes.lpdu?.sha256, false, mls);
      this.resolveEcho(pdu, eventId);
      return undefined;
    } catch (e) {
      return e instanceof Error ? e.message : String(e);
    }
  }

  /** Fetches events we missed from the hub (verified by the Worker) and appends them in order. */
  private async fillGap(upTo: string | undefined): Promise<void> {
    if (upTo === undefined || !this.last || !this.hub || !this.version) return;
    const res = await this.env.OUTBOUND.backfillVerified(this.hub, this.roomId as string, upTo, 100, this.version.id);
    if (!("pdus" in res)) return;
    // Peers differ in order (the draft: oldest first; the reference implementation: newest first),
    // so follow the prev_events chain from our last event instead of trusting the order.
    const next = new Map<string, { id: string; pdu: Pdu }>();
    for (const pdu of res.pdus as Pdu[]) {
      const prev = pdu.prev_events[0];
      if (prev !== undefined) next.set(prev, { id: await eventIdOf(pdu, this.version), pdu });
    }
    for (let step = next.get(this.last.eventId); step; step = next.get(this.last.eventId)) {
      this.checkAuthOrThrow(step.pdu);
      const mls = await this.mls.observeAsParticipant(step.pdu, this.roomId as string, step.id);
      this.commit(step.id, step.pdu, step.pdu.hashes.lpdu?.sha256, false, mls);
      this.resolveEcho(step.pdu, step.id);
    }
  }

  /** A local user's event in a room hosted elsewhere: an LPDU to the hub, then wait for its echo. */
  private async sendViaHub(
    sender: string,
    event: { type: string; state_key?: string; content: JsonObject; redacts?: string },
    txn?: { deviceId: string; txnId: string },
  ): Promise<string> {
    const { roomId, hub } = this.requireRoom();
    // An LPDU has no top-level `redacts`; a redaction's target travels in its content.
    const lpdu = await buildLpdu(this.eventFields(sender, event), await this.key(), hub);
    const lpduHash = lpdu.hashes.lpdu.sha256;
    const lpduId = await eventIdOf(lpdu, this.version as RoomVersion);
    const json = canonicalJson(lpdu);
    if (txn) this.store.putPendingClientTxn(sender, txn.deviceId, txn.txnId, { lpduHash, lpduId, json });
    const echoed = this.echoOf(lpduHash);
    await this.destination(hub).enqueue(hub, [{ roomId, id: lpduId, json, lpduHash }]);
    return echoed;
  }

  /** A retried client send: the event its LPDU became, once the hub has echoed it. */
  private async resumeViaHub(pending: { lpduHash: string; lpduId: string; json: string }): Promise<string> {
    const known = this.store.getEventIdByLpduHash(pending.lpduHash);
    if (known) return known;
    const { roomId, hub } = this.requireRoom();
    const echoed = this.echoOf(pending.lpduHash);
    // Queues drop duplicates, and the hub accepts an LPDU once: this only matters if the first
    // attempt died before its LPDU reached the queue.
    await this.destination(hub).enqueue(hub, [{ roomId, id: pending.lpduId, json: pending.json, lpduHash: pending.lpduHash }]);
    return echoed;
  }

  /** Resolves with the event ID when the hub's PDU for this LPDU arrives; every caller shares one wait. */
  private echoOf(lpduHash: string): Promise<string> {
    const existing = this.echoWaiters.get(lpduHash);
    if (existing) return existing.promise;
    let resolve!: Waiter["resolve"];
    let reject!: Waiter["reject"];
    const promise = new Promise<string>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const timer = setTimeout(() => {
      this.echoWaiters.delete(lpduHash);
      reject(new MatrixError(504, "M_UNKNOWN", "The room's hub did not confirm the event in time"));
    }, ECHO_TIMEOUT_MS);
    this.echoWaiters.set(lpduHash, { promise, resolve, reject, timer });
    return promise;
  }

  private resolveEcho(pdu: Pdu, eventId: string): void {
    const h = pdu.hashes.lpdu?.sha256;
    if (h === undefined) return;
    const w = this.echoWaiters.get(h);
    if (!w) return;
    clearTimeout(w.timer);
    this.echoWaiters.delete(h);
    w.resolve(eventId);
  }

  /** The hub refused an LPDU we sent (its failed_pdus); the waiting client gets the reason. */
  async lpduRejected(lpduHash: string, error: string): Promise<void> {
    // A refused LPDU is not waited for again: a retry of its client transaction sends anew.
    this.store.deletePendingClientTxns(lpduHash);
    const w = this.echoWaiters.get(lpduHash);
    if (!w) return;
    clearTimeout(w.timer);
    this.echoWaiters.delete(lpduHash);
    // An MLS refusal names the group's current epoch, which the client needs to rebase its commit.
    w.reject(new MatrixError(403, "M_FORBIDDEN", `The hub refused the event: ${error}`, mlsErrorFields(error)));
  }

  /** An invite for one of our users to a room hosted elsewhere, already signed by us. */
  async storeInvite(userId: string, pdu: Pdu, stripped: StrippedStateEvent[], origin: string, roomVersion: string): Promise<void> {
    if (!this.roomId) {
      this.store.setMeta("invite_room_version", roomVersion);
    }
    this.store.putInvite(userId, JSON.stringify(pdu), JSON.stringify(stripped), origin);
    await this.stream(userId).notifyInvite(pdu.room_id as string, JSON.stringify([...stripped, strippedOf(pdu)]));
  }

  /** A local user's pending invite: the server to join through and the stripped state, as JSON. */
  async pendingInvite(userId: string): Promise<{ hub: string; origin: string; eventJson: string; strippedJson: string } | undefined> {
    const inv = this.store.getInvite(userId);
    if (!inv) return undefined;
    const pdu = JSON.parse(inv.eventJson) as Pdu;
    return { hub: pdu.hub_server ?? inv.origin, origin: inv.origin, eventJson: inv.eventJson, strippedJson: inv.strippedState };
  }

  async forgetInvite(userId: string): Promise<void> {
    this.store.deleteInvite(userId);
  }

  // ------------------------------------------------------------------------------------------
  // Local users' streams: told when the room moves, so their /sync wakes
  // ------------------------------------------------------------------------------------------

  private stream(userId: string) {
    return this.env.USER_STREAM.get(this.env.USER_STREAM.idFromName(userId));
  }

  /** Local joined users see every event; a local member event's target learns its new membership. */
  private queueNotifications(pos: number, pdu: Pdu): void {
    for (const u of this.state.joinedUsersOf(this.serverName)) this.mergeNotice(u, { pos });
    if (pdu.type === "m.room.member" && typeof pdu.state_key === "string" && pdu.state_key.endsWith(`:${this.serverName}`)) {
      const membership = membershipOf(pdu);
      if (membership) {
        const notice: Notice = { pos, membership };
        if (membership === "invite") notice.inviteStateJson = JSON.stringify([...this.state.stripped(), strippedOf(pdu)]);
        this.mergeNotice(pdu.state_key, notice);
      }
    }
    this.kickNotify();
  }

  private mergeNotice(userId: string, n: Notice): void {
    const prev = this.pendingNotices.get(userId);
    this.pendingNotices.set(userId, prev ? { ...prev, ...n, membership: n.membership ?? prev.membership } : n);
  }

  private kickNotify(): void {
    if (this.batching > 0) {
      this.deferredNotify = true;
      return;
    }
    if (this.notifying) return;
    this.notifying = (async () => {
      while (this.pendingNotices.size > 0) {
        const batch = [...this.pendingNotices];
        this.pendingNotices.clear();
        const roomId = this.roomId as string;
        await Promise.all(
          batch.map(([user, n]) => this.stream(user).notify(roomId, n.pos, n.membership, n.inviteStateJson).catch((e) => console.error("notify failed", user, e))),
        );
      }
    })().finally(() => (this.notifying = undefined));
    this.ctx.waitUntil(this.notifying);
  }

  /**
   * Read-your-writes: the acting user's stream learns of their own event before their request
   * returns, so a sync right after it shows it; everyone else's notice stays coalesced.
   */
  private async notifyNow(userId: string): Promise<void> {
    const n = this.pendingNotices.get(userId);
    if (!n || !this.roomId) return;
    this.pendingNotices.delete(userId);
    await this.stream(userId).notify(this.roomId, n.pos, n.membership, n.inviteStateJson).catch((e) => console.error("notify failed", userId, e));
  }

  /**
   * After a restart, tell every local member where the room stands: a notification lost with the
   * previous instance would otherwise hide the newest events until the next one.
   */
  private renotifyAfterLoad(): void {
    if (!this.last || !this.roomId) return;
    for (const u of this.state.joinedUsersOf(this.serverName)) this.mergeNotice(u, { pos: this.last.pos });
    if (this.pendingNotices.size > 0) this.kickNotify();
  }

  /**
   * What /sync shows of this room for a user: timeline events in (fromPos, toPos] (the newest
   * `limit` of them, filtered by type), whether older ones were left out, and the state at the
   * start of the timeline when the client needs it (new to the client, a gap, or full_state).
   */
  async syncView(args: {
    userId: string;
    fromPos: number | null;
    toPos: number;
    limit: number;
    types?: string[];
    notTypes?: string[];
    fullState: boolean;
  }): Promise<SyncView> {
    this.requireRoom();
    const slice = syncSlice(this.store, args);
    return { ...slice, events: this.forClients(slice.events), state: this.forClients(slice.state), summary: this.summary(args.userId) };
  }

  private summary(userId: string): SyncSummary {
    const joined = this.state.members("join").map((e) => e.pdu.state_key as string);
    const invited = this.state.members("invite").map((e) => e.pdu.state_key as string);
    const heroes = [...joined, ...invited].filter((u) => u !== userId).sort().slice(0, 5);
    return { "m.heroes": heroes, "m.joined_member_count": joined.length, "m.invited_member_count": invited.length };
  }

  // ------------------------------------------------------------------------------------------
  // Fan-out: the outbox (room-fanout.ts) is the durable record; destination queues pull from it
  // ------------------------------------------------------------------------------------------

  private destination(server: string) {
    return this.env.DESTINATION.get(this.env.DESTINATION.idFromName(server));
  }

  /**
   * The D1 event index is written by the alarm at most about once a second per room, so D1 sees
   * batches rather than a write per event.
   */
  private scheduleIndexing(): void {
    if (this.indexAlarmPending) return;
    this.indexAlarmPending = true;
    // The alarm may already be set further out (re-announcing fan-out every REANNOUNCE_MS).
    void this.alarmWithin(INDEX_INTERVAL_MS);
  }

  private kickFlush(): void {
    if (this.batching > 0) {
      this.deferredFlush = true;
      return;
    }
    if (this.flushing) {
      this.flushAgain = true;
      return;
    }
    this.flushing = this.announce().finally(() => {
      this.flushing = undefined;
      if (this.flushAgain) {
        this.flushAgain = false;
        this.kickFlush();
      }
    });
    this.ctx.waitUntil(this.flushing);
  }

  /**
   * Tells destination queues that this room has events for them. The events stay in the outbox,
   * the durable record of what each server still needs; the queue pulls them (fanOutBatch) and
   * reports what it delivered (fanOutDone). Nothing is copied into the queue's storage.
   */
  private async announce(): Promise<void> {
    const roomId = this.roomId as string;
    while (this.announceDue.size > 0) {
      const batch = [...this.announceDue];
      this.announceDue.clear();
      const results = await Promise.allSettled(batch.map(([dest, pos]) => this.destination(dest).roomHasEvents(dest, roomId, pos)));
      if (results.some((r) => r.status === "rejected")) {
        console.error("announcing events to a destination queue failed; the alarm announces again", (results.find((r) => r.status === "rejected") as PromiseRejectedResult).reason);
        await this.alarmWithin(FLUSH_RETRY_MS);
      }
    }
  }

  /**
   * A destination queue's pull: the events queued for `destination` after position `after` (or,
   * when the queue does not know where it stands, after the last one it reported delivered).
   * Passing `after` also reports everything up to it as delivered.
   */
  async fanOutBatch(destination: string, after: number | null, limit: number): Promise<{ rows: OutboxRow[]; tip: number }> {
    if (after !== null) this.markDelivered(destination, after);
    const queue = this.queue(destination);
    queue.heard = Date.now();
    this.backpressure.heard(destination, this.fanOut.cursor(destination), queue.heard);
    const from = after ?? this.fanOut.cursor(destination);
    const max = Math.min(Math.max(1, limit), FLUSH_BATCH);
    const rows = this.fanOut.eventsFor(destination, from, max);
    const last = rows[rows.length - 1]?.pos ?? from;
    const tip = rows.length < max ? last : this.fanOut.tip(destination);
    // Caught up (also when a full batch happens to end at the tip), the queue may go quiet: the next
    // event must be announced. Otherwise the tip tells it to come back.
    queue.mayIdle = tip <= last;
    return { rows, tip };
  }

  private queue(destination: string): QueueView {
    let q = this.queues.get(destination);
    if (!q) this.queues.set(destination, (q = { heard: 0, reannounced: 0, mayIdle: true }));
    return q;
  }

  /** Whether a new event for `destination` must be announced (see QueueView.mayIdle). */
  private mayBeIdle(destination: string): boolean {
    const q = this.queue(destination);
    // A queue unheard from for a while may have restarted (and forgotten what it was told), or be backing off.
    const idle = q.mayIdle || Date.now() - q.heard > ANNOUNCE_AGAIN_MS;
    if (idle) q.mayIdle = false;
    return idle;
  }

  /** A destination queue reports the events up to `upTo` delivered. */
  async fanOutDone(destination: string, upTo: number): Promise<void> {
    this.markDelivered(destination, upTo);
    this.queue(destination).heard = Date.now();
    this.backpressure.heard(destination, this.fanOut.cursor(destination), Date.now());
  }

  /**
   * Refuses a transaction's LPDUs as a whole, before any is looked at, with 429 M_LIMIT_EXCEEDED and
   * retry_after_ms while this hub room's newest event is too far ahead of a delivering destination.
   */
  private refuseWhileFanOutBehind(origin: string, items: ReadonlyArray<{ lpdu?: Lpdu }>): void {
    if (!items.some((it) => it.lpdu)) return;
    // Room reserved for other origins' retried transactions counts as taken.
    const wait = this.fanOutWaitMs(this.backpressure.reservedExcept(origin, Date.now()));
    this.backpressure.release(origin);
    if (wait !== undefined) throw limitExceeded(wait);
  }

  /**
   * Asked before `origin`'s transaction of `count` PDUs is verified: how long it would be refused,
   * or null, in which case room for it is reserved until it arrives (like receive, it may take the
   * backlog up to one transaction past the limit).
   */
  async fanOutWait(origin: string, count: number): Promise<number | null> {
    const now = Date.now();
    const wait = this.fanOutWaitMs(this.backpressure.reservedExcept(origin, now));
    if (wait === undefined) this.backpressure.reserve(origin, count, now);
    return wait ?? null;
  }

  private fanOutWaitMs(extra: number): number | undefined {
    if (!this.last || !this.isHub) return undefined;
    const owed = this.fanOut
      .pending()
      .filter(({ destination }) => destination !== INDEX_DESTINATION)
      .map(({ destination }) => ({ destination, backlog: this.fanOut.backlog(destination) }));
    return this.backpressure.retryAfterMs(owed, Date.now(), extra);
  }

  private markDelivered(destination: string, upTo: number): void {
    if (destination === INDEX_DESTINATION) return;
    this.fanOut.delivered(destination, upTo);
  }

  /** Writes events the D1 event index (the "" destination) is owed, oldest first. */
  private async flushIndex(): Promise<void> {
    try {
      for (;;) {
        const rows = this.fanOut.eventIdsFor(INDEX_DESTINATION, FLUSH_BATCH);
        const lastRow = rows[rows.length - 1];
        if (!lastRow) return;
        await indexEvents(this.env.DB, this.roomId as string, rows.map((r) => r.eventId));
        this.fanOut.delivered(INDEX_DESTINATION, lastRow.pos);
      }
    } catch (e) {
      console.error("event index write failed; retrying by alarm", e);
      await this.alarmWithin(FLUSH_RETRY_MS);
    }
  }

  /**
   * Saves delivery progress, then announces again to every destination still owed events whose queue
   * has not been heard from for a while: a queue keeps its place in memory, so one that restarted
   * (crash, eviction, deploy) learns of this room's events from here. While events are owed, the
   * alarm comes back.
   */
  private async reannounce(): Promise<void> {
    this.saveFanOutProgress();
    const now = Date.now();
    let next: number | undefined;
    for (const { destination, pos } of this.fanOut.pending()) {
      if (destination === INDEX_DESTINATION) continue;
      const q = this.queue(destination);
      // A queue this room stopped announcing to (it was expected back) is told again a second after
      // its last contact; one long silent (down, backing off) every REANNOUNCE_MS.
      const interval = !q.mayIdle && now - q.heard < REANNOUNCE_MS ? ANNOUNCE_AGAIN_MS : REANNOUNCE_MS;
      if (now - Math.max(q.heard, q.reannounced) >= interval) {
        q.reannounced = now;
        this.announceDue.set(destination, Math.max(pos, this.announceDue.get(destination) ?? 0));
      }
      next = Math.min(next ?? interval, interval);
    }
    if (this.announceDue.size > 0) this.kickFlush();
    if (next !== undefined) await this.alarmWithin(next);
  }

  /** Makes sure the alarm fires within `ms` (it may be due sooner for another reason). */
  private async alarmWithin(ms: number): Promise<void> {
    const at = Date.now() + ms;
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > at) await this.ctx.storage.setAlarm(at);
  }

  /** Saves delivery cursors (dropping rows every destination has) in a write of its own, for callers outside a commit. */
  private saveFanOutProgress(): void {
    this.ctx.storage.transactionSync(() => {
      this.fanOut.save();
      this.fanOut.prune();
      this.fanOut.dropUnusedSets();
    });
    this.fanOut.committed();
  }

  override async alarm(): Promise<void> {
    this.indexAlarmPending = false;
    await this.flushIndex();
    await this.reannounce();
  }

  /** Deliveries not yet reported delivered, per destination server (admin status). */
  async outboxStatus(): Promise<Array<{ destination: string; count: number }>> {
    this.saveFanOutProgress();
    return this.fanOut.pendingCounts().filter((r) => r.destination !== INDEX_DESTINATION);
  }

  /** Canonical JSON of an event as stored, for integrity checks in tests and admin tools. */
  async canonicalEvent(eventId: string): Promise<string | undefined> {
    const e = this.store.getEvent(eventId);
    return e && canonicalJson(JSON.parse(e.json));
  }

  /** The LPDU a stored hub-completed event came from (for the admin CLI's integrity view). */
  async lpduOf(eventId: string): Promise<Lpdu | undefined> {
    const e = this.store.getEvent(eventId);
    return e && lpduFromPdu(JSON.parse(e.json));
  }

  // ------------------------------------------------------------------------------------------
  // MLS: accepted commits and the Welcomes that wait for them (room-mls.ts)
  // ------------------------------------------------------------------------------------------

  /** Whether `eventId` is an accepted m.mls.commit of this room (on a participant: one the hub sent us). */
  async isAcceptedCommit(eventId: string): Promise<boolean> {
    return this.mls.isAcceptedCommit(eventId);
  }

  /** Devices of `userId` that logged out: their leaves in this room's MLS group must go in the next commit. */
  async devicesRemoved(userId: string, deviceIds: string[]): Promise<number> {
    return this.exclusive(async () => this.mls.devicesRemoved(userId, deviceIds));
  }

  /** This room's MLS roster summary, for tests and operators: epoch, occupied leaves, pending removals. */
  async mlsStatus(): Promise<{ epoch: number; members: number; pending: number; removalEpoch: number } | undefined> {
    const r = this.mls.currentRoster();
    return r ? { epoch: r.epoch, members: r.leaves.filter((l) => l !== null).length, pending: r.pending.length, removalEpoch: r.removalEpoch } : undefined;
  }

  /**
   * A Welcome from a joined local user: "deliver" (its commit is accepted), "held" (this room sends it on
   * once the commit is accepted, or drops it after WELCOME_HOLD_MS), or "refused". `messagesJson` is the
   * list of {target, targetDevice, content} to send as `type` under `messageId`.
   */
  async holdWelcome(commitEventId: string, sender: string, type: string, messagesJson: string, messageId: string): Promise<"deliver" | "held" | "refused"> {
    if (!this.roomId || !this.last || this.state.membership(sender) !== "join") return "refused";
    const known = this.store.getEvent(commitEventId) !== undefined;
    return this.mls.holdWelcome({ commitEventId, sender, type, messagesJson, messageId }, known, Date.now());
  }

  /** Sends on the Welcomes whose commit was just accepted; one that fails stays held and goes with the next commit. */
  private releaseWelcomes(): void {
    const ready = this.mls.releasableWelcomes(Date.now());
    if (ready.length === 0) return;
    this.ctx.waitUntil(
      Promise.all(
        ready.map(async (w) => {
          try {
            await this.env.OUTBOUND.deliverToDevice(w.sender, w.type, w.messagesJson, w.messageId);
            this.mls.welcomeReleased(w.seq);
          } catch (e) {
            console.error("releasing a held Welcome failed", w.commitEventId, e);
          }
        }),
      ),
    );
  }
}
