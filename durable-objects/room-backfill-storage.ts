// A participant's history from before its replica began: events fetched from the hub on demand,
// ordered apart from the live timeline. The event JSON sits in `events` with no position (like other
// outliers); this table gives each one a place in the order: 0 for the event just before the
// replica's first, then -1, -2, ... back to the create event. Nothing here is ever notified, fanned
// out or applied to state.

import { migrate, runAll, type Schema } from "./do-schema.js";
import type { StoredEvent } from "./room-storage.js";

/** The tables as the room first created them; IF NOT EXISTS lets migration 1 adopt them. */
const INITIAL_TABLES = [
  `CREATE TABLE IF NOT EXISTS backfilled (seq INTEGER PRIMARY KEY, event_id TEXT NOT NULL UNIQUE)`,
  // Set once the create event is stored: no older history exists.
  `CREATE TABLE IF NOT EXISTS backfill_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
];

/** Versioned (do-schema.ts); the Room's storage modules share one database, one schema name each. */
export const ROOM_BACKFILL_SCHEMA: Schema = {
  name: "room-backfill",
  migrations: [
    {
      version: 1,
      description: "the order of history fetched from before the replica began",
      up: runAll(INITIAL_TABLES),
    },
  ],
};

type Row = { seq: number; event_id: string; json: string };
const toStored = (r: Row): StoredEvent => ({ eventId: r.event_id, pos: r.seq, json: r.json });

export class BackfillStore {
  private readonly sql: SqlStorage;

  constructor(storage: DurableObjectStorage) {
    migrate(storage, ROOM_BACKFILL_SCHEMA);
    this.sql = storage.sql;
  }

  /** The oldest event held, with its position. */
  oldest(): { pos: number; eventId: string } | undefined {
    const r = this.sql.exec<{ seq: number; event_id: string }>(`SELECT seq, event_id FROM backfilled ORDER BY seq ASC LIMIT 1`).toArray()[0];
    return r && { pos: r.seq, eventId: r.event_id };
  }

  /** Places events (newest first, each the previous of the one before) below the oldest held. */
  appendOlder(eventIds: readonly string[]): void {
    let seq = (this.oldest()?.pos ?? 1) - 1;
    for (const id of eventIds) this.sql.exec(`INSERT INTO backfilled (seq, event_id) VALUES (?, ?)`, seq--, id);
  }

  /** Whether the create event has been reached. */
  complete(): boolean {
    return this.sql.exec(`SELECT 1 FROM backfill_meta WHERE key = 'complete'`).toArray().length > 0;
  }

  markComplete(): void {
    this.sql.exec(`INSERT OR REPLACE INTO backfill_meta (key, value) VALUES ('complete', '1')`);
  }

  /** Events at positions below `before`, newest first. */
  before(before: number, limit: number): StoredEvent[] {
    return this.sql
      .exec<Row>(`SELECT b.seq, b.event_id, e.json FROM backfilled b JOIN events e ON e.event_id = b.event_id WHERE b.seq < ? ORDER BY b.seq DESC LIMIT ?`, before, limit)
      .toArray()
      .map(toStored);
  }

  /** Events at positions above `after`, oldest first. */
  after(after: number, limit: number): StoredEvent[] {
    return this.sql
      .exec<Row>(`SELECT b.seq, b.event_id, e.json FROM backfilled b JOIN events e ON e.event_id = b.event_id WHERE b.seq > ? ORDER BY b.seq ASC LIMIT ?`, after, limit)
      .toArray()
      .map(toStored);
  }

  /** The held state events of one (type, state_key), oldest first. */
  stateEvents(type: string, stateKey: string): StoredEvent[] {
    return this.sql
      .exec<Row>(
        `SELECT b.seq, b.event_id, e.json FROM events e JOIN backfilled b ON b.event_id = e.event_id WHERE e.type = ? AND e.state_key = ? ORDER BY b.seq ASC`,
        type,
        stateKey,
      )
      .toArray()
      .map(toStored);
  }
}
