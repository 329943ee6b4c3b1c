// One local user's stream: which rooms changed for them and when, their memberships and pending
// invites. Rooms notify it when they gain an event the user should see; /sync asks it what changed
// since a token and long-polls here, so a sync wakes the moment any of the user's rooms moves,
// without polling D1 or asking every room.
//
// A sync token is this stream's counter. Each notification appends (counter, room, position), so
// the room positions a token stood for can be recovered later; old rows are pruned, and a token
// older than what is kept reads as "start this room afresh" (a limited timeline), never as an error.

import { DurableObject } from "cloudflare:workers";
import { limitExceeded } from "../shared/errors.js";
import { parseRateLimits, takeFromBucket, type Bucket, type RequestClass, type TakeResult } from "../shared/token-bucket.js";
import { SlidingConnections } from "./sliding-connections.js";
import type { SentRoom } from "./sliding-sync-storage.js";
import type { DeviceKeyCounts, RoomChange, SlidingSnapshot, StreamChanges, StreamMembership, ToDeviceDelivery, ToDeviceMessage } from "./user-stream-types.js";
import { UserStreamStorage } from "./user-stream-storage.js";
import { PresenceChanges } from "./user-stream-presence.js";

export type { DeviceKeyCounts, RoomChange, SlidingSnapshot, StreamChanges, StreamMembership, ToDeviceDelivery, ToDeviceMessage } from "./user-stream-types.js";

/** Rows of history kept; a token older than these starts its rooms afresh. */
const KEEP_HISTORY = 5_000;
const MAX_WAIT_MS = 60_000;
/** To-device messages per sync response, as Synapse does; the rest follow in the next syncs. */
const TO_DEVICE_PER_SYNC = 100;
/** A device's inbox is bounded: beyond this, new messages for it are dropped until it syncs. */
const MAX_TO_DEVICE_PENDING = 10_000;
/** Responses remembered per device for acknowledgement; a device acknowledges one of its last few. */
const KEEP_SENT_PER_DEVICE = 50;
/** Key counts are read from D1 again at least this often (a change whose notice was lost heals by then). */
const KEY_COUNTS_TTL_MS = 60_000;
const MAX_KEY_COUNTS = 100;

export class UserStream extends DurableObject<Env> {
  private counter: number;
  private waiters = new Set<() => void>();
  /** Client-API buckets: this user's, and one per access token. This object is their one authority. */
  private readonly buckets = new Map<string, Bucket>();
  /**
   * Per device, the key counts /sync last read from D1, so an incremental sync needs no D1 query.
   * Uploads, claims and logouts call keysChanged, which drops them all and moves `keyEpoch`; counts
   * read under an older epoch are not kept. They also lapse when a counted key expires, and after
   * KEY_COUNTS_TTL_MS. Memory only: D1 holds the keys.
   */
  private readonly keyCounts = new Map<string, { counts: DeviceKeyCounts; until: number }>();
  /** Random start: a read begun under an earlier instance of this object can never match. */
  private keyEpoch = Math.floor(Math.random() * 2 ** 48);

  private readonly store: UserStreamStorage;
  private readonly sliding: SlidingConnections;
  private readonly presence = new PresenceChanges();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = new UserStreamStorage(ctx.storage);
    this.sliding = new SlidingConnections(ctx.storage);
    this.counter = this.store.counter();
  }

  /**
   * A room moved to `pos` for this user, possibly changing their membership. Positions only move
   * forward; a stale notification (arriving after a newer one) is ignored.
   */
  async notify(roomId: string, pos: number, membership?: StreamMembership, inviteStateJson?: string): Promise<number> {
    const row = this.store.room(roomId);
    if (row && (pos < row.pos || (pos === row.pos && (membership === undefined || membership === row.membership)))) return this.counter;
    return this.record(roomId, pos, membership ?? (row?.membership as StreamMembership | undefined) ?? "join", inviteStateJson);
  }

  /**
   * An invite to a room hosted elsewhere, which we have no positions for yet: always recorded, so
   * a new invite after an earlier membership still reaches the client.
   */
  async notifyInvite(roomId: string, inviteStateJson: string): Promise<number> {
    return this.record(roomId, this.store.room(roomId)?.pos ?? 0, "invite", inviteStateJson);
  }

  private record(roomId: string, pos: number, m: StreamMembership, inviteStateJson: string | undefined): number {
    const row = this.store.room(roomId);
    const sid = ++this.counter;
    // A token from before a join (while invited, or after leaving) saw none of the joined room's
    // state: forgetting the room's older positions makes /sync send it as new, with full state.
    const forgetHistory = m === "join" && row !== undefined && row.membership !== "join";
    this.store.recordRoomChange(sid, roomId, m, Math.max(pos, row?.pos ?? 0), inviteStateJson, forgetHistory, sid % 500 === 0 ? sid - KEEP_HISTORY : undefined);
    const waiting = this.waiters;
    this.waiters = new Set();
    for (const wake of waiting) wake();
    return sid;
  }

  /** Takes one request of its class from the user's bucket and the token's; both must have room. */
  async rateLimit(tokenHash: string, cls: RequestClass = "write"): Promise<TakeResult> {
    return this.take(tokenHash, cls);
  }

  private take(tokenHash: string, cls: RequestClass): TakeResult {
    const limits = parseRateLimits(this.env.RATE_LIMITS);
    const now = Date.now();
    const [userKey, tokenKey] = cls === "read" ? ["user:read", `r:${tokenHash}`] : ["user", `t:${tokenHash}`];
    const user = takeFromBucket(this.buckets.get(userKey), cls === "read" ? limits.userReads : limits.user, now);
    this.buckets.set(userKey, user.bucket);
    if (!user.result.ok) return user.result;
    const token = takeFromBucket(this.buckets.get(tokenKey), cls === "read" ? limits.tokenReads : limits.token, now);
    this.buckets.set(tokenKey, token.bucket);
    if (this.buckets.size > 1_000) this.buckets.delete([...this.buckets.keys()].find((k) => !k.startsWith("user")) as string);
    if (!token.result.ok) user.bucket.tokens += 1; // refused requests do not count against the user
    return token.result;
  }

  /** The current token, without waiting. */
  async current(): Promise<number> {
    return this.counter;
  }

  /**
   * What changed after `since` (0 = everything), waiting up to `timeoutMs` for something to change.
   * `since` beyond our counter (a token from before a reset) counts as 0. With `chargeToken` (a
   * token hash), the request is first charged to the rate limits, as `rateLimit` does.
   */
  async changes(since: number, timeoutMs: number, deviceId?: string, chargeToken?: string): Promise<StreamChanges> {
    this.charge(chargeToken);
    const from = since > this.counter ? 0 : since;
    if (deviceId !== undefined && from > 0) this.ackToDevice(deviceId, from);
    const pending = deviceId !== undefined && this.hasToDevice(deviceId);
    if (from === this.counter && timeoutMs > 0 && !pending) await this.waitForWake(timeoutMs);
    const toDevice = deviceId === undefined ? { messages: [], upto: 0 } : this.pendingToDevice(deviceId);
    let next = this.counter;
    if (deviceId !== undefined && toDevice.messages.length > 0) next = this.issueToDeviceToken(deviceId, toDevice.upto);
    const cached = deviceId === undefined ? undefined : this.keyCounts.get(deviceId);
    return {
      next,
      rooms: this.changedRooms(from),
      toDevice: toDevice.messages,
      deviceLists: this.deviceListChanges(from),
      accountData: from === 0 ? [] : this.accountDataChanges(from),
      ephemeral: from === 0 ? [] : this.store.ephemeralChangesSince(from),
      presence: from === 0 ? [] : this.presence.since(from),
      ...(cached && cached.until > Date.now() ? { keyCounts: cached.counts } : {}),
      keyEpoch: this.keyEpoch,
    };
  }

  /** A sync's rate-limit charge (a read), taken here to save it a call first (429 M_LIMIT_EXCEEDED). */
  private charge(chargeToken: string | undefined): void {
    if (chargeToken === undefined) return;
    const verdict = this.take(chargeToken, "read");
    if (!verdict.ok) throw limitExceeded(verdict.retryAfterMs);
  }

  // ------------------------------------------------------------------------------------------
  // Sliding sync (MSC4186): the connection's pos, and the same rooms and news /sync reads.
  // ------------------------------------------------------------------------------------------

  /**
   * Opens (or resumes at `pos`) a device's connection; null when `pos` is unknown to it. With
   * `wait`, first waits until something happens after token `wait.after` (or `wait.timeoutMs` passes).
   */
  async slidingOpen(deviceId: string, connId: string, pos: string | undefined, chargeToken?: string, wait?: { after: number; timeoutMs: number }): Promise<SlidingSnapshot | null> {
    this.charge(chargeToken);
    if (wait && this.counter <= wait.after && wait.timeoutMs > 0) await this.waitForWake(wait.timeoutMs);
    const opened = this.sliding.open(deviceId, connId, pos);
    if (!opened) return null;
    const since = opened.since > this.counter ? 0 : opened.since;
    const cached = this.keyCounts.get(deviceId);
    return {
      pos: opened.pos,
      since,
      counter: this.counter,
      sent: opened.sent,
      rooms: this.store.roomList().map((r) => ({
        roomId: r.roomId,
        membership: r.membership as StreamMembership,
        roomPos: r.pos,
        activity: r.streamId,
        ...(r.membership === "invite" && r.inviteState !== null ? { inviteStateJson: r.inviteState } : {}),
      })),
      roomChanges: opened.pos === 0 ? [] : this.changedRooms(since),
      deviceLists: this.deviceListChanges(since),
      accountData: since === 0 ? [] : this.accountDataChanges(since),
      ephemeral: since === 0 ? [] : this.store.ephemeralChangesSince(since),
      ...(cached && cached.until > Date.now() ? { keyCounts: cached.counts } : {}),
      keyEpoch: this.keyEpoch,
    };
  }

  /** Records a sliding sync response; returns its pos. */
  async slidingCommit(deviceId: string, connId: string, parent: number, token: number, rooms: SentRoom[]): Promise<string> {
    return this.sliding.commit(deviceId, connId, parent, token, rooms);
  }

  /** The sliding sync to_device extension: acknowledges `since`, answers the next messages and their token. */
  async toDeviceBatch(deviceId: string, since: number, limit: number): Promise<{ messages: ToDeviceMessage[]; next: number }> {
    if (since > 0) this.ackToDevice(deviceId, since);
    const pending = this.pendingToDevice(deviceId, Math.max(1, Math.min(limit, TO_DEVICE_PER_SYNC)));
    return { messages: pending.messages, next: pending.messages.length > 0 ? this.issueToDeviceToken(deviceId, pending.upto) : this.counter };
  }

  /** A room's typing or receipts changed; a waiting sync wakes. */
  async ephemeralChanged(roomId: string): Promise<number> {
    const sid = ++this.counter;
    this.store.recordEphemeralChange(sid, roomId);
    this.wakeAll();
    return sid;
  }

  /** Keeps a device's key counts, read from D1 after a changes() answer that carried `epoch`. */
  async rememberKeyCounts(deviceId: string, epoch: number, counts: DeviceKeyCounts, until: number): Promise<void> {
    if (epoch !== this.keyEpoch) return; // keys changed while they were being read
    if (this.keyCounts.size >= MAX_KEY_COUNTS && !this.keyCounts.has(deviceId)) this.keyCounts.clear();
    this.keyCounts.set(deviceId, { counts, until: Math.min(until, Date.now() + KEY_COUNTS_TTL_MS) });
  }

  /** Some of this user's one-time or fallback keys were added, claimed or deleted. */
  async keysChanged(): Promise<void> {
    this.forgetKeyCounts();
  }

  private forgetKeyCounts(): void {
    this.keyEpoch++;
    this.keyCounts.clear();
  }

  // ------------------------------------------------------------------------------------------
  // To-device inbox. Messages are acknowledged by token, not by position: a response that carries
  // messages gets a token of its own (the counter moves, quietly), remembered with the last message
  // it held. A later sync presenting that token proves the client stored the response, so exactly
  // those messages are deleted; a sync from an older token gets them again. The messages share the
  // stream counter, so one `since` covers rooms, to-device and device lists.
  // ------------------------------------------------------------------------------------------

  /** Puts messages into this user's device inboxes and wakes waiting syncs. Returns how many were new. */
  async deliverToDevice(messages: ToDeviceDelivery[]): Promise<number> {
    const added = this.store.queueToDevice(messages, this.counter + 1, MAX_TO_DEVICE_PENDING);
    if (added > 0) {
      this.counter++;
      this.wakeAll();
    }
    return added;
  }

  private hasToDevice(deviceId: string): boolean {
    return this.store.hasToDevice(deviceId);
  }

  private pendingToDevice(deviceId: string, limit = TO_DEVICE_PER_SYNC): { messages: ToDeviceMessage[]; upto: number } {
    const rows = this.store.toDeviceFor(deviceId, limit);
    return {
      messages: rows.map((r) => ({ sender: r.sender, type: r.type, contentJson: r.content })),
      upto: rows.length > 0 ? (rows[rows.length - 1] as { seq: number }).seq : 0,
    };
  }

  /** A fresh token for a response carrying messages up to `upto`. Moving the counter wakes no one. */
  private issueToDeviceToken(deviceId: string, upto: number): number {
    const token = ++this.counter;
    this.store.recordToDeviceSent(deviceId, token, upto, KEEP_SENT_PER_DEVICE);
    return token;
  }

  /** A sync from `since` acknowledges the messages of the response that carried that token, if any did. */
  private ackToDevice(deviceId: string, since: number): void {
    const upto = this.store.toDeviceSentUpTo(deviceId, since);
    if (upto !== undefined) this.store.acknowledgeToDevice(deviceId, upto, since);
  }

  /** Forgets devices that logged out ("all": every device): their inboxes and acknowledgements. */
  async dropDevices(deviceIds: string[] | "all"): Promise<void> {
    this.forgetKeyCounts();
    this.store.dropDevices(deviceIds);
  }

  // ------------------------------------------------------------------------------------------
  // Device lists: which users' devices changed for this user (shared rooms decide who is told).
  // ------------------------------------------------------------------------------------------

  /** Records that these users' devices changed ('changed') or that they share no room any more ('left'). */
  async deviceListsChanged(userIds: string[], kind: "changed" | "left" = "changed"): Promise<number> {
    if (userIds.length === 0) return this.counter;
    const sid = ++this.counter;
    this.store.recordDeviceListChanges(sid, userIds, kind);
    this.wakeAll();
    return sid;
  }

  /**
   * Device-list news after token `from` (GET /keys/changes and /sync). Only the latest news per user
   * is kept, so an upper bound could hide an earlier change: everything after `from` is returned.
   */
  async keyChanges(from: number): Promise<{ changed: string[]; left: string[] }> {
    return this.deviceListChanges(from > this.counter ? 0 : from);
  }

  private deviceListChanges(from: number): { changed: string[]; left: string[] } {
    const rows = this.store.deviceListChangesSince(from);
    return { changed: rows.filter((r) => r.kind === "changed").map((r) => r.userId), left: rows.filter((r) => r.kind === "left").map((r) => r.userId) };
  }

  // ------------------------------------------------------------------------------------------
  // Account data: the stream only records what changed when, so /sync knows what to read from D1.
  // ------------------------------------------------------------------------------------------

  /** An account data entry of this user was set ('' = global); a waiting sync wakes. */
  async accountDataChanged(roomId: string, type: string): Promise<number> {
    const sid = ++this.counter;
    this.store.recordAccountDataChange(sid, roomId, type);
    this.wakeAll();
    return sid;
  }

  /** A user sharing a room with this one set their presence; a waiting sync wakes. */
  async presenceChanged(userId: string): Promise<number> {
    const sid = ++this.counter;
    this.store.advanceCounter(sid);
    this.presence.record(userId, sid);
    this.wakeAll();
    return sid;
  }

  private accountDataChanges(from: number): Array<{ roomId: string; type: string }> {
    return this.store.accountDataChangesSince(from);
  }

  private waitForWake(timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.delete(done);
        resolve();
      }, Math.min(timeoutMs, MAX_WAIT_MS));
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      this.waiters.add(done);
    });
  }

  private wakeAll(): void {
    const waiting = this.waiters;
    this.waiters = new Set();
    for (const wake of waiting) wake();
  }

  private changedRooms(since: number): RoomChange[] {
    return this.store.roomsChangedSince(since).map((r) => {
      const change: RoomChange = {
        roomId: r.roomId,
        membership: r.membership as StreamMembership,
        fromPos: since === 0 ? null : this.store.posAt(r.roomId, since),
        toPos: r.pos,
      };
      if (r.inviteState !== null && r.membership === "invite") change.inviteStateJson = r.inviteState;
      return change;
    });
  }

  /**
   * The room position a sync token stood for (/messages `from=s<n>`): what the sync that returned
   * it had delivered. Older than the history kept (or than the user's join), it answers the first
   * position recorded after it, which may include newer events but never skips one. "invalid": not
   * a token of this stream; "unknown": this stream has no record of the room.
   */
  async roomPositionAt(roomId: string, token: number): Promise<number | "invalid" | "unknown"> {
    if (!Number.isSafeInteger(token) || token < 0 || token > this.counter) return "invalid";
    const tip = this.store.roomTip(roomId);
    if (!tip) return "unknown";
    if (tip.streamId <= token) return tip.pos;
    return this.store.posAt(roomId, token) ?? this.store.posAfter(roomId, token) ?? tip.pos;
  }

  /** Rooms the user is joined to. */
  async joinedRooms(): Promise<string[]> {
    return this.store.joinedRooms();
  }

  /** Every room this user has a membership in, with it. */
  async memberships(): Promise<Array<{ roomId: string; membership: StreamMembership }>> {
    return this.store.memberships().map((r) => ({ roomId: r.roomId, membership: r.membership as StreamMembership }));
  }

  /** Forgets a room the user has left (POST /forget). */
  async forget(roomId: string): Promise<boolean> {
    const row = this.store.room(roomId);
    if (!row) return false;
    if (row.membership === "join" || row.membership === "invite") return false;
    this.store.deleteRoom(roomId);
    return true;
  }
}
