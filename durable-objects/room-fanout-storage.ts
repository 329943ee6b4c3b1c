// The Room's fan-out tables. Each event the room still owes someone has one row naming a set of
// destinations (the servers in the room when it was accepted, plus "" for the D1 event index);
// sets change only with membership, so they are stored once and shared. Each destination's
// progress is one cursor row. A row per event and destination would cost a B-tree insert and a
// delete per server for every event: 11 % of the hub's busy time at ten servers, and unbounded for
// rooms with many servers.

import { migrate, runAll, type Schema } from "./do-schema.js";
import type { OutboxRow } from "./room-storage.js";

/** The tables as the room first created them; IF NOT EXISTS lets migration 1 adopt them. */
const INITIAL_TABLES = [
  `CREATE TABLE IF NOT EXISTS fanout_sets (id INTEGER PRIMARY KEY, destinations TEXT NOT NULL UNIQUE)`,
  `CREATE TABLE IF NOT EXISTS fanout_members (set_id INTEGER NOT NULL, destination TEXT NOT NULL, PRIMARY KEY (set_id, destination)) WITHOUT ROWID`,
  `CREATE INDEX IF NOT EXISTS fanout_members_by_destination ON fanout_members (destination, set_id)`,
  `CREATE TABLE IF NOT EXISTS fanout (pos INTEGER PRIMARY KEY, set_id INTEGER NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS fanout_done (destination TEXT PRIMARY KEY, pos INTEGER NOT NULL) WITHOUT ROWID`,
];

/**
 * Rooms written before destination sets kept one `outbox` row per event and destination, deleted
 * once delivered. Each event's rows become its destination set, and a destination is taken to have
 * had everything before its oldest row (those rows were exactly what it was still owed).
 */
function foldLegacyOutbox(sql: SqlStorage): void {
  if (sql.exec(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'outbox'`).toArray().length === 0) return;
  // Per event, its set's key: the destinations, sorted, newline-separated (as FanOutLog.append keys them).
  const perEvent = `SELECT pos, group_concat(destination, char(10) ORDER BY destination) AS k FROM outbox GROUP BY pos`;
  sql.exec(`INSERT OR IGNORE INTO fanout_sets (destinations) SELECT k FROM (${perEvent}) GROUP BY k ORDER BY MIN(pos)`);
  sql.exec(`INSERT OR IGNORE INTO fanout_members (set_id, destination) SELECT s.id, o.destination FROM (${perEvent}) e JOIN fanout_sets s ON s.destinations = e.k JOIN outbox o ON o.pos = e.pos`);
  sql.exec(`INSERT INTO fanout (pos, set_id) SELECT e.pos, s.id FROM (${perEvent}) e JOIN fanout_sets s ON s.destinations = e.k`);
  sql.exec(
    `INSERT INTO fanout_done (destination, pos) SELECT destination, MIN(pos) - 1 FROM outbox WHERE true GROUP BY destination
       ON CONFLICT (destination) DO UPDATE SET pos = MAX(pos, excluded.pos)`,
  );
  sql.exec(`DROP TABLE outbox`);
}

/** Versioned (do-schema.ts); the Room's storage modules share one database, one schema name each. */
export const ROOM_FANOUT_SCHEMA: Schema = {
  name: "room-fanout",
  migrations: [
    {
      version: 1,
      description: "destination sets, the events each set is owed, and each destination's delivered position",
      up: runAll(INITIAL_TABLES),
    },
    { version: 2, description: "rooms from before destination sets: their per-destination outbox rows become sets", up: foldLegacyOutbox },
  ],
};

export class FanOutStorage {
  private readonly sql: SqlStorage;

  constructor(storage: DurableObjectStorage) {
    migrate(storage, ROOM_FANOUT_SCHEMA);
    this.sql = storage.sql;
  }

  // --- fanout_sets / fanout_members ----------------------------------------------------------

  /** The ID of the set stored under `key` (its destinations, sorted, newline-separated). */
  setId(key: string): number | undefined {
    return this.sql.exec<{ id: number }>(`SELECT id FROM fanout_sets WHERE destinations = ?`, key).toArray()[0]?.id;
  }

  /** Stores a new destination set. */
  addSet(key: string, destinations: readonly string[]): number {
    const id = this.sql.exec<{ id: number }>(`INSERT INTO fanout_sets (destinations) VALUES (?) RETURNING id`, key).one().id;
    this.sql.exec(`INSERT OR IGNORE INTO fanout_members (set_id, destination) SELECT ?, value FROM json_each(?)`, id, JSON.stringify(destinations));
    return id;
  }

  /** Every stored set: its ID and its key (destinations, sorted, newline-separated). */
  sets(): Array<{ id: number; destinations: string }> {
    return this.sql.exec<{ id: number; destinations: string }>(`SELECT id, destinations FROM fanout_sets`).toArray();
  }

  /** Drops sets no row refers to any more. */
  dropUnusedSets(): void {
    this.sql.exec(`DELETE FROM fanout_members WHERE set_id NOT IN (SELECT DISTINCT set_id FROM fanout)`);
    this.sql.exec(`DELETE FROM fanout_sets WHERE id NOT IN (SELECT DISTINCT set_id FROM fanout)`);
  }

  // --- fanout --------------------------------------------------------------------------------

  /** Records that the event at `pos` goes to the destinations of set `setId`. */
  append(pos: number, setId: number): void {
    this.sql.exec(`INSERT INTO fanout (pos, set_id) VALUES (?, ?)`, pos, setId);
  }

  /** The oldest events for `destination` after `afterPos`, with their canonical JSON. */
  eventsFor(destination: string, afterPos: number, limit: number): OutboxRow[] {
    return this.owed<{ pos: number; event_id: string; json: string }>("f.pos, e.event_id, e.json", destination, afterPos, limit).map((r) => ({
      pos: r.pos,
      eventId: r.event_id,
      json: r.json,
    }));
  }

  /** Like eventsFor, without the JSON (the D1 index needs only the IDs, and the JSON is most of a row). */
  eventIdsFor(destination: string, afterPos: number, limit: number): Array<{ pos: number; eventId: string }> {
    return this.owed<{ pos: number; event_id: string }>("f.pos, e.event_id", destination, afterPos, limit).map((r) => ({
      pos: r.pos,
      eventId: r.event_id,
    }));
  }

  private owed<T extends Record<string, SqlStorageValue>>(columns: string, destination: string, afterPos: number, limit: number): T[] {
    return this.sql
      .exec<T>(
        `SELECT ${columns} FROM fanout f JOIN events e ON e.pos = f.pos
           WHERE f.pos > ? AND f.set_id IN (SELECT set_id FROM fanout_members WHERE destination = ?)
           ORDER BY f.pos ASC LIMIT ?`,
        afterPos,
        destination,
        limit,
      )
      .toArray();
  }

  /** Each destination named by a kept row, with the newest such row. */
  tips(): Array<{ destination: string; pos: number }> {
    return this.sql
      .exec<{ destination: string; pos: number }>(
        `SELECT m.destination, MAX(f.pos) AS pos FROM fanout f JOIN fanout_members m ON m.set_id = f.set_id GROUP BY m.destination`,
      )
      .toArray();
  }

  /** Rows still owed to each destination (rows after its cursor), for status pages. */
  pendingCounts(): Array<{ destination: string; count: number }> {
    return this.sql
      .exec<{ destination: string; count: number }>(
        `SELECT m.destination, COUNT(*) AS count FROM fanout f JOIN fanout_members m ON m.set_id = f.set_id
           LEFT JOIN fanout_done d ON d.destination = m.destination
           WHERE f.pos > COALESCE(d.pos, 0) GROUP BY m.destination`,
      )
      .toArray();
  }

  /** Forgets the rows of one set in (after, upTo]. */
  deleteSetRows(setId: number, after: number, upTo: number): void {
    this.sql.exec(`DELETE FROM fanout WHERE pos > ? AND pos <= ? AND set_id = ?`, after, upTo, setId);
  }

  /** Forgets rows every destination has had. */
  deleteUpTo(pos: number): void {
    this.sql.exec(`DELETE FROM fanout WHERE pos <= ?`, pos);
  }

  // --- fanout_done ---------------------------------------------------------------------------

  /** Every destination's cursor: everything up to it is delivered (or indexed). */
  cursors(): Array<{ destination: string; pos: number }> {
    return this.sql.exec<{ destination: string; pos: number }>(`SELECT destination, pos FROM fanout_done`).toArray();
  }

  /** Moves a destination's cursor. */
  saveCursor(destination: string, pos: number): void {
    this.sql.exec(
      `INSERT INTO fanout_done (destination, pos) VALUES (?, ?) ON CONFLICT (destination) DO UPDATE SET pos = MAX(pos, excluded.pos)`,
      destination,
      pos,
    );
  }
}
