// The `presence` table: each local user's last presence, status message and activity time.

export interface PresenceRow {
  userId: string;
  presence: string;
  statusMsg: string | null;
  lastActiveTs: number;
}

export function putPresence(db: D1Database, r: PresenceRow): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO presence (user_id, presence, status_msg, last_active_ts) VALUES (?, ?, ?, ?)
         ON CONFLICT (user_id) DO UPDATE SET presence = excluded.presence, status_msg = excluded.status_msg, last_active_ts = excluded.last_active_ts`,
    )
    .bind(r.userId, r.presence, r.statusMsg, r.lastActiveTs);
}

export async function listPresence(db: D1Database, userIds: readonly string[]): Promise<PresenceRow[]> {
  const out: PresenceRow[] = [];
  for (let i = 0; i < userIds.length; i += 90) {
    const part = userIds.slice(i, i + 90);
    const { results } = await db
      .prepare(`SELECT user_id, presence, status_msg, last_active_ts FROM presence WHERE user_id IN (${part.map(() => "?").join(",")})`)
      .bind(...part)
      .all<{ user_id: string; presence: string; status_msg: string | null; last_active_ts: number }>();
    for (const r of results) out.push({ userId: r.user_id, presence: r.presence, statusMsg: r.status_msg, lastActiveTs: r.last_active_ts });
  }
  return out;
}
