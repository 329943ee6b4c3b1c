-- Which room an event belongs to, for GET /event/:eventId (whose path names no room). Rooms write
-- it in batches from their outbox, off the per-event path.
CREATE TABLE event_rooms (
  event_id TEXT PRIMARY KEY,
  room_id TEXT NOT NULL
);
