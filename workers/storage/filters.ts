// Stored sync filters.

/** Saves a filter under a new ID for its user. */
export function insertFilter(db: D1Database, userId: string, filterId: string, json: string, now: number): D1PreparedStatement {
  return db.prepare(`INSERT INTO filters (user_id, filter_id, filter_json, created_ts) VALUES (?, ?, ?, ?)`).bind(userId, filterId, json, now);
}

/** A user's filter by ID. */
export async function getFilter(db: D1Database, userId: string, filterId: string): Promise<string | null> {
  const row = await db.prepare(`SELECT filter_json FROM filters WHERE user_id = ? AND filter_id = ?`).bind(userId, filterId).first<{ filter_json: string }>();
  return row?.filter_json ?? null;
}
