// A full-mesh (DAG) room's graph bookkeeping, beside the event JSON in room-storage.ts: each event's
// depth, what became of it, and the state before and after it as state groups (a delta on an older
// group, so a message costs no state row at all and a state event one small row); plus the room's
// forward extremities.

import { migrate, runAll, type Schema } from "./do-schema.js";

/**
 * - `timeline`: accepted, has a position, may be a prev_event.
 * - `soft-failed`: passed auth at its place in the graph but not against current state: stored and
 *   part of the graph, never shown to clients nor used as a prev_event.
 * - `rejected`: failed auth; never state, never a prev_event.
 * - `outlier`: known (state or auth chain of a join, a gap's state), not placed in the graph.
 */
export type DagStatus = "timeline" | "soft-failed" | "rejected" | "outlier";

export interface DagEventRow {
  eventId: string;
  depth: number;
  status: DagStatus;
  /** State group of the state before the event (null when unknown: plain outliers). */
  before: number | null;
  /** State group of the state after it (equal to `before` for non-state and rejected events). */
  after: number | null;
}

/** One state group: changes on `prev` (null: a full snapshot). A null event ID removes the key. */
export interface StateGroupRow {
  prev: number | null;
  /** How many groups `prev` chains back through; bounds the reads of a lookup. */
  chain: number;
  delta: Array<[key: string, eventId: string | null]>;
}

const TABLES = [
  `CREATE TABLE dag_events (event_id TEXT PRIMARY KEY, depth INTEGER NOT NULL, status TEXT NOT NULL, before_group INTEGER, after_group INTEGER)`,
  `CREATE TABLE dag_state_groups (id INTEGER PRIMARY KEY AUTOINCREMENT, prev INTEGER, chain INTEGER NOT NULL, delta TEXT NOT NULL)`,
  `CREATE TABLE dag_extremities (event_id TEXT PRIMARY KEY)`,
];

/** Versioned (do-schema.ts); shares the Room's database with its other storage modules. */
export const ROOM_DAG_SCHEMA: Schema = {
  name: "room-dag",
  migrations: [{ version: 1, description: "DAG events (depth, status, state groups), state groups, forward extremities", up: runAll(TABLES) }],
};

/** What the DAG engine reads and writes; DagStorage is the SQLite one, unit tests use maps. */
export interface DagStore {
  getDagEvent(eventId: string): DagEventRow | undefined;
  putDagEvent(row: DagEventRow): void;
  extremities(): string[];
  setExtremities(remove: readonly string[], add: readonly string[]): void;
  stateGroup(id: number): StateGroupRow | undefined;
  insertStateGroup(row: StateGroupRow): number;
}

type EventSql = { event_id: string; depth: number; status: string; before_group: number | null; after_group: number | null };

export class DagStorage implements DagStore {
  private readonly sql: SqlStorage;

  constructor(storage: DurableObjectStorage) {
    migrate(storage, ROOM_DAG_SCHEMA);
    this.sql = storage.sql;
  }

  getDagEvent(eventId: string): DagEventRow | undefined {
    const r = this.sql.exec<EventSql>(`SELECT event_id, depth, status, before_group, after_group FROM dag_events WHERE event_id = ?`, eventId).toArray()[0];
    return r && { eventId: r.event_id, depth: r.depth, status: r.status as DagStatus, before: r.before_group, after: r.after_group };
  }

  /** Inserts or replaces (an outlier later placed in the graph). */
  putDagEvent(row: DagEventRow): void {
    this.sql.exec(
      `INSERT OR REPLACE INTO dag_events (event_id, depth, status, before_group, after_group) VALUES (?, ?, ?, ?, ?)`,
      row.eventId,
      row.depth,
      row.status,
      row.before,
      row.after,
    );
  }

  extremities(): string[] {
    return this.sql
      .exec<{ event_id: string }>(`SELECT event_id FROM dag_extremities`)
      .toArray()
      .map((r) => r.event_id);
  }

  setExtremities(remove: readonly string[], add: readonly string[]): void {
    for (const id of remove) this.sql.exec(`DELETE FROM dag_extremities WHERE event_id = ?`, id);
    for (const id of add) this.sql.exec(`INSERT OR IGNORE INTO dag_extremities (event_id) VALUES (?)`, id);
  }

  stateGroup(id: number): StateGroupRow | undefined {
    const r = this.sql.exec<{ prev: number | null; chain: number; delta: string }>(`SELECT prev, chain, delta FROM dag_state_groups WHERE id = ?`, id).toArray()[0];
    return r && { prev: r.prev, chain: r.chain, delta: JSON.parse(r.delta) as StateGroupRow["delta"] };
  }

  insertStateGroup(row: StateGroupRow): number {
    return this.sql
      .exec<{ id: number }>(`INSERT INTO dag_state_groups (prev, chain, delta) VALUES (?, ?, ?) RETURNING id`, row.prev, row.chain, JSON.stringify(row.delta))
      .one().id;
  }
}
