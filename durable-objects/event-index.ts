// The D1 index from event ID to room, written by rooms in batches.

const BATCH = 100;

/** Records that these events belong to `roomId` (idempotent). */
export async function indexEvents(db: D1Database, roomId: string, eventIds: readonly string[]): Promise<void> {
  for (let i = 0; i < eventIds.length; i += BATCH) {
    const stmt = db.prepare(`INSERT OR IGNORE INTO event_rooms (event_id, room_id) VALUES (?, ?)`);
    await db.batch(eventIds.slice(i, i + BATCH).map((id) => stmt.bind(id, roomId)));
  }
}
