// The `ghost_device_streams` table: each converter ghost's device-list stream position.

/** The ghost's current position (0 before its first announcement). */
export async function ghostStreamId(db: D1Database, userId: string): Promise<number> {
  const row = await db.prepare("SELECT stream_id FROM ghost_device_streams WHERE user_id = ?").bind(userId).first<{ stream_id: number }>();
  return row?.stream_id ?? 0;
}

/** Moves the ghost's position on by one, atomically; the position before and after. */
export async function advanceGhostStream(db: D1Database, userId: string): Promise<{ prev: number; next: number }> {
  const row = await db
    .prepare("INSERT INTO ghost_device_streams (user_id, stream_id) VALUES (?, 1) ON CONFLICT (user_id) DO UPDATE SET stream_id = stream_id + 1 RETURNING stream_id")
    .bind(userId)
    .first<{ stream_id: number }>();
  const next = row?.stream_id ?? 1;
  return { prev: next - 1, next };
}
