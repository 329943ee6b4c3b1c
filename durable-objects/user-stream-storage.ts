// The UserStream object's SQLite tables, each behind small named functions: every SQL statement the
// stream runs is in this file. The schema is versioned (do-schema.ts); a database written before
// versioning existed is at version 0 and migration 1 adopts its tables as they are.

import { migrate, runAll, type Schema } from "./do-schema.js";
import type { ToDeviceDelivery } from "./user-stream-types.js";

/** The tables as the stream first created them; IF NOT EXISTS lets migration 1 adopt them. */
const INITIAL_TABLES = [
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
  // To-device inbox per device. A message stays until a sync acknowledges the response it was in.
  `CREATE TABLE IF NOT EXISTS to_device (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     device_id TEXT NOT NULL,
     message_id TEXT NOT NULL,
     sender TEXT NOT NULL,
     type TEXT NOT NULL,
     content TEXT NOT NULL,
     UNIQUE (device_id, message_id)
   )`,
  // Which inbox messages (seq <= upto) went out in the response carrying token `token` to a device.
  `CREATE TABLE IF NOT EXISTS to_device_sent (device_id TEXT NOT NULL, token INTEGER NOT NULL, upto INTEGER NOT NULL, PRIMARY KEY (device_id, token))`,
  // Latest device-list news per other user: 'changed' (keys or devices changed) or 'left'.
  `CREATE TABLE IF NOT EXISTS device_list_changes (user_id TEXT PRIMARY KEY, kind TEXT NOT NULL, stream_id INTEGER NOT NULL)`,
  `CREATE INDEX IF NOT EXISTS device_list_changes_by_stream ON device_list_changes (stream_id)`,
  // Which account data entries changed when ('' = global); the content itself lives in D1.
  `CREATE TABLE IF NOT EXISTS account_data_changes (room_id TEXT NOT NULL, type TEXT NOT NULL, stream_id INTEGER NOT NULL, PRIMARY KEY (room_id, type))`,
];

export const USER_STREAM_SCHEMA: Schema = {
  name: "user-stream",
  migrations: [
    {
      version: 1,
      description: "rooms and their history, to-device inboxes, device-list and account-data changes",
      up: runAll(INITIAL_TABLES),
    },
    {
      version: 2,
      description: "which rooms' typing or receipts changed when (the data itself lives in each Room)",
      up: runAll([
        `CREATE TABLE ephemeral_changes (room_id TEXT PRIMARY KEY, stream_id INTEGER NOT NULL)`,
        `CREATE INDEX ephemeral_changes_by_stream ON ephemeral_changes (stream_id)`,
      ]),
    },
  ],
};

export interface StreamRoomRow {
  roomId: string;
  membership: string;
  pos: number;
  inviteState: string | null;
}

/** What the queue takes is what a delivery carries. */
export type QueuedToDevice = ToDeviceDelivery;

export class UserStreamStorage {
  private readonly sql: SqlStorage;

  constructor(private readonly storage: DurableObjectStorage) {
    migrate(storage, USER_STREAM_SCHEMA);
    this.sql = storage.sql;
  }

  // --- the stream counter ------------------------------------------------------------------

  /** The last token handed out (0 for a new stream). */
  counter(): number {
    const row = this.sql.exec<{ value: string }>(`SELECT value FROM meta WHERE key = 'counter'`).toArray()[0];
    return Number(row?.value ?? 0);
  }

  private setCounter(value: number): void {
    this.sql.exec(`INSERT OR REPLACE INTO meta (key, value) VALUES ('counter', ?)`, String(value));
  }

  /** Records a token handed out for news kept only in memory (presence), so tokens never go back. */
  advanceCounter(sid: number): void {
    this.setCounter(sid);
  }

  // --- rooms ---------------------------------------------------------------------------------

  room(roomId: string): { pos: number; membership: string } | undefined {
    return this.sql.exec<{ pos: number; membership: string }>(`SELECT pos, membership FROM rooms WHERE room_id = ?`, roomId).toArray()[0];
  }

  /**
   * Token `sid` moved `roomId` to `pos` with membership `m`, in one transaction. `forgetHistory`
   * drops the room's older positions first; `pruneUpTo` drops every room's history up to that token.
   */
  recordRoomChange(sid: number, roomId: string, m: string, pos: number, inviteStateJson: string | undefined, forgetHistory: boolean, pruneUpTo?: number): void {
    this.storage.transactionSync(() => {
      this.setCounter(sid);
      if (forgetHistory) this.sql.exec(`DELETE FROM room_stream WHERE room_id = ?`, roomId);
      this.sql.exec(
        `INSERT INTO rooms (room_id, membership, pos, stream_id, invite_state) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (room_id) DO UPDATE SET membership = excluded.membership, pos = MAX(rooms.pos, excluded.pos),
             stream_id = excluded.stream_id, invite_state = COALESCE(excluded.invite_state, CASE WHEN excluded.membership = 'invite' THEN rooms.invite_state END)`,
        roomId,
        m,
        pos,
        sid,
        inviteStateJson ?? null,
      );
      this.sql.exec(`INSERT INTO room_stream (stream_id, room_id, pos) VALUES (?, ?, ?)`, sid, roomId, pos);
      if (pruneUpTo !== undefined) this.sql.exec(`DELETE FROM room_stream WHERE stream_id <= ?`, pruneUpTo);
    });
  }

  /** Rooms whose latest change came after token `since`, oldest change first. */
  roomsChangedSince(since: number): StreamRoomRow[] {
    return this.sql
      .exec<{ room_id: string; membership: string; pos: number; invite_state: string | null }>(
        `SELECT room_id, membership, pos, invite_state FROM rooms WHERE stream_id > ? ORDER BY stream_id`,
        since,
      )
      .toArray()
      .map((r) => ({ roomId: r.room_id, membership: r.membership, pos: r.pos, inviteState: r.invite_state }));
  }

  /** The room's position as of token `sid`, if the history still reaches back that far. */
  posAt(roomId: string, sid: number): number | null {
    const row = this.sql
      .exec<{ pos: number }>(`SELECT pos FROM room_stream WHERE room_id = ? AND stream_id <= ? ORDER BY stream_id DESC LIMIT 1`, roomId, sid)
      .toArray()[0];
    return row?.pos ?? null;
  }

  /** The token of the room's latest change, with the position it moved to. */
  roomTip(roomId: string): { pos: number; streamId: number } | undefined {
    const row = this.sql.exec<{ pos: number; stream_id: number }>(`SELECT pos, stream_id FROM rooms WHERE room_id = ?`, roomId).toArray()[0];
    return row ? { pos: row.pos, streamId: row.stream_id } : undefined;
  }

  /** The first position the room's kept history records after token `sid`. */
  posAfter(roomId: string, sid: number): number | null {
    const row = this.sql
      .exec<{ pos: number }>(`SELECT pos FROM room_stream WHERE room_id = ? AND stream_id > ? ORDER BY stream_id ASC LIMIT 1`, roomId, sid)
      .toArray()[0];
    return row?.pos ?? null;
  }

  joinedRooms(): string[] {
    return this.sql.exec<{ room_id: string }>(`SELECT room_id FROM rooms WHERE membership = 'join' ORDER BY room_id`).toArray().map((r) => r.room_id);
  }

  memberships(): Array<{ roomId: string; membership: string }> {
    return this.sql
      .exec<{ room_id: string; membership: string }>(`SELECT room_id, membership FROM rooms`)
      .toArray()
      .map((r) => ({ roomId: r.room_id, membership: r.membership }));
  }

  /** Drops the room and its history. */
  deleteRoom(roomId: string): void {
    this.storage.transactionSync(() => {
      this.sql.exec(`DELETE FROM rooms WHERE room_id = ?`, roomId);
      this.sql.exec(`DELETE FROM room_stream WHERE room_id = ?`, roomId);
    });
  }

  // --- to-device inboxes ---------------------------------------------------------------------

  /**
   * Queues messages, skipping repeats and devices with `maxPending` already waiting; if any was
   * new, the counter moves to `sid`. One transaction. Returns how many were queued.
   */
  queueToDevice(messages: readonly QueuedToDevice[], sid: number, maxPending: number): number {
    return this.storage.transactionSync(() => {
      let added = 0;
      for (const m of messages) {
        const count = this.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM to_device WHERE device_id = ?`, m.deviceId).one().n;
        if (count >= maxPending) continue;
        const res = this.sql.exec(
          `INSERT INTO to_device (device_id, message_id, sender, type, content) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
          m.deviceId,
          m.messageId,
          m.sender,
          m.type,
          m.contentJson,
        );
        added += res.rowsWritten > 0 ? 1 : 0;
      }
      if (added > 0) this.setCounter(sid);
      return added;
    });
  }

  hasToDevice(deviceId: string): boolean {
    return this.sql.exec(`SELECT 1 FROM to_device WHERE device_id = ? LIMIT 1`, deviceId).toArray().length > 0;
  }

  /** The device's oldest `limit` messages, in order. */
  toDeviceFor(deviceId: string, limit: number): Array<{ seq: number; sender: string; type: string; content: string }> {
    return this.sql
      .exec<{ seq: number; sender: string; type: string; content: string }>(
        `SELECT seq, sender, type, content FROM to_device WHERE device_id = ? ORDER BY seq LIMIT ?`,
        deviceId,
        limit,
      )
      .toArray();
  }

  /** Token `token` (the new counter) carried the device's messages up to `upto`; keeps the device's last `keep` such records. */
  recordToDeviceSent(deviceId: string, token: number, upto: number, keep: number): void {
    this.storage.transactionSync(() => {
      this.setCounter(token);
      this.sql.exec(`INSERT OR REPLACE INTO to_device_sent (device_id, token, upto) VALUES (?, ?, ?)`, deviceId, token, upto);
      this.sql.exec(
        `DELETE FROM to_device_sent WHERE device_id = ? AND token NOT IN (SELECT token FROM to_device_sent WHERE device_id = ? ORDER BY token DESC LIMIT ?)`,
        deviceId,
        deviceId,
        keep,
      );
    });
  }

  /** The last message seq the response with `token` carried to the device, if remembered. */
  toDeviceSentUpTo(deviceId: string, token: number): number | undefined {
    return this.sql.exec<{ upto: number }>(`SELECT upto FROM to_device_sent WHERE device_id = ? AND token = ?`, deviceId, token).toArray()[0]?.upto;
  }

  /** Deletes the device's messages up to `upto` and its sent-records up to `token`. */
  acknowledgeToDevice(deviceId: string, upto: number, token: number): void {
    this.storage.transactionSync(() => {
      this.sql.exec(`DELETE FROM to_device WHERE device_id = ? AND seq <= ?`, deviceId, upto);
      this.sql.exec(`DELETE FROM to_device_sent WHERE device_id = ? AND token <= ?`, deviceId, token);
    });
  }

  /** Forgets these devices' inboxes ("all": every device's). */
  dropDevices(deviceIds: readonly string[] | "all"): void {
    this.storage.transactionSync(() => {
      if (deviceIds === "all") {
        this.sql.exec(`DELETE FROM to_device`);
        this.sql.exec(`DELETE FROM to_device_sent`);
        return;
      }
      for (const d of deviceIds) {
        this.sql.exec(`DELETE FROM to_device WHERE device_id = ?`, d);
        this.sql.exec(`DELETE FROM to_device_sent WHERE device_id = ?`, d);
      }
    });
  }

  // --- device lists and account data -----------------------------------------------------------

  /** Token `sid` (the new counter) brings news of kind `kind` about these users. */
  recordDeviceListChanges(sid: number, userIds: readonly string[], kind: string): void {
    this.storage.transactionSync(() => {
      this.setCounter(sid);
      for (const u of userIds) {
        this.sql.exec(
          `INSERT INTO device_list_changes (user_id, kind, stream_id) VALUES (?, ?, ?)
             ON CONFLICT (user_id) DO UPDATE SET kind = excluded.kind, stream_id = excluded.stream_id`,
          u,
          kind,
          sid,
        );
      }
    });
  }

  /** The latest news per user recorded after token `from`, by user ID. */
  deviceListChangesSince(from: number): Array<{ userId: string; kind: string }> {
    return this.sql
      .exec<{ user_id: string; kind: string }>(`SELECT user_id, kind FROM device_list_changes WHERE stream_id > ? ORDER BY user_id`, from)
      .toArray()
      .map((r) => ({ userId: r.user_id, kind: r.kind }));
  }

  /** Token `sid` (the new counter) records that an account data entry changed. */
  recordAccountDataChange(sid: number, roomId: string, type: string): void {
    this.storage.transactionSync(() => {
      this.setCounter(sid);
      this.sql.exec(`INSERT OR REPLACE INTO account_data_changes (room_id, type, stream_id) VALUES (?, ?, ?)`, roomId, type, sid);
    });
  }

  /** Token `sid` (the new counter) records that a room's typing or receipts changed. */
  recordEphemeralChange(sid: number, roomId: string): void {
    this.storage.transactionSync(() => {
      this.setCounter(sid);
      this.sql.exec(`INSERT OR REPLACE INTO ephemeral_changes (room_id, stream_id) VALUES (?, ?)`, roomId, sid);
    });
  }

  ephemeralChangesSince(from: number): string[] {
    return this.sql.exec<{ room_id: string }>(`SELECT room_id FROM ephemeral_changes WHERE stream_id > ? ORDER BY stream_id`, from).toArray().map((r) => r.room_id);
  }

  /** Every room with a membership, with the token of its latest change (its activity) and position. */
  roomList(): Array<StreamRoomRow & { streamId: number }> {
    return this.sql
      .exec<{ room_id: string; membership: string; pos: number; invite_state: string | null; stream_id: number }>(`SELECT room_id, membership, pos, invite_state, stream_id FROM rooms`)
      .toArray()
      .map((r) => ({ roomId: r.room_id, membership: r.membership, pos: r.pos, inviteState: r.invite_state, streamId: r.stream_id }));
  }

  accountDataChangesSince(from: number): Array<{ roomId: string; type: string }> {
    return this.sql
      .exec<{ room_id: string; type: string }>(`SELECT room_id, type FROM account_data_changes WHERE stream_id > ? ORDER BY stream_id`, from)
      .toArray()
      .map((r) => ({ roomId: r.room_id, type: r.type }));
  }
}
