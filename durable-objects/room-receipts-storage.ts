// A room's read receipts, in the Room object's database: the latest receipt per user, receipt type
// and thread. Durable, unlike typing (memory only, room-ephemeral.ts).

import { migrate, runAll, type Schema } from "./do-schema.js";

export const ROOM_RECEIPTS_SCHEMA: Schema = {
  name: "room-receipts",
  migrations: [
    {
      version: 1,
      description: "the latest receipt per user, type and thread",
      up: runAll([
        `CREATE TABLE receipts (user_id TEXT NOT NULL, receipt_type TEXT NOT NULL, thread_id TEXT NOT NULL, event_id TEXT NOT NULL,
           ts INTEGER NOT NULL, PRIMARY KEY (user_id, receipt_type, thread_id))`,
        `CREATE INDEX receipts_by_ts ON receipts (ts)`,
      ]),
    },
  ],
};

export interface ReceiptRow {
  userId: string;
  receiptType: string;
  /** '' for an unthreaded receipt. */
  threadId: string;
  eventId: string;
  ts: number;
}

export class ReceiptStorage {
  private readonly sql: SqlStorage;

  constructor(storage: DurableObjectStorage) {
    migrate(storage, ROOM_RECEIPTS_SCHEMA);
    this.sql = storage.sql;
  }

  /** Keeps `r` as the user's receipt of its type and thread; false when it is already the one kept. */
  put(r: ReceiptRow): boolean {
    const res = this.sql.exec(
      `INSERT INTO receipts (user_id, receipt_type, thread_id, event_id, ts) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (user_id, receipt_type, thread_id) DO UPDATE SET event_id = excluded.event_id, ts = excluded.ts
         WHERE receipts.event_id <> excluded.event_id`,
      r.userId,
      r.receiptType,
      r.threadId,
      r.eventId,
      r.ts,
    );
    return res.rowsWritten > 0;
  }

  /** The newest `limit` receipts. */
  latest(limit: number): ReceiptRow[] {
    return this.sql
      .exec<{ user_id: string; receipt_type: string; thread_id: string; event_id: string; ts: number }>(
        `SELECT user_id, receipt_type, thread_id, event_id, ts FROM receipts ORDER BY ts DESC LIMIT ?`,
        limit,
      )
      .toArray()
      .map((r) => ({ userId: r.user_id, receiptType: r.receipt_type, threadId: r.thread_id, eventId: r.event_id, ts: r.ts }));
  }
}
