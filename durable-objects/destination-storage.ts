// The Destination object's SQLite tables, each behind small named functions: every SQL statement the
// queue runs is in this file. The schema is versioned (do-schema.ts); a queue written before
// versioning existed is at version 0 and migration 1 adopts its tables as they are.

import { migrate, runAll, type Schema } from "./do-schema.js";

/** The tables as the queue first created them; IF NOT EXISTS lets migration 1 adopt them. */
const INITIAL_TABLES = [
  `CREATE TABLE IF NOT EXISTS queue (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     kind TEXT NOT NULL,
     room_id TEXT NOT NULL,
     item_id TEXT NOT NULL,
     lpdu_hash TEXT,
     json TEXT NOT NULL,
     txn_id TEXT -- unused since transaction IDs derive from sequence numbers; kept for old queues
   )`,
  `CREATE UNIQUE INDEX IF NOT EXISTS queue_item ON queue (kind, item_id)`,
  `CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
];

export const DESTINATION_SCHEMA: Schema = {
  name: "destination",
  migrations: [
    {
      version: 1,
      description: "the stored queue (LPDUs and EDUs) and the retry state",
      up: runAll(INITIAL_TABLES),
    },
    {
      version: 2,
      description: "a random transaction ID prefix, so a queue whose state was wiped never reuses old IDs",
      up: (sql) => {
        sql.exec(`INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)`, TXN_PREFIX_KEY, newTxnPrefix());
      },
    },
  ],
};

/** Meta key of the prefix every transaction ID of this queue starts with. */
export const TXN_PREFIX_KEY = "txn_prefix";

// Receivers drop a transaction ID they have seen from this origin (Synapse silently, forever), and
// sequence numbers restart when storage is wiped: fresh random bits per queue keep the IDs new.
function newTxnPrefix(): string {
  const bytes = new Uint8Array(8);
  crypto.getRandomValues(bytes);
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export type QueuedKind = "pdu" | "edu";

/** A stored item as its row reads (a type, not an interface: SqlStorage wants a record type). */
export type QueuedRow = {
  seq: number;
  kind: string;
  room_id: string;
  item_id: string;
  lpdu_hash: string | null;
  json: string;
};

export interface NewQueueRow {
  kind: QueuedKind;
  roomId: string;
  itemId: string;
  lpduHash: string | null;
  json: string;
}

export class DestinationStorage {
  private readonly sql: SqlStorage;
  /** The meta table as this object, its only writer, last read or wrote it: hot-path reads skip a SELECT. */
  private readonly metaCache = new Map<string, string | undefined>();

  constructor(private readonly storage: DurableObjectStorage) {
    migrate(storage, DESTINATION_SCHEMA);
    this.sql = storage.sql;
  }

  // --- meta: the destination's name and its retry state ------------------------------------

  /** The stored value for `key`, undefined when unset. */
  meta(key: string): string | undefined {
    if (this.metaCache.has(key)) return this.metaCache.get(key);
    const value = this.sql.exec<{ value: string }>(`SELECT value FROM meta WHERE key = ?`, key).toArray()[0]?.value;
    this.metaCache.set(key, value);
    return value;
  }

  /** Stores `value` under `key`; null removes it. An unchanged value costs no write. */
  setMeta(key: string, value: string | number | null): void {
    const v = value === null ? undefined : String(value);
    if (this.metaCache.has(key) && this.metaCache.get(key) === v) return;
    if (v === undefined) this.sql.exec(`DELETE FROM meta WHERE key = ?`, key);
    else this.sql.exec(`INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)`, key, v);
    this.metaCache.set(key, v);
  }

  /** transactionSync that forgets cached meta when it rolls back (the cache may hold its writes). */
  atomically(fn: () => void): void {
    try {
      this.storage.transactionSync(fn);
    } catch (e) {
      this.metaCache.clear();
      throw e;
    }
  }

  /** The prefix of this queue's transaction IDs, made once with its storage (migration 2). */
  txnPrefix(): string {
    const prefix = this.meta(TXN_PREFIX_KEY);
    if (prefix === undefined) throw new Error("destination storage has no transaction ID prefix (migration 2 not applied)");
    return prefix;
  }

  // --- the queue ----------------------------------------------------------------------------

  /** Appends items in order; an item already queued (same kind and ID) is skipped. */
  enqueue(items: readonly NewQueueRow[]): void {
    // One statement for the whole batch (a room hands over up to hundreds of events at once): the
    // items travel as one JSON parameter and SQLite unpacks them, in order, with json_each.
    const rows = items.map((it) => [it.kind, it.roomId, it.itemId, it.lpduHash, it.json]);
    this.sql.exec(
      `INSERT OR IGNORE INTO queue (kind, room_id, item_id, lpdu_hash, json)
         SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4 FROM json_each(?) ORDER BY key`,
      JSON.stringify(rows),
    );
  }

  /** The oldest `limit` stored PDUs (LPDUs), oldest first. */
  oldestPdus(limit: number): QueuedRow[] {
    return this.sql.exec<QueuedRow>(`SELECT seq, kind, room_id, item_id, lpdu_hash, json FROM queue WHERE kind = 'pdu' ORDER BY seq LIMIT ?`, limit).toArray();
  }

  /** The oldest `limit` stored EDUs, oldest first. */
  oldestEdus(limit: number): QueuedRow[] {
    // Looked up through the index: a scan would read the whole queue when there are none.
    return this.sql.exec<QueuedRow>(`SELECT seq, kind, room_id, item_id, lpdu_hash, json FROM queue INDEXED BY queue_item WHERE kind = 'edu' ORDER BY seq LIMIT ?`, limit).toArray();
  }

  /** Removes the PDUs up to `lastPduSeq` and the EDUs up to `lastEduSeq` (a delivered transaction's). */
  deleteDelivered(lastPduSeq: number, lastEduSeq: number): void {
    this.sql.exec(`DELETE FROM queue WHERE (kind = 'pdu' AND seq <= ?) OR (kind = 'edu' AND seq <= ?)`, lastPduSeq, lastEduSeq);
  }

  /** How many items of each kind are stored. */
  countsByKind(): { pdu: number; edu: number } {
    const counts = this.sql.exec<{ kind: string; n: number }>(`SELECT kind, COUNT(*) AS n FROM queue GROUP BY kind`).toArray();
    return { pdu: counts.find((c) => c.kind === "pdu")?.n ?? 0, edu: counts.find((c) => c.kind === "edu")?.n ?? 0 };
  }
}
