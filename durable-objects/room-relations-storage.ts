// The Room's relations index: which events relate to which (m.relates_to with a rel_type: threads,
// edits, reactions, replies in threads), at which timeline position. Written with each committed
// event; read by /relations, /threads and the bundled aggregations of thread roots.

import { migrate, runAll, type Schema } from "./do-schema.js";

export const RELATIONS_SCHEMA: Schema = {
  name: "room-relations",
  migrations: [
    {
      version: 1,
      description: "relations index (child event -> parent event, rel_type, position), filled from the events already stored",
      up: runAll([
        `CREATE TABLE IF NOT EXISTS relations (event_id TEXT PRIMARY KEY, parent_id TEXT NOT NULL, rel_type TEXT NOT NULL, type TEXT NOT NULL, sender TEXT NOT NULL, pos INTEGER NOT NULL)`,
        `CREATE INDEX IF NOT EXISTS relations_by_parent ON relations (parent_id, rel_type, pos)`,
        `CREATE INDEX IF NOT EXISTS relations_by_type ON relations (rel_type, pos)`,
        // Rooms that already hold events: index what they have (the events table exists first).
        `INSERT OR IGNORE INTO relations (event_id, parent_id, rel_type, type, sender, pos)
           SELECT event_id, json_extract(json, '$.content."m.relates_to".event_id'), json_extract(json, '$.content."m.relates_to".rel_type'), type, sender, pos
             FROM events
            WHERE pos IS NOT NULL
              AND json_valid(json)
              AND json_type(json, '$.content."m.relates_to".event_id') = 'text'
              AND json_type(json, '$.content."m.relates_to".rel_type') = 'text'`,
      ]),
    },
  ],
};

export interface RelationRow {
  eventId: string;
  pos: number;
}

export interface ThreadSummaryRow {
  rootId: string;
  count: number;
  latestEventId: string;
  participated: boolean;
}

export class RelationsStore {
  private readonly sql: SqlStorage;

  constructor(storage: DurableObjectStorage) {
    migrate(storage, RELATIONS_SCHEMA);
    this.sql = storage.sql;
  }

  record(r: { eventId: string; parentId: string; relType: string; type: string; sender: string; pos: number }): void {
    this.sql.exec(`INSERT OR IGNORE INTO relations (event_id, parent_id, rel_type, type, sender, pos) VALUES (?, ?, ?, ?, ?, ?)`, r.eventId, r.parentId, r.relType, r.type, r.sender, r.pos);
  }

  /** Children of `parentId`, newest first (dir b) or oldest first (dir f), strictly beyond `from`. */
  children(args: { parentId: string; relType?: string; eventType?: string; from?: number; to?: number; dir: "b" | "f"; limit: number }): RelationRow[] {
    const where = ["parent_id = ?"];
    const binds: Array<string | number> = [args.parentId];
    if (args.relType !== undefined) {
      where.push("rel_type = ?");
      binds.push(args.relType);
    }
    if (args.eventType !== undefined) {
      where.push("type = ?");
      binds.push(args.eventType);
    }
    const [beyond, until] = args.dir === "b" ? ["pos < ?", "pos > ?"] : ["pos > ?", "pos < ?"];
    if (args.from !== undefined) {
      where.push(beyond);
      binds.push(args.from);
    }
    if (args.to !== undefined) {
      where.push(until);
      binds.push(args.to);
    }
    return this.sql
      .exec<{ event_id: string; pos: number }>(`SELECT event_id, pos FROM relations WHERE ${where.join(" AND ")} ORDER BY pos ${args.dir === "b" ? "DESC" : "ASC"} LIMIT ?`, ...binds, args.limit)
      .toArray()
      .map((r) => ({ eventId: r.event_id, pos: r.pos }));
  }

  /** Per thread root: replies, the latest reply, and whether `userId` wrote the root or a reply. */
  threadSummaries(rootIds: readonly string[], userId: string, rootSenders: ReadonlyMap<string, string>): ThreadSummaryRow[] {
    const out: ThreadSummaryRow[] = [];
    for (const rootId of rootIds) {
      const row = this.sql
        .exec<{ n: number; latest: string | null; mine: number }>(
          `SELECT COUNT(*) AS n, (SELECT event_id FROM relations WHERE parent_id = ?1 AND rel_type = 'm.thread' ORDER BY pos DESC LIMIT 1) AS latest,
                  SUM(sender = ?2) AS mine
             FROM relations WHERE parent_id = ?1 AND rel_type = 'm.thread'`,
          rootId,
          userId,
        )
        .toArray()[0];
      if (!row || row.n === 0 || row.latest === null) continue;
      out.push({ rootId, count: row.n, latestEventId: row.latest, participated: (row.mine ?? 0) > 0 || rootSenders.get(rootId) === userId });
    }
    return out;
  }

  /** Thread roots ordered by their latest reply, newest first, below position `before`. */
  threadRoots(args: { before?: number; limit: number; participant?: string }): Array<{ rootId: string; latestPos: number }> {
    const having = args.before !== undefined ? "HAVING MAX(pos) < ?" : "";
    const filter = args.participant !== undefined ? "AND parent_id IN (SELECT parent_id FROM relations WHERE rel_type = 'm.thread' AND sender = ?)" : "";
    const binds: Array<string | number> = [];
    if (args.participant !== undefined) binds.push(args.participant);
    if (args.before !== undefined) binds.push(args.before);
    return this.sql
      .exec<{ parent_id: string; latest: number }>(`SELECT parent_id, MAX(pos) AS latest FROM relations WHERE rel_type = 'm.thread' ${filter} GROUP BY parent_id ${having} ORDER BY latest DESC LIMIT ?`, ...binds, args.limit)
      .toArray()
      .map((r) => ({ rootId: r.parent_id, latestPos: r.latest }));
  }
}
