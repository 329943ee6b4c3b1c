// The hub's tables for acting as its room's MLS external sender (room-mls-hub.ts): its signing seed and
// whether the group installed it, the external proposals the next commit must include, and the
// participant list as the hub's proposals have built it (MIMI -06 §7.5, component 0x0022).

import { migrate, runAll, type Schema } from "./do-schema.js";

export const ROOM_MLS_HUB_SCHEMA: Schema = {
  name: "room-mls-hub",
  migrations: [
    {
      version: 1,
      description: "the hub's external-sender key, its pending proposals and the participant list",
      up: runAll([
        // installed = 1 once the group's first commit put the key into external_senders.
        `CREATE TABLE mls_hub_sender (id INTEGER PRIMARY KEY CHECK (id = 1), seed BLOB NOT NULL, installed INTEGER NOT NULL DEFAULT 0)`,
        // leaf: the leaf a Remove proposal removes; NULL for the participant-list AppDataUpdate.
        `CREATE TABLE mls_hub_proposals (seq INTEGER PRIMARY KEY AUTOINCREMENT, ref TEXT NOT NULL UNIQUE, epoch INTEGER NOT NULL, leaf INTEGER, user_id TEXT NOT NULL, message BLOB NOT NULL)`,
        `CREATE TABLE mls_participants (position INTEGER PRIMARY KEY, user_id TEXT NOT NULL UNIQUE, role INTEGER NOT NULL)`,
      ]),
    },
    {
      version: 2,
      description: "members' standalone proposals held beside the hub's own (MIMI update)",
      // proposer: the member (user ID) whose proposal this is; NULL for the hub's own. accepted_ts: when
      // the hub took it (groupInfo's PendingProposal.hub_accepted_time).
      up: runAll([`ALTER TABLE mls_hub_proposals ADD COLUMN proposer TEXT`, `ALTER TABLE mls_hub_proposals ADD COLUMN accepted_ts INTEGER NOT NULL DEFAULT 0`]),
    },
    {
      version: 3,
      description: "a member's held Add or Update stops being required when its user leaves",
      // required = 0: the next commit need not include it; one that does is judged by the roster.
      up: runAll([`ALTER TABLE mls_hub_proposals ADD COLUMN required INTEGER NOT NULL DEFAULT 1`]),
    },
  ],
};

export interface HubProposalRow {
  /** Unpadded base64 ProposalRef. */
  ref: string;
  epoch: number;
  leaf: number | null;
  /** The user whose membership change caused it. */
  userId: string;
  message: Uint8Array;
  /** A member's standalone proposal (a Remove, `leaf`): its user; absent for the hub's own. */
  proposer?: string;
  /** When the hub signed or accepted it (ms). */
  acceptedTs?: number;
  /** A member's Add or Update whose user left: no longer required, still resolvable. */
  lapsed?: true;
}

export class RoomMlsHubStorage {
  private readonly sql: SqlStorage;

  constructor(storage: DurableObjectStorage) {
    migrate(storage, ROOM_MLS_HUB_SCHEMA);
    this.sql = storage.sql;
  }

  sender(): { seed: Uint8Array; installed: boolean } | undefined {
    const row = this.sql.exec<{ seed: ArrayBuffer; installed: number }>(`SELECT seed, installed FROM mls_hub_sender WHERE id = 1`).toArray()[0];
    return row ? { seed: new Uint8Array(row.seed), installed: row.installed === 1 } : undefined;
  }

  createSender(seed: Uint8Array): void {
    this.sql.exec(`INSERT OR IGNORE INTO mls_hub_sender (id, seed) VALUES (1, ?)`, seed);
  }

  markInstalled(): void {
    this.sql.exec(`UPDATE mls_hub_sender SET installed = 1 WHERE id = 1`);
  }

  addProposal(p: HubProposalRow): void {
    this.sql.exec(`INSERT OR IGNORE INTO mls_hub_proposals (ref, epoch, leaf, user_id, message, proposer, accepted_ts) VALUES (?, ?, ?, ?, ?, ?, ?)`, p.ref, p.epoch, p.leaf, p.userId, p.message, p.proposer ?? null, p.acceptedTs ?? 0);
  }

  proposals(): HubProposalRow[] {
    return this.sql
      .exec<{ ref: string; epoch: number; leaf: number | null; user_id: string; message: ArrayBuffer; proposer: string | null; accepted_ts: number; required: number }>(
        `SELECT ref, epoch, leaf, user_id, message, proposer, accepted_ts, required FROM mls_hub_proposals ORDER BY seq`,
      )
      .toArray()
      .map((r) => ({
        ref: r.ref,
        epoch: r.epoch,
        leaf: r.leaf,
        userId: r.user_id,
        message: new Uint8Array(r.message),
        acceptedTs: r.accepted_ts,
        ...(r.proposer !== null ? { proposer: r.proposer } : {}),
        ...(r.required === 0 ? { lapsed: true as const } : {}),
      }));
  }

  /** Members' held Adds of `userId`'s devices and Updates of their leaves (rows with no leaf): not required any more. */
  lapseMemberProposals(userId: string): void {
    this.sql.exec(`UPDATE mls_hub_proposals SET required = 0 WHERE proposer IS NOT NULL AND leaf IS NULL AND user_id = ?`, userId);
  }

  clearProposals(): void {
    this.sql.exec(`DELETE FROM mls_hub_proposals`);
  }

  participants(): Array<{ userId: string; role: number }> {
    return this.sql
      .exec<{ user_id: string; role: number }>(`SELECT user_id, role FROM mls_participants ORDER BY position`)
      .toArray()
      .map((r) => ({ userId: r.user_id, role: r.role }));
  }

  saveParticipants(list: ReadonlyArray<{ userId: string; role: number }>): void {
    this.sql.exec(`DELETE FROM mls_participants`);
    list.forEach((p, i) => this.sql.exec(`INSERT INTO mls_participants (position, user_id, role) VALUES (?, ?, ?)`, i, p.userId, p.role));
  }
}
