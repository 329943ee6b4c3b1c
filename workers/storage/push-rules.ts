// The `push_rules` table: one document per user, replaced whole under a version check.

export interface StoredPushRules {
  doc: string;
  version: number;
}

export async function getPushRules(db: D1Database, userId: string): Promise<StoredPushRules | null> {
  return db.prepare(`SELECT doc, version FROM push_rules WHERE user_id = ?`).bind(userId).first<StoredPushRules>();
}

/**
 * Writes the document if it is still at `expected` (0: none stored yet). The statement changes no
 * row when another write won the race; the caller reads `meta.changes` and tries again.
 */
export function putPushRules(db: D1Database, userId: string, doc: string, expected: number, now: number): D1PreparedStatement {
  if (expected === 0) {
    return db.prepare(`INSERT INTO push_rules (user_id, doc, version, updated_ts) VALUES (?, ?, 1, ?) ON CONFLICT (user_id) DO NOTHING`).bind(userId, doc, now);
  }
  return db.prepare(`UPDATE push_rules SET doc = ?, version = version + 1, updated_ts = ? WHERE user_id = ? AND version = ?`).bind(doc, now, userId, expected);
}
