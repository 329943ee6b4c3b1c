// The `account_data` table: per-user client configuration, global (room_id '') or per room.

const GLOBAL = "";

/** Stores (or replaces) one entry; `roomId` undefined means global account data. */
export function putAccountData(db: D1Database, userId: string, roomId: string | undefined, type: string, contentJson: string, now: number): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO account_data (user_id, room_id, type, content, updated_ts) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (user_id, room_id, type) DO UPDATE SET content = excluded.content, updated_ts = excluded.updated_ts`,
    )
    .bind(userId, roomId ?? GLOBAL, type, contentJson, now);
}

/** One entry's content as stored JSON, or null. */
export async function getAccountData(db: D1Database, userId: string, roomId: string | undefined, type: string): Promise<string | null> {
  const row = await db
    .prepare(`SELECT content FROM account_data WHERE user_id = ? AND room_id = ? AND type = ?`)
    .bind(userId, roomId ?? GLOBAL, type)
    .first<{ content: string }>();
  return row?.content ?? null;
}

/** Every entry of a user, global ones with room_id '' (initial sync). */
export async function listAccountData(db: D1Database, userId: string): Promise<Array<{ room_id: string; type: string; content: string }>> {
  const res = await db.prepare(`SELECT room_id, type, content FROM account_data WHERE user_id = ?`).bind(userId).all<{ room_id: string; type: string; content: string }>();
  return res.results;
}
