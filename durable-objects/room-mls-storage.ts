// The Room's MLS tables in its SQLite: the roster (epoch, occupied leaves, pending removals), the
// accepted commits (event ID -> epoch), and Welcomes held until their commit is accepted. Leaves are
// one row each and written as deltas (the leaves a commit adds or removes), so accepting a commit in a
// group of 1,000 devices writes a handful of rows, not the whole roster.

import { migrate, runAll, type Schema } from "./do-schema.js";
import type { RemovalCause, Roster, RosterLeaf } from "../shared/mls-roster.js";

/** The tables as the room first created them; IF NOT EXISTS lets migration 1 adopt them. */
const INITIAL_TABLES = [
  // At most one row (id = 1): present once the group exists (the hub), or once a participant saw its creation.
  `CREATE TABLE IF NOT EXISTS mls_group (id INTEGER PRIMARY KEY CHECK (id = 1), epoch INTEGER NOT NULL, removal_epoch INTEGER NOT NULL)`,
  // Occupied leaves only: a missing index is a blank leaf, and the highest row ends the (truncated) tree.
  `CREATE TABLE IF NOT EXISTS mls_leaves (leaf INTEGER PRIMARY KEY, user_id TEXT NOT NULL, device_id TEXT NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS mls_pending (leaf INTEGER PRIMARY KEY, cause TEXT NOT NULL)`,
  // A participant that does not follow the roster (it joined after the group's creation) has this row.
  `CREATE TABLE IF NOT EXISTS mls_untracked (id INTEGER PRIMARY KEY CHECK (id = 1))`,
  // Every accepted m.mls.commit and the epoch it was for (it moved the group to epoch + 1).
  `CREATE TABLE IF NOT EXISTS mls_commits (event_id TEXT PRIMARY KEY, epoch INTEGER NOT NULL, pos INTEGER NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS mls_held_welcomes (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     commit_event_id TEXT NOT NULL,
     sender TEXT NOT NULL,
     message_id TEXT NOT NULL,
     type TEXT NOT NULL,
     messages_json TEXT NOT NULL,
     expires_ts INTEGER NOT NULL
   )`,
  `CREATE INDEX IF NOT EXISTS mls_held_by_commit ON mls_held_welcomes (commit_event_id)`,
];

/** Versioned (do-schema.ts); the Room's storage modules share one database, one schema name each. */
export const ROOM_MLS_SCHEMA: Schema = {
  name: "room-mls",
  migrations: [
    {
      version: 1,
      description: "the MLS roster, accepted commits and held Welcomes",
      up: runAll(INITIAL_TABLES),
    },
  ],
};

export interface HeldWelcome {
  seq: number;
  commitEventId: string;
  sender: string;
  messageId: string;
  type: string;
  messagesJson: string;
}

export class RoomMlsStorage {
  private readonly sql: SqlStorage;

  constructor(storage: DurableObjectStorage) {
    migrate(storage, ROOM_MLS_SCHEMA);
    this.sql = storage.sql;
  }

  /** The persisted roster, or null before the group exists (or while a participant does not follow it). */
  loadRoster(roomId: string): Roster | null {
    const group = this.sql.exec<{ epoch: number; removal_epoch: number }>(`SELECT epoch, removal_epoch FROM mls_group WHERE id = 1`).toArray()[0];
    if (!group) return null;
    const leaves: (RosterLeaf | null)[] = [];
    for (const r of this.sql.exec<{ leaf: number; user_id: string; device_id: string }>(`SELECT leaf, user_id, device_id FROM mls_leaves ORDER BY leaf`)) {
      while (leaves.length < r.leaf) leaves.push(null);
      leaves.push({ userId: r.user_id, deviceId: r.device_id });
    }
    const pending = this.sql
      .exec<{ leaf: number; cause: string }>(`SELECT leaf, cause FROM mls_pending ORDER BY leaf`)
      .toArray()
      .map((r) => ({ leaf: r.leaf, cause: r.cause as RemovalCause }));
    return { roomId, epoch: group.epoch, leaves, pending, removalEpoch: group.removal_epoch };
  }

  /** Writes a whole roster (group creation; a participant adopting one). */
  saveRoster(roster: Roster): void {
    this.sql.exec(`DELETE FROM mls_leaves`);
    roster.leaves.forEach((l, leaf) => {
      if (l) this.sql.exec(`INSERT INTO mls_leaves (leaf, user_id, device_id) VALUES (?, ?, ?)`, leaf, l.userId, l.deviceId);
    });
    this.saveGroup(roster);
    this.savePending(roster);
  }

  /** Writes what one accepted commit changed: the leaves it emptied and filled, the epochs, no pending removals. */
  saveCommitDelta(roster: Roster, removed: readonly number[], added: ReadonlyArray<{ leaf: number; userId: string; deviceId: string }>): void {
    for (const leaf of removed) this.sql.exec(`DELETE FROM mls_leaves WHERE leaf = ?`, leaf);
    for (const a of added) this.sql.exec(`INSERT OR REPLACE INTO mls_leaves (leaf, user_id, device_id) VALUES (?, ?, ?)`, a.leaf, a.userId, a.deviceId);
    this.saveGroup(roster);
    this.savePending(roster);
  }

  private saveGroup(roster: Roster): void {
    this.sql.exec(
      `INSERT INTO mls_group (id, epoch, removal_epoch) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET epoch = excluded.epoch, removal_epoch = excluded.removal_epoch`,
      roster.epoch,
      roster.removalEpoch,
    );
  }

  /** Replaces the pending removals (they are few: the devices of users who just left). */
  savePending(roster: Roster): void {
    this.sql.exec(`DELETE FROM mls_pending`);
    for (const p of roster.pending) this.sql.exec(`INSERT INTO mls_pending (leaf, cause) VALUES (?, ?)`, p.leaf, p.cause);
  }

  /** A participant that can no longer follow the group forgets its roster. */
  dropRoster(): void {
    this.sql.exec(`DELETE FROM mls_group`);
    this.sql.exec(`DELETE FROM mls_leaves`);
    this.sql.exec(`DELETE FROM mls_pending`);
  }

  markUntracked(): void {
    this.sql.exec(`INSERT OR IGNORE INTO mls_untracked (id) VALUES (1)`);
  }

  isUntracked(): boolean {
    return this.sql.exec(`SELECT 1 FROM mls_untracked WHERE id = 1`).toArray().length > 0;
  }

  // --- accepted commits -----------------------------------------------------------------------

  recordCommit(eventId: string, epoch: number, pos: number): void {
    this.sql.exec(`INSERT OR IGNORE INTO mls_commits (event_id, epoch, pos) VALUES (?, ?, ?)`, eventId, epoch, pos);
  }

  /** The accepted commit that moved the group into `epoch` (it was for epoch - 1). */
  commitInto(epoch: number): string | undefined {
    return this.sql.exec<{ event_id: string }>(`SELECT event_id FROM mls_commits WHERE epoch = ?`, epoch - 1).toArray()[0]?.event_id;
  }

  /** The epoch an accepted commit was for, or undefined when the event is not an accepted commit. */
  commitEpoch(eventId: string): number | undefined {
    return this.sql.exec<{ epoch: number }>(`SELECT epoch FROM mls_commits WHERE event_id = ?`, eventId).toArray()[0]?.epoch;
  }

  // --- Welcomes held until their commit is accepted ---------------------------------------------

  holdWelcome(w: Omit<HeldWelcome, "seq">, expiresTs: number): void {
    this.sql.exec(
      `INSERT INTO mls_held_welcomes (commit_event_id, sender, message_id, type, messages_json, expires_ts) VALUES (?, ?, ?, ?, ?, ?)`,
      w.commitEventId,
      w.sender,
      w.messageId,
      w.type,
      w.messagesJson,
      expiresTs,
    );
  }

  /** Drops held Welcomes whose hold period ended: their commit never became accepted in time. */
  dropExpiredWelcomes(now: number): void {
    this.sql.exec(`DELETE FROM mls_held_welcomes WHERE expires_ts <= ?`, now);
  }

  heldWelcomeCount(): number {
    return this.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM mls_held_welcomes`).one().n;
  }

  /** Held Welcomes whose commit is now accepted (still within their hold period). */
  releasableWelcomes(now: number): HeldWelcome[] {
    return this.sql
      .exec<{ seq: number; commit_event_id: string; sender: string; message_id: string; type: string; messages_json: string }>(
        `SELECT h.seq, h.commit_event_id, h.sender, h.message_id, h.type, h.messages_json FROM mls_held_welcomes h
           JOIN mls_commits c ON c.event_id = h.commit_event_id WHERE h.expires_ts > ? ORDER BY h.seq`,
        now,
      )
      .toArray()
      .map((r) => ({ seq: r.seq, commitEventId: r.commit_event_id, sender: r.sender, messageId: r.message_id, type: r.type, messagesJson: r.messages_json }));
  }

  deleteHeldWelcome(seq: number): void {
    this.sql.exec(`DELETE FROM mls_held_welcomes WHERE seq = ?`, seq);
  }
}
