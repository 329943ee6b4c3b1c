// The `room_directory` table: which rooms are listed in this server's public room directory.

export function publishRoom(db: D1Database, roomId: string, now: number): D1PreparedStatement {
  return db.prepare(`INSERT INTO room_directory (room_id, added_ts) VALUES (?, ?) ON CONFLICT (room_id) DO NOTHING`).bind(roomId, now);
}

export function unpublishRoom(db: D1Database, roomId: string): D1PreparedStatement {
  return db.prepare(`DELETE FROM room_directory WHERE room_id = ?`).bind(roomId);
}

export async function isPublished(db: D1Database, roomId: string): Promise<boolean> {
  return (await db.prepare(`SELECT 1 AS x FROM room_directory WHERE room_id = ?`).bind(roomId).first()) !== null;
}

/** Listed rooms, oldest listing first. */
export async function listPublished(db: D1Database, limit: number): Promise<string[]> {
  const { results } = await db.prepare(`SELECT room_id FROM room_directory ORDER BY added_ts, room_id LIMIT ?`).bind(limit).all<{ room_id: string }>();
  return results.map((r) => r.room_id);
}
