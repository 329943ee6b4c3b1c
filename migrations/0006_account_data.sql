-- Per-user client configuration (PUT /user/{userId}/account_data/{type}); room_id '' holds global
-- entries so one primary key covers both global and per-room data.
CREATE TABLE account_data (
  user_id TEXT NOT NULL,
  room_id TEXT NOT NULL,
  type TEXT NOT NULL,
  content TEXT NOT NULL,
  updated_ts INTEGER NOT NULL,
  PRIMARY KEY (user_id, room_id, type)
);
