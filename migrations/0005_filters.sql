-- Sync filters uploaded by clients (POST /user/{userId}/filter).
CREATE TABLE filters (
  user_id TEXT NOT NULL,
  filter_id TEXT NOT NULL,
  filter_json TEXT NOT NULL,
  created_ts INTEGER NOT NULL,
  PRIMARY KEY (user_id, filter_id)
);
