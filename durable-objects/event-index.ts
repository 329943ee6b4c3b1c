// The D1 index from event ID to room, written by rooms in batches.

/** IDs per statement: one JSON array parameter of ≈ 45 bytes per ID stays far below D1's value limit. */
const BATCH = 1_000;

/**
 * Records that these events belong to `roomId` (idempotent). One statement per batch: a
 * statement per ID costs a result object each, which showed up in the B1 profile.
 */
export async function indexEvents(db: D1Database, roomId: string, eventIds: readonly string[]): Promise<void> {
  for (let i = 0; i < eventIds.length; i += BATCH) {
    await db
      .prepare(`INSERT OR IGNORE INTO event_rooms (event_id, room_id) SELECT value, ?1 FROM json_each(?2)`)
      .bind(roomId, JSON.stringify(eventIds.slice(i, i + BATCH)))
      .run();
  }
}
