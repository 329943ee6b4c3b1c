// Sliding sync connections (MSC4186 "Connections"), in the UserStream object's database: per device
// and conn_id, the `pos` tokens handed out and, per pos, which rooms that response sent and with
// what config. Each pos names its parent (the pos of the request it answered), so when a client
// comes back with a pos, exactly the responses on its chain count as seen; responses it abandoned
// (a cancelled long-poll answered anyway) are dropped.

import { migrate, runAll, type Schema } from "./do-schema.js";

export const SLIDING_SYNC_SCHEMA: Schema = {
  name: "sliding-sync",
  migrations: [
    {
      version: 1,
      description: "sliding sync positions and the rooms each response sent",
      up: runAll([
        // pos 0 is never handed out: a room row with pos 0 is the connection's confirmed base.
        // seq orders every pos of the user's connections by when it was issued (pos numbers start at random).
        `CREATE TABLE sliding_pos (device_id TEXT NOT NULL, conn_id TEXT NOT NULL, pos INTEGER NOT NULL, parent INTEGER NOT NULL,
           token INTEGER NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (device_id, conn_id, pos))`,
        `CREATE TABLE sliding_rooms (device_id TEXT NOT NULL, conn_id TEXT NOT NULL, pos INTEGER NOT NULL, room_id TEXT NOT NULL,
           room_pos INTEGER NOT NULL, membership TEXT NOT NULL, timeline_limit INTEGER NOT NULL, state_key TEXT NOT NULL,
           PRIMARY KEY (device_id, conn_id, pos, room_id))`,
      ]),
    },
  ],
};

export interface SentRoom {
  roomId: string;
  /** The room's position as of the response that sent it. */
  roomPos: number;
  /** The user's membership it was sent with. */
  membership: string;
  timelineLimit: number;
  /** requiredStateKey() of the config it was sent with. */
  stateKey: string;
}

export class SlidingSyncStorage {
  private readonly sql: SqlStorage;

  constructor(private readonly storage: DurableObjectStorage) {
    migrate(storage, SLIDING_SYNC_SCHEMA);
    this.sql = storage.sql;
  }

  positions(deviceId: string, connId: string): Array<{ pos: number; parent: number; token: number }> {
    return this.sql.exec<{ pos: number; parent: number; token: number }>(`SELECT pos, parent, token FROM sliding_pos WHERE device_id = ? AND conn_id = ?`, deviceId, connId).toArray();
  }

  /** Forgets a connection entirely (a request without pos starts it afresh). */
  dropConnection(deviceId: string, connId: string): void {
    this.storage.transactionSync(() => {
      this.sql.exec(`DELETE FROM sliding_pos WHERE device_id = ? AND conn_id = ?`, deviceId, connId);
      this.sql.exec(`DELETE FROM sliding_rooms WHERE device_id = ? AND conn_id = ?`, deviceId, connId);
    });
  }

  /** Connections of a device, least recently used first (by their newest pos). */
  connections(deviceId: string): string[] {
    return this.sql
      .exec<{ conn_id: string }>(`SELECT conn_id FROM sliding_pos WHERE device_id = ? GROUP BY conn_id ORDER BY MAX(seq)`, deviceId)
      .toArray()
      .map((r) => r.conn_id);
  }

  /**
   * The client confirmed `pos`, whose chain back to the base is `chain` (oldest first, `pos` last):
   * their rooms fold into the base, newest winning; positions in `drop` (neither on the chain nor
   * after `pos`) go with their rooms. `pos` becomes a child of the base.
   */
  confirm(deviceId: string, connId: string, pos: number, chain: readonly number[], drop: readonly number[]): void {
    this.storage.transactionSync(() => {
      for (const p of chain) {
        this.sql.exec(
          `INSERT OR REPLACE INTO sliding_rooms (device_id, conn_id, pos, room_id, room_pos, membership, timeline_limit, state_key)
             SELECT device_id, conn_id, 0, room_id, room_pos, membership, timeline_limit, state_key FROM sliding_rooms WHERE device_id = ? AND conn_id = ? AND pos = ?`,
          deviceId,
          connId,
          p,
        );
        this.sql.exec(`DELETE FROM sliding_rooms WHERE device_id = ? AND conn_id = ? AND pos = ?`, deviceId, connId, p);
        if (p !== pos) this.sql.exec(`DELETE FROM sliding_pos WHERE device_id = ? AND conn_id = ? AND pos = ?`, deviceId, connId, p);
      }
      for (const p of drop) {
        this.sql.exec(`DELETE FROM sliding_rooms WHERE device_id = ? AND conn_id = ? AND pos = ?`, deviceId, connId, p);
        this.sql.exec(`DELETE FROM sliding_pos WHERE device_id = ? AND conn_id = ? AND pos = ?`, deviceId, connId, p);
      }
      this.sql.exec(`UPDATE sliding_pos SET parent = 0 WHERE device_id = ? AND conn_id = ? AND pos = ?`, deviceId, connId, pos);
    });
  }

  /** The rooms the client has seen on this connection (the base). */
  baseRooms(deviceId: string, connId: string): SentRoom[] {
    return this.sql
      .exec<{ room_id: string; room_pos: number; membership: string; timeline_limit: number; state_key: string }>(
        `SELECT room_id, room_pos, membership, timeline_limit, state_key FROM sliding_rooms WHERE device_id = ? AND conn_id = ? AND pos = 0`,
        deviceId,
        connId,
      )
      .toArray()
      .map((r) => ({ roomId: r.room_id, roomPos: r.room_pos, membership: r.membership, timelineLimit: r.timeline_limit, stateKey: r.state_key }));
  }

  /** A new pos after `parent` (0: none), standing for stream token `token`, with the rooms its response sent. */
  addPosition(deviceId: string, connId: string, parent: number, token: number, rooms: readonly SentRoom[]): number {
    return this.storage.transactionSync(() => {
      const last = this.sql.exec<{ m: number | null }>(`SELECT MAX(pos) AS m FROM sliding_pos WHERE device_id = ? AND conn_id = ?`, deviceId, connId).one().m;
      // A new connection starts at a random pos, so a pos from before it was dropped is unknown.
      const pos = last === null ? 1 + Math.floor(Math.random() * 2 ** 40) : last + 1;
      const seq = this.sql.exec<{ m: number | null }>(`SELECT MAX(seq) AS m FROM sliding_pos`).one().m ?? 0;
      this.sql.exec(`INSERT INTO sliding_pos (device_id, conn_id, pos, parent, token, seq) VALUES (?, ?, ?, ?, ?, ?)`, deviceId, connId, pos, parent, token, seq + 1);
      for (const r of rooms) {
        this.sql.exec(
          `INSERT OR REPLACE INTO sliding_rooms (device_id, conn_id, pos, room_id, room_pos, membership, timeline_limit, state_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
          deviceId,
          connId,
          pos,
          r.roomId,
          r.roomPos,
          r.membership,
          r.timelineLimit,
          r.stateKey,
        );
      }
      return pos;
    });
  }
}
