// What a room's converter keeps: the dedup keys of events it holds (so a second copy from another
// converter, a retry or a loop is answered idempotently) and the queue of its committed events
// still to be carried into a paired room. Keys are pruned by age: a replay older than the window
// is a new event to this room, which is why the window is long (DEDUP_WINDOW_MS).

import { migrate, runAll, type Schema } from "./do-schema.js";
import { COMMIT_COPY_PREFIX } from "./room/converter-mls.js";

export const ROOM_CONVERTER_SCHEMA: Schema = {
  name: "room-converter",
  migrations: [
    {
      version: 1,
      description: "dedup keys of converted and native events, and the queue of events to carry into paired rooms",
      up: runAll([
        `CREATE TABLE dedup_keys (key TEXT PRIMARY KEY, event_id TEXT NOT NULL, ts INTEGER NOT NULL)`,
        `CREATE INDEX dedup_keys_ts ON dedup_keys (ts)`,
        `CREATE TABLE convert_queue (pos INTEGER NOT NULL, target_room TEXT NOT NULL, event_id TEXT NOT NULL, PRIMARY KEY (pos, target_room))`,
      ]),
    },
  ],
};

/** How long a key is remembered: well beyond any retry, replay or resync a converter does. */
export const DEDUP_WINDOW_MS = 30 * 24 * 3600 * 1000;

export interface QueuedConversion {
  pos: number;
  targetRoom: string;
  eventId: string;
}

export class ConverterStorage {
  private readonly sql: SqlStorage;

  constructor(storage: DurableObjectStorage) {
    migrate(storage, ROOM_CONVERTER_SCHEMA);
    this.sql = storage.sql;
  }

  /** The event this room holds under `key`, if any. */
  eventWithKey(key: string): string | undefined {
    return this.sql.exec<{ event_id: string }>(`SELECT event_id FROM dedup_keys WHERE key = ?`, key).toArray()[0]?.event_id;
  }

  /** Remembers `key` for `eventId`; the first event under a key keeps it. */
  putKey(key: string, eventId: string, ts: number): void {
    this.sql.exec(`INSERT OR IGNORE INTO dedup_keys (key, event_id, ts) VALUES (?, ?, ?)`, key, eventId, ts);
  }

  /** Forgets keys remembered before `ts`, except the copies of MLS commits (room/converter-mls.ts); returns how many. */
  pruneKeysBefore(ts: number): number {
    return this.sql.exec(`DELETE FROM dedup_keys WHERE ts < ? AND key NOT LIKE '${COMMIT_COPY_PREFIX}%'`, ts).rowsWritten;
  }

  enqueue(q: QueuedConversion): void {
    this.sql.exec(`INSERT OR IGNORE INTO convert_queue (pos, target_room, event_id) VALUES (?, ?, ?)`, q.pos, q.targetRoom, q.eventId);
  }

  /** The oldest queued conversions, in room order. */
  queued(limit: number): QueuedConversion[] {
    return this.sql
      .exec<{ pos: number; target_room: string; event_id: string }>(`SELECT pos, target_room, event_id FROM convert_queue ORDER BY pos ASC LIMIT ?`, limit)
      .toArray()
      .map((r) => ({ pos: r.pos, targetRoom: r.target_room, eventId: r.event_id }));
  }

  dequeue(pos: number, targetRoom: string): void {
    this.sql.exec(`DELETE FROM convert_queue WHERE pos = ? AND target_room = ?`, pos, targetRoom);
  }
}
