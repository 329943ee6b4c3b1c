// The Room object's SQLite tables, each behind small named functions. Every SQL statement the Room
// runs is in this file, except those of its MLS records (room-mls-storage.ts) and its fan-out
// (room-fanout-storage.ts).

import { migrate, runAll, type Schema } from "./do-schema.js";

export interface StoredEvent {
  eventId: string;
  /** Timeline position; null for outliers (state received with a join, events fetched for auth). */
  pos: number | null;
  json: string;
}

/** An event queued for one destination, with its canonical JSON. */
export interface OutboxRow {
  pos: number;
  eventId: string;
  json: string;
}

/** The tables as the room first created them; IF NOT EXISTS lets migration 1 adopt them. */
const INITIAL_TABLES = [
  // Redactions applied to stored events: clients are served the redacted form; federation the original.
  `CREATE TABLE IF NOT EXISTS redactions (target_id TEXT PRIMARY KEY, redaction_id TEXT NOT NULL, redaction_json TEXT NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS events (
     event_id TEXT PRIMARY KEY,
     pos INTEGER UNIQUE,
     type TEXT NOT NULL,
     state_key TEXT,
     sender TEXT NOT NULL,
     lpdu_hash TEXT,
     json TEXT NOT NULL
   )`,
  `CREATE INDEX IF NOT EXISTS events_state_history ON events (type, state_key, pos) WHERE state_key IS NOT NULL`,
  `CREATE UNIQUE INDEX IF NOT EXISTS events_by_lpdu ON events (lpdu_hash) WHERE lpdu_hash IS NOT NULL`,
  // History fetched late must learn of redactions already held (room-backfill.ts).
  `CREATE INDEX IF NOT EXISTS events_redactions ON events (event_id) WHERE type = 'm.room.redaction'`,
  `CREATE TABLE IF NOT EXISTS current_state (type TEXT NOT NULL, state_key TEXT NOT NULL, event_id TEXT NOT NULL, PRIMARY KEY (type, state_key))`,
  `CREATE TABLE IF NOT EXISTS client_txns (user_id TEXT NOT NULL, device_id TEXT NOT NULL, txn_id TEXT NOT NULL, event_id TEXT NOT NULL, PRIMARY KEY (user_id, device_id, txn_id))`,
  // Participant: a client transaction whose LPDU went to the hub before its event came back.
  `CREATE TABLE IF NOT EXISTS pending_client_txns (user_id TEXT NOT NULL, device_id TEXT NOT NULL, txn_id TEXT NOT NULL, lpdu_hash TEXT NOT NULL, lpdu_id TEXT NOT NULL, lpdu_json TEXT NOT NULL, PRIMARY KEY (user_id, device_id, txn_id))`,
  `CREATE TABLE IF NOT EXISTS pending_pdus (seq INTEGER PRIMARY KEY AUTOINCREMENT, json TEXT NOT NULL, received_ts INTEGER NOT NULL)`,
  // A participant's replica starts from the state its send_join answer gave (stored as outliers,
  // pos NULL); those entries stand for the state before its first timeline position.
  `CREATE TABLE IF NOT EXISTS join_state (seq INTEGER PRIMARY KEY AUTOINCREMENT, type TEXT NOT NULL, state_key TEXT NOT NULL, event_id TEXT NOT NULL, UNIQUE (type, state_key))`,
  `CREATE TABLE IF NOT EXISTS invites (user_id TEXT PRIMARY KEY, event_json TEXT NOT NULL, stripped_state TEXT NOT NULL, origin TEXT NOT NULL)`,
];

/** Versioned (do-schema.ts); the Room's storage modules share one database, one schema name each. */
export const ROOM_SCHEMA: Schema = {
  name: "room",
  migrations: [
    {
      version: 1,
      description: "events and their redactions, current state, client transactions, pending PDUs, join state and invites",
      up: runAll(INITIAL_TABLES),
    },
  ],
};

export class RoomStorage {
  private readonly sql: SqlStorage;

  constructor(storage: DurableObjectStorage) {
    migrate(storage, ROOM_SCHEMA);
    this.sql = storage.sql;
  }

  // --- redactions --------------------------------------------------------------------------

  /** Records that `redactionId` redacts `targetId` (the first applicable redaction wins). */
  putRedaction(targetId: string, redactionId: string, redactionJson: string): void {
    this.sql.exec(`INSERT OR IGNORE INTO redactions (target_id, redaction_id, redaction_json) VALUES (?, ?, ?)`, targetId, redactionId, redactionJson);
  }

  /** The redactions applied to any of these events, by target. */
  redactionsOf(targetIds: readonly string[]): Map<string, { redactionId: string; json: string }> {
    const out = new Map<string, { redactionId: string; json: string }>();
    for (let i = 0; i < targetIds.length; i += 90) {
      const chunk = targetIds.slice(i, i + 90);
      if (chunk.length === 0) continue;
      const rows = this.sql
        .exec<{ target_id: string; redaction_id: string; redaction_json: string }>(
          `SELECT target_id, redaction_id, redaction_json FROM redactions WHERE target_id IN (${chunk.map(() => "?").join(",")})`,
          ...chunk,
        )
        .toArray();
      for (const r of rows) out.set(r.target_id, { redactionId: r.redaction_id, json: r.redaction_json });
    }
    return out;
  }

  // --- meta ---------------------------------------------------------------------------------

  /** Reads a room-level setting (room ID, version, hub). */
  getMeta(key: string): string | undefined {
    const row = this.sql.exec<{ value: string }>(`SELECT value FROM meta WHERE key = ?`, key).toArray()[0];
    return row?.value;
  }

  /** Writes a room-level setting. */
  setMeta(key: string, value: string): void {
    this.sql.exec(`INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value);
  }

  // --- events -------------------------------------------------------------------------------

  /** Appends an accepted event at a timeline position (or as an outlier when pos is null). */
  insertEvent(e: { eventId: string; pos: number | null; type: string; stateKey?: string; sender: string; lpduHash?: string; json: string }): void {
    this.sql.exec(
      `INSERT INTO events (event_id, pos, type, state_key, sender, lpdu_hash, json) VALUES (?, ?, ?, ?, ?, ?, ?)`,
      e.eventId,
      e.pos,
      e.type,
      e.stateKey ?? null,
      e.sender,
      e.lpduHash ?? null,
      e.json,
    );
  }

  /** Places an outlier on the timeline (a participant's own join arriving after its state). */
  setEventPos(eventId: string, pos: number): void {
    this.sql.exec(`UPDATE events SET pos = ? WHERE event_id = ?`, pos, eventId);
  }

  /** One event by ID. */
  getEvent(eventId: string): StoredEvent | undefined {
    const row = this.sql
      .exec<{ event_id: string; pos: number | null; json: string }>(`SELECT event_id, pos, json FROM events WHERE event_id = ?`, eventId)
      .toArray()[0];
    return row && { eventId: row.event_id, pos: row.pos, json: row.json };
  }

  /** The event completed from an LPDU with this hash, if the hub already accepted it. */
  getEventIdByLpduHash(lpduHash: string): string | undefined {
    return this.sql.exec<{ event_id: string }>(`SELECT event_id FROM events WHERE lpdu_hash = ?`, lpduHash).toArray()[0]?.event_id;
  }

  /** The last timeline event. */
  lastEvent(): { eventId: string; pos: number } | undefined {
    const row = this.sql
      .exec<{ event_id: string; pos: number }>(`SELECT event_id, pos FROM events WHERE pos IS NOT NULL ORDER BY pos DESC LIMIT 1`)
      .toArray()[0];
    return row && { eventId: row.event_id, pos: row.pos };
  }

  /** Timeline events in (after, upTo], oldest first, at most `limit`. */
  eventsAfter(after: number, limit: number, upTo = Number.MAX_SAFE_INTEGER): StoredEvent[] {
    return this.sql
      .exec<{ event_id: string; pos: number; json: string }>(
        `SELECT event_id, pos, json FROM events WHERE pos > ? AND pos <= ? ORDER BY pos ASC LIMIT ?`,
        after,
        upTo,
        limit,
      )
      .toArray()
      .map((r) => ({ eventId: r.event_id, pos: r.pos, json: r.json }));
  }

  /** Timeline events strictly between `after` and `before`, newest first, at most `limit`. */
  eventsBefore(before: number, limit: number, after = -1): StoredEvent[] {
    return this.sql
      .exec<{ event_id: string; pos: number; json: string }>(
        `SELECT event_id, pos, json FROM events WHERE pos IS NOT NULL AND pos > ? AND pos < ? ORDER BY pos DESC LIMIT ?`,
        after,
        before,
        limit,
      )
      .toArray()
      .map((r) => ({ eventId: r.event_id, pos: r.pos, json: r.json }));
  }

  /**
   * The state at a position: for each (type, state_key) the newest state event before `pos`, else
   * the entry of the state the replica joined with (join_state), which comes first, in its order.
   */
  stateIdsBefore(pos: number): string[] {
    const base = this.sql
      .exec<{ event_id: string }>(
        `SELECT event_id FROM join_state j
           WHERE NOT EXISTS (SELECT 1 FROM events f WHERE f.type = j.type AND f.state_key = j.state_key AND f.pos IS NOT NULL AND f.pos < ?)
           ORDER BY seq ASC`,
        pos,
      )
      .toArray();
    const positioned = this.sql
      .exec<{ event_id: string }>(
        `SELECT event_id FROM events e
           WHERE state_key IS NOT NULL AND pos IS NOT NULL AND pos < ?
             AND pos = (SELECT MAX(pos) FROM events f WHERE f.type = e.type AND f.state_key = e.state_key AND f.pos < ?)
           ORDER BY pos ASC`,
        pos,
        pos,
      )
      .toArray();
    return [...base, ...positioned].map((r) => r.event_id);
  }

  /** The timeline's state events of one (type, state_key), oldest first. */
  stateEventsOf(type: string, stateKey: string): StoredEvent[] {
    return this.sql
      .exec<{ event_id: string; pos: number; json: string }>(
        `SELECT event_id, pos, json FROM events WHERE type = ? AND state_key = ? AND pos IS NOT NULL ORDER BY pos ASC`,
        type,
        stateKey,
      )
      .toArray()
      .map((r) => ({ eventId: r.event_id, pos: r.pos, json: r.json }));
  }

  /** The event a participant's replica joined with for (type, state_key), if any. */
  joinStateEvent(type: string, stateKey: string): StoredEvent | undefined {
    const id = this.sql.exec<{ event_id: string }>(`SELECT event_id FROM join_state WHERE type = ? AND state_key = ?`, type, stateKey).toArray()[0]?.event_id;
    return id === undefined ? undefined : this.getEvent(id);
  }

  /** Every stored m.room.redaction, wherever it sits. */
  redactionEvents(): StoredEvent[] {
    return this.sql
      .exec<{ event_id: string; pos: number | null; json: string }>(`SELECT event_id, pos, json FROM events WHERE type = 'm.room.redaction'`)
      .toArray()
      .map((r) => ({ eventId: r.event_id, pos: r.pos, json: r.json }));
  }

  /** Records one entry of the state a participant's replica joined with (see stateIdsBefore). */
  putJoinState(type: string, stateKey: string, eventId: string): void {
    this.sql.exec(`INSERT OR REPLACE INTO join_state (type, state_key, event_id) VALUES (?, ?, ?)`, type, stateKey, eventId);
  }

  /** Events by ID, in the order asked, skipping unknown ones. */
  getEvents(eventIds: readonly string[]): StoredEvent[] {
    const out: StoredEvent[] = [];
    for (const id of eventIds) {
      const e = this.getEvent(id);
      if (e) out.push(e);
    }
    return out;
  }

  // --- current state ------------------------------------------------------------------------

  /** Records the newest event for a (type, state_key). */
  setCurrentState(type: string, stateKey: string, eventId: string): void {
    this.sql.exec(
      `INSERT INTO current_state (type, state_key, event_id) VALUES (?, ?, ?)
         ON CONFLICT (type, state_key) DO UPDATE SET event_id = excluded.event_id`,
      type,
      stateKey,
      eventId,
    );
  }

  /** Drops a (type, state_key) from current state (full-mesh state resolution may leave one out). */
  deleteCurrentState(type: string, stateKey: string): void {
    this.sql.exec(`DELETE FROM current_state WHERE type = ? AND state_key = ?`, type, stateKey);
  }

  /** Current state events with their JSON, in timeline order (outliers first), create first. */
  currentState(): StoredEvent[] {
    return this.sql
      .exec<{ event_id: string; pos: number | null; json: string }>(
        `SELECT e.event_id, e.pos, e.json FROM current_state c JOIN events e ON e.event_id = c.event_id
           ORDER BY (c.type = 'm.room.create') DESC, e.pos IS NOT NULL, e.pos, e.rowid`,
      )
      .toArray()
      .map((r) => ({ eventId: r.event_id, pos: r.pos, json: r.json }));
  }

  // --- client transaction IDs -------------------------------------------------------------

  /** The event a client's transaction ID already produced. */
  getClientTxn(userId: string, deviceId: string, txnId: string): string | undefined {
    return this.sql
      .exec<{ event_id: string }>(
        `SELECT event_id FROM client_txns WHERE user_id = ? AND device_id = ? AND txn_id = ?`,
        userId,
        deviceId,
        txnId,
      )
      .toArray()[0]?.event_id;
  }

  /** Remembers which event a client's transaction ID produced. */
  putClientTxn(userId: string, deviceId: string, txnId: string, eventId: string): void {
    this.sql.exec(`INSERT OR REPLACE INTO client_txns (user_id, device_id, txn_id, event_id) VALUES (?, ?, ?, ?)`, userId, deviceId, txnId, eventId);
  }

  /** Participant: remembers the LPDU a client transaction sent to the hub, until its event is known. */
  putPendingClientTxn(userId: string, deviceId: string, txnId: string, lpdu: { lpduHash: string; lpduId: string; json: string }): void {
    this.sql.exec(
      `INSERT OR REPLACE INTO pending_client_txns (user_id, device_id, txn_id, lpdu_hash, lpdu_id, lpdu_json) VALUES (?, ?, ?, ?, ?, ?)`,
      userId,
      deviceId,
      txnId,
      lpdu.lpduHash,
      lpdu.lpduId,
      lpdu.json,
    );
  }

  /** The LPDU a client transaction already sent to the hub, if any. */
  getPendingClientTxn(userId: string, deviceId: string, txnId: string): { lpduHash: string; lpduId: string; json: string } | undefined {
    const row = this.sql
      .exec<{ lpdu_hash: string; lpdu_id: string; lpdu_json: string }>(
        `SELECT lpdu_hash, lpdu_id, lpdu_json FROM pending_client_txns WHERE user_id = ? AND device_id = ? AND txn_id = ?`,
        userId,
        deviceId,
        txnId,
      )
      .toArray()[0];
    return row && { lpduHash: row.lpdu_hash, lpduId: row.lpdu_id, json: row.lpdu_json };
  }

  /** Forgets the client transactions of an LPDU the hub refused. */
  deletePendingClientTxns(lpduHash: string): void {
    this.sql.exec(`DELETE FROM pending_client_txns WHERE lpdu_hash = ?`, lpduHash);
  }

  // --- PDUs that arrived before this participant finished joining ---------------------------

  /** Holds a PDU that reached us before our send_join answer did. */
  bufferPdu(json: string, now: number): void {
    this.sql.exec(`INSERT INTO pending_pdus (json, received_ts) VALUES (?, ?)`, json, now);
  }

  /** Takes every buffered PDU, oldest first. */
  takeBufferedPdus(): string[] {
    const rows = this.sql.exec<{ json: string }>(`SELECT json FROM pending_pdus ORDER BY seq`).toArray();
    this.sql.exec(`DELETE FROM pending_pdus`);
    return rows.map((r) => r.json);
  }

  // --- invites received for local users (room hosted elsewhere, not yet joined) -------------

  /** Keeps an invite for a local user until they join or reject it. */
  putInvite(userId: string, eventJson: string, strippedState: string, origin: string): void {
    this.sql.exec(`INSERT OR REPLACE INTO invites (user_id, event_json, stripped_state, origin) VALUES (?, ?, ?, ?)`, userId, eventJson, strippedState, origin);
  }

  /** The pending invite of a local user. */
  getInvite(userId: string): { eventJson: string; strippedState: string; origin: string } | undefined {
    const row = this.sql
      .exec<{ event_json: string; stripped_state: string; origin: string }>(`SELECT event_json, stripped_state, origin FROM invites WHERE user_id = ?`, userId)
      .toArray()[0];
    return row && { eventJson: row.event_json, strippedState: row.stripped_state, origin: row.origin };
  }

  /** Forgets a local user's pending invite. */
  deleteInvite(userId: string): void {
    this.sql.exec(`DELETE FROM invites WHERE user_id = ?`, userId);
  }
}
