// One local user's stream: which rooms changed for them and when, their memberships and pending
// invites. Rooms notify it when they gain an event the user should see; /sync asks it what changed
// since a token and long-polls here, so a sync wakes the moment any of the user's rooms moves,
// without polling D1 or asking every room.
//
// A sync token is this stream's counter. Each notification appends (counter, room, position), so
// the room positions a token stood for can be recovered later; old rows are pruned, and a token
// older than what is kept reads as "start this room afresh" (a limited timeline), never as an error.

import { DurableObject } from "cloudflare:workers";
import { parseRateLimits, takeFromBucket, type Bucket, type TakeResult } from "../shared/token-bucket.js";

export type StreamMembership = "join" | "invite" | "leave" | "ban" | "knock";

export interface RoomChange {
  roomId: string;
  membership: StreamMembership;
  /** Room position the client had seen at the `since` token; null when new to the client. */
  fromPos: number | null;
  /** Room position as of the returned token. */
  toPos: number;
  /** Stripped state for invites, as JSON. */
  inviteStateJson?: string;
}

export interface StreamChanges {
  next: number;
  rooms: RoomChange[];
}

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS rooms (
     room_id TEXT PRIMARY KEY,
     membership TEXT NOT NULL,
     pos INTEGER NOT NULL,
     stream_id INTEGER NOT NULL,
     invite_state TEXT
   )`,
  `CREATE INDEX IF NOT EXISTS rooms_by_stream ON rooms (stream_id)`,
  `CREATE TABLE IF NOT EXISTS room_stream (stream_id INTEGER PRIMARY KEY, room_id TEXT NOT NULL, pos INTEGER NOT NULL)`,
  `CREATE INDEX IF NOT EXISTS room_stream_by_room ON room_stream (room_id, stream_id)`,
];

/** Rows of history kept; a token older than these starts its rooms afresh. */
const KEEP_HISTORY = 5_000;
const MAX_WAIT_MS = 60_000;

export class UserStream extends DurableObject<Env> {
  private counter: number;
  private waiters = new Set<() => void>();
  /** Client-API buckets: this user's, and one per access token. This object is their one authority. */
  private readonly buckets = new Map<string, Bucket>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    for (const s of SCHEMA) ctx.storage.sql.exec(s);
    this.counter = Number(this.meta("counter") ?? 0);
  }

  private get sql(): SqlStorage {
    return this.ctx.storage.sql;
  }

  private meta(key: string): string | undefined {
    return this.sql.exec<{ value: string }>(`SELECT value FROM meta WHERE key = ?`, key).toArray()[0]?.value;
  }

  /**
   * A room moved to `pos` for this user, possibly changing their membership. Positions only move
   * forward; a stale notification (arriving after a newer one) is ignored.
   */
  async notify(roomId: string, pos: number, membership?: StreamMembership, inviteStateJson?: string): Promise<number> {
    const row = this.sql.exec<{ pos: number; membership: string }>(`SELECT pos, membership FROM rooms WHERE room_id = ?`, roomId).toArray()[0];
    if (row && (pos < row.pos || (pos === row.pos && (membership === undefined || membership === row.membership)))) return this.counter;
    return this.record(roomId, pos, membership ?? (row?.membership as StreamMembership | undefined) ?? "join", inviteStateJson);
  }

  /**
   * An invite to a room hosted elsewhere, which we have no positions for yet: always recorded, so
   * a new invite after an earlier membership still reaches the client.
   */
  async notifyInvite(roomId: string, inviteStateJson: string): Promise<number> {
    const row = this.sql.exec<{ pos: number }>(`SELECT pos FROM rooms WHERE room_id = ?`, roomId).toArray()[0];
    return this.record(roomId, row?.pos ?? 0, "invite", inviteStateJson);
  }

  private record(roomId: string, pos: number, m: StreamMembership, inviteStateJson: string | undefined): number {
    const row = this.sql.exec<{ pos: number; membership: string }>(`SELECT pos, membership FROM rooms WHERE room_id = ?`, roomId).toArray()[0];
    const sid = ++this.counter;
    this.ctx.storage.transactionSync(() => {
      this.sql.exec(`INSERT OR REPLACE INTO meta (key, value) VALUES ('counter', ?)`, String(sid));
      // A token from before a join (while invited, or after leaving) saw none of the joined room's
      // state: forgetting the room's older positions makes /sync send it as new, with full state.
      if (m === "join" && row && row.membership !== "join") this.sql.exec(`DELETE FROM room_stream WHERE room_id = ?`, roomId);
      this.sql.exec(
        `INSERT INTO rooms (room_id, membership, pos, stream_id, invite_state) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (room_id) DO UPDATE SET membership = excluded.membership, pos = MAX(rooms.pos, excluded.pos),
             stream_id = excluded.stream_id, invite_state = COALESCE(excluded.invite_state, CASE WHEN excluded.membership = 'invite' THEN rooms.invite_state END)`,
        roomId,
        m,
        Math.max(pos, row?.pos ?? 0),
        sid,
        inviteStateJson ?? null,
      );
      this.sql.exec(`INSERT INTO room_stream (stream_id, room_id, pos) VALUES (?, ?, ?)`, sid, roomId, Math.max(pos, row?.pos ?? 0));
      if (sid % 500 === 0) this.sql.exec(`DELETE FROM room_stream WHERE stream_id <= ?`, sid - KEEP_HISTORY);
    });
    const waiting = this.waiters;
    this.waiters = new Set();
    for (const wake of waiting) wake();
    return sid;
  }

  /** Takes one request from the user's bucket and the token's; both must have room. */
  async rateLimit(tokenHash: string): Promise<TakeResult> {
    const limits = parseRateLimits(this.env.RATE_LIMITS);
    const now = Date.now();
    const user = takeFromBucket(this.buckets.get("user"), limits.user, now);
    this.buckets.set("user", user.bucket);
    if (!user.result.ok) return user.result;
    const token = takeFromBucket(this.buckets.get(`t:${tokenHash}`), limits.token, now);
    this.buckets.set(`t:${tokenHash}`, token.bucket);
    if (this.buckets.size > 1_000) this.buckets.delete([...this.buckets.keys()].find((k) => k !== "user") as string);
    if (!token.result.ok) user.bucket.tokens += 1; // refused requests do not count against the user
    return token.result;
  }

  /** The current token, without waiting. */
  async current(): Promise<number> {
    return this.counter;
  }

  /**
   * What changed after `since` (0 = everything), waiting up to `timeoutMs` for something to change.
   * `since` beyond our counter (a token from before a reset) counts as 0.
   */
  async changes(since: number, timeoutMs: number): Promise<StreamChanges> {
    const from = since > this.counter ? 0 : since;
    if (from === this.counter && timeoutMs > 0) {
      await new Promise<void>((resolve) => {
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
    return { next: this.counter, rooms: this.changedRooms(from) };
  }

  private changedRooms(since: number): RoomChange[] {
    const rows = this.sql
      .exec<{ room_id: string; membership: string; pos: number; invite_state: string | null }>(
        `SELECT room_id, membership, pos, invite_state FROM rooms WHERE stream_id > ? ORDER BY stream_id`,
        since,
      )
      .toArray();
    return rows.map((r) => {
      const change: RoomChange = {
        roomId: r.room_id,
        membership: r.membership as StreamMembership,
        fromPos: since === 0 ? null : this.posAt(r.room_id, since),
        toPos: r.pos,
      };
      if (r.invite_state !== null && r.membership === "invite") change.inviteStateJson = r.invite_state;
      return change;
    });
  }

  /** The room's position as of token `sid`, if the history still reaches back that far. */
  private posAt(roomId: string, sid: number): number | null {
    const row = this.sql
      .exec<{ pos: number }>(`SELECT pos FROM room_stream WHERE room_id = ? AND stream_id <= ? ORDER BY stream_id DESC LIMIT 1`, roomId, sid)
      .toArray()[0];
    return row?.pos ?? null;
  }

  /** Rooms the user is joined to. */
  async joinedRooms(): Promise<string[]> {
    return this.sql.exec<{ room_id: string }>(`SELECT room_id FROM rooms WHERE membership = 'join' ORDER BY room_id`).toArray().map((r) => r.room_id);
  }

  /** Every room this user has a membership in, with it. */
  async memberships(): Promise<Array<{ roomId: string; membership: StreamMembership }>> {
    return this.sql
      .exec<{ room_id: string; membership: string }>(`SELECT room_id, membership FROM rooms`)
      .toArray()
      .map((r) => ({ roomId: r.room_id, membership: r.membership as StreamMembership }));
  }

  /** Forgets a room the user has left (POST /forget). */
  async forget(roomId: string): Promise<boolean> {
    const row = this.sql.exec<{ membership: string }>(`SELECT membership FROM rooms WHERE room_id = ?`, roomId).toArray()[0];
    if (!row) return false;
    if (row.membership === "join" || row.membership === "invite") return false;
    this.sql.exec(`DELETE FROM rooms WHERE room_id = ?`, roomId);
    this.sql.exec(`DELETE FROM room_stream WHERE room_id = ?`, roomId);
    return true;
  }
}
