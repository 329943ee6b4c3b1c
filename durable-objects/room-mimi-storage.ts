// The Room's MIMI tables (draft-ietf-mimi-protocol-06) in its SQLite. As hub: the follower providers
// and the notify queue (one row per message and follower, delivered in order, retried with backoff).
// As follower: the hub the room lives on, and the notify bodies already processed (a byte-identical
// replay is answered but not processed again).

import { migrate, runAll, type Schema } from "./do-schema.js";

const TABLES = [
  `CREATE TABLE mimi_followers (provider TEXT PRIMARY KEY, since_ts INTEGER NOT NULL)`,
  // kind: "message" (an MLS message the room accepted) or "welcome" (with the epoch it joins).
  `CREATE TABLE mimi_notify (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     provider TEXT NOT NULL,
     kind TEXT NOT NULL,
     ts INTEGER NOT NULL,
     message BLOB NOT NULL,
     attempts INTEGER NOT NULL DEFAULT 0,
     next_ts INTEGER NOT NULL DEFAULT 0
   )`,
  `CREATE INDEX mimi_notify_by_provider ON mimi_notify (provider, seq)`,
  `CREATE TABLE mimi_hub (id INTEGER PRIMARY KEY CHECK (id = 1), hub TEXT NOT NULL)`,
  `CREATE TABLE mimi_seen (hash TEXT PRIMARY KEY, seen_ts INTEGER NOT NULL)`,
];

export const ROOM_MIMI_SCHEMA: Schema = {
  name: "room-mimi",
  migrations: [
    { version: 1, description: "MIMI followers, notify queue, follower hub and notify dedup", up: runAll(TABLES) },
    // The GroupInfo (and ratchet tree) of the last commit that came with one, for the groupInfo endpoint.
    { version: 2, description: "MIMI hub: latest GroupInfo", up: runAll([`CREATE TABLE mimi_group_info (id INTEGER PRIMARY KEY CHECK (id = 1), epoch INTEGER NOT NULL, group_info BLOB NOT NULL, ratchet_tree BLOB)`]) },
  ],
};

/** A GroupInfo (MLSMessage bytes) for `epoch`, with the ratchet tree extension's bytes when the committer sent them. */
export interface StoredGroupInfo {
  epoch: number;
  groupInfo: Uint8Array;
  ratchetTree?: Uint8Array;
}

export interface NotifyRow {
  seq: number;
  provider: string;
  kind: "message" | "welcome";
  ts: number;
  message: Uint8Array;
  attempts: number;
  nextTs: number;
}

interface NotifyRecord extends Record<string, SqlStorageValue> {
  seq: number;
  provider: string;
  kind: string;
  ts: number;
  message: ArrayBuffer;
  attempts: number;
  next_ts: number;
}

const toRow = (r: NotifyRecord): NotifyRow => ({
  seq: r.seq,
  provider: r.provider,
  kind: r.kind === "welcome" ? "welcome" : "message",
  ts: r.ts,
  message: new Uint8Array(r.message),
  attempts: r.attempts,
  nextTs: r.next_ts,
});

export class RoomMimiStorage {
  private readonly sql: SqlStorage;

  constructor(storage: DurableObjectStorage) {
    migrate(storage, ROOM_MIMI_SCHEMA);
    this.sql = storage.sql;
  }

  // --- hub: followers and their notify queue ---------------------------------------------------

  followers(): string[] {
    return this.sql.exec<{ provider: string }>(`SELECT provider FROM mimi_followers ORDER BY provider`).toArray().map((r) => r.provider);
  }

  addFollower(provider: string, now: number): void {
    this.sql.exec(`INSERT OR IGNORE INTO mimi_followers (provider, since_ts) VALUES (?, ?)`, provider, now);
  }

  removeFollower(provider: string): void {
    this.sql.exec(`DELETE FROM mimi_followers WHERE provider = ?`, provider);
    this.sql.exec(`DELETE FROM mimi_notify WHERE provider = ?`, provider);
  }

  enqueueNotify(provider: string, kind: NotifyRow["kind"], ts: number, message: Uint8Array): void {
    this.sql.exec(`INSERT INTO mimi_notify (provider, kind, ts, message) VALUES (?, ?, ?, ?)`, provider, kind, ts, message);
  }

  /** The oldest undelivered notify of each follower: delivery is in order, one at a time per follower. */
  heads(): NotifyRow[] {
    return this.sql
      .exec<NotifyRecord>(`SELECT n.* FROM mimi_notify n JOIN (SELECT provider, MIN(seq) AS seq FROM mimi_notify GROUP BY provider) h ON n.seq = h.seq`)
      .toArray()
      .map(toRow);
  }

  head(provider: string): NotifyRow | undefined {
    const r = this.sql.exec<NotifyRecord>(`SELECT * FROM mimi_notify WHERE provider = ? ORDER BY seq LIMIT 1`, provider).toArray()[0];
    return r && toRow(r);
  }

  notifyDelivered(seq: number): void {
    this.sql.exec(`DELETE FROM mimi_notify WHERE seq = ?`, seq);
  }

  notifyFailed(seq: number, nextTs: number): void {
    this.sql.exec(`UPDATE mimi_notify SET attempts = attempts + 1, next_ts = ? WHERE seq = ?`, nextTs, seq);
  }

  pendingNotifies(): Array<{ provider: string; count: number }> {
    return this.sql.exec<{ provider: string; count: number }>(`SELECT provider, COUNT(*) AS count FROM mimi_notify GROUP BY provider ORDER BY provider`).toArray();
  }

  // --- hub: the latest GroupInfo ----------------------------------------------------------------

  setGroupInfo(g: StoredGroupInfo): void {
    this.sql.exec(
      `INSERT INTO mimi_group_info (id, epoch, group_info, ratchet_tree) VALUES (1, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET epoch = excluded.epoch, group_info = excluded.group_info, ratchet_tree = excluded.ratchet_tree`,
      g.epoch,
      g.groupInfo,
      g.ratchetTree ?? null,
    );
  }

  groupInfo(): StoredGroupInfo | undefined {
    const r = this.sql.exec<{ epoch: number; group_info: ArrayBuffer; ratchet_tree: ArrayBuffer | null }>(`SELECT epoch, group_info, ratchet_tree FROM mimi_group_info WHERE id = 1`).toArray()[0];
    if (!r) return undefined;
    return { epoch: r.epoch, groupInfo: new Uint8Array(r.group_info), ...(r.ratchet_tree ? { ratchetTree: new Uint8Array(r.ratchet_tree) } : {}) };
  }

  // --- follower ---------------------------------------------------------------------------------

  hub(): string | undefined {
    return this.sql.exec<{ hub: string }>(`SELECT hub FROM mimi_hub WHERE id = 1`).toArray()[0]?.hub;
  }

  setHub(hub: string): void {
    this.sql.exec(`INSERT INTO mimi_hub (id, hub) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET hub = excluded.hub`, hub);
  }

  /** Records a notify body's hash; false when it was seen before. */
  firstSighting(hash: string, now: number): boolean {
    const before = this.sql.exec(`SELECT 1 FROM mimi_seen WHERE hash = ?`, hash).toArray().length > 0;
    if (!before) this.sql.exec(`INSERT INTO mimi_seen (hash, seen_ts) VALUES (?, ?)`, hash, now);
    return !before;
  }
}

/** The room's MIMI followers, read once and kept in memory: LM fan-out asks about them for every event. */
export class FollowerSet {
  private cache: Set<string> | undefined;
  private listed: string[] | undefined;

  constructor(private readonly store: RoomMimiStorage) {}

  private get set(): Set<string> {
    return (this.cache ??= new Set(this.store.followers()));
  }

  has(provider: string): boolean {
    return this.set.has(provider);
  }

  list(): readonly string[] {
    return (this.listed ??= [...this.set]);
  }

  add(provider: string, now: number): void {
    this.store.addFollower(provider, now);
    this.set.add(provider);
    this.listed = undefined;
  }

  remove(provider: string): void {
    this.store.removeFollower(provider);
    this.set.delete(provider);
    this.listed = undefined;
  }
}
