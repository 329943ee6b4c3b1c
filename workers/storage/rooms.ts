// The rooms this server knows (hosted here or joined through another hub) and room aliases.

export interface RoomRow {
  room_id: string;
  room_version: string;
  hub_server: string;
  creator: string | null;
  created_ts: number;
}

/** Records a room on creation or first join (idempotent). */
export function insertRoom(db: D1Database, r: RoomRow): D1PreparedStatement {
  return db
    .prepare(`INSERT OR IGNORE INTO rooms (room_id, room_version, hub_server, creator, created_ts) VALUES (?, ?, ?, ?, ?)`)
    .bind(r.room_id, r.room_version, r.hub_server, r.creator, r.created_ts);
}

/** One room's record. */
export async function getRoom(db: D1Database, roomId: string): Promise<RoomRow | null> {
  return db.prepare(`SELECT room_id, room_version, hub_server, creator, created_ts FROM rooms WHERE room_id = ?`).bind(roomId).first<RoomRow>();
}

/** Rooms in creation order, a page at a time (admin listing). */
export async function listRooms(db: D1Database, limit: number, afterTs = 0): Promise<RoomRow[]> {
  const res = await db
    .prepare(`SELECT room_id, room_version, hub_server, creator, created_ts FROM rooms WHERE created_ts > ? ORDER BY created_ts LIMIT ?`)
    .bind(afterTs, limit)
    .all<RoomRow>();
  return res.results;
}

/** IDs of rooms hosted by `hub`, in ID order after `afterRoomId`, a page at a time. */
export async function hubRoomIds(db: D1Database, hub: string, afterRoomId: string, limit: number): Promise<string[]> {
  const res = await db
    .prepare(`SELECT room_id FROM rooms WHERE hub_server = ? AND room_id > ? ORDER BY room_id LIMIT ?`)
    .bind(hub, afterRoomId, limit)
    .all<{ room_id: string }>();
  return res.results.map((r) => r.room_id);
}

/** Maps an alias to a room; fails on a taken alias (the caller answers M_ROOM_IN_USE). */
export function insertAlias(db: D1Database, alias: string, roomId: string, creator: string, now: number): D1PreparedStatement {
  return db.prepare(`INSERT INTO room_aliases (alias, room_id, creator, created_ts) VALUES (?, ?, ?, ?)`).bind(alias, roomId, creator, now);
}

/** The room an alias points to. */
export async function getAlias(db: D1Database, alias: string): Promise<{ room_id: string; creator: string } | null> {
  return db.prepare(`SELECT room_id, creator FROM room_aliases WHERE alias = ?`).bind(alias).first<{ room_id: string; creator: string }>();
}

/** Removes an alias. */
export function deleteAlias(db: D1Database, alias: string): D1PreparedStatement {
  return db.prepare(`DELETE FROM room_aliases WHERE alias = ?`).bind(alias);
}

/** The room an event belongs to, from the index rooms write in batches (it may lag a second or so). */
export async function roomOfEvent(db: D1Database, eventId: string): Promise<string | undefined> {
  const row = await db.prepare(`SELECT room_id FROM event_rooms WHERE event_id = ?`).bind(eventId).first<{ room_id: string }>();
  return row?.room_id;
}
