-- The public room directory (issue 18): rooms published with visibility "public" at creation or
-- through PUT /directory/list/room/{roomId}.
CREATE TABLE room_directory (
  room_id TEXT PRIMARY KEY,
  added_ts INTEGER NOT NULL
);
