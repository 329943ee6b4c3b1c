-- Accounts, devices and access tokens (tokens stored as SHA-256 hashes, passwords as PBKDF2).
CREATE TABLE users (
  user_id TEXT PRIMARY KEY,
  password_hash TEXT,
  displayname TEXT,
  avatar_url TEXT,
  is_admin INTEGER NOT NULL DEFAULT 0,
  deactivated INTEGER NOT NULL DEFAULT 0,
  created_ts INTEGER NOT NULL
);

CREATE TABLE devices (
  user_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  display_name TEXT,
  created_ts INTEGER NOT NULL,
  last_seen_ts INTEGER,
  PRIMARY KEY (user_id, device_id)
);

CREATE TABLE access_tokens (
  token_hash TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  created_ts INTEGER NOT NULL
);
CREATE INDEX access_tokens_by_device ON access_tokens (user_id, device_id);

-- Remote servers' signing keys, as fetched from them (or a notary), kept past expiry so old
-- signatures stay checkable.
CREATE TABLE remote_server_keys (
  server_name TEXT NOT NULL,
  key_id TEXT NOT NULL,
  public_key TEXT NOT NULL,
  valid_until_ts INTEGER NOT NULL,
  expired_ts INTEGER,
  fetched_ts INTEGER NOT NULL,
  PRIMARY KEY (server_name, key_id)
);

-- The signed key documents as received, served again by the notary endpoints.
CREATE TABLE remote_key_documents (
  server_name TEXT NOT NULL,
  key_ids TEXT NOT NULL,
  valid_until_ts INTEGER NOT NULL,
  document TEXT NOT NULL,
  fetched_ts INTEGER NOT NULL,
  PRIMARY KEY (server_name, key_ids)
);

-- Rooms this server knows (hosted here or joined through another hub). Written on room creation
-- and first join only, never per event.
CREATE TABLE rooms (
  room_id TEXT PRIMARY KEY,
  room_version TEXT NOT NULL,
  hub_server TEXT NOT NULL,
  creator TEXT,
  created_ts INTEGER NOT NULL
);

CREATE TABLE room_aliases (
  alias TEXT PRIMARY KEY,
  room_id TEXT NOT NULL,
  creator TEXT NOT NULL,
  created_ts INTEGER NOT NULL
);
CREATE INDEX room_aliases_by_room ON room_aliases (room_id);
