-- Cross-signing (issue 18): each user's master, self-signing and user-signing keys as uploaded.
CREATE TABLE e2e_cross_signing_keys (
  user_id TEXT NOT NULL,
  usage TEXT NOT NULL,
  key_json TEXT NOT NULL,
  updated_ts INTEGER NOT NULL,
  PRIMARY KEY (user_id, usage)
);

-- Signatures uploaded through POST /keys/signatures/upload, kept apart from the signed objects so a
-- device re-uploading its own keys does not lose them. target_key_id is a device ID or a
-- cross-signing public key; signer_key_id is "ed25519:<device ID or public key>".
CREATE TABLE e2e_cross_signing_signatures (
  target_user_id TEXT NOT NULL,
  target_key_id TEXT NOT NULL,
  signer_user_id TEXT NOT NULL,
  signer_key_id TEXT NOT NULL,
  signature TEXT NOT NULL,
  PRIMARY KEY (target_user_id, target_key_id, signer_user_id, signer_key_id)
);

-- Server-side key backup (room_keys): versions per user, and the encrypted session keys in each.
-- The server never holds a key that decrypts them. etag changes whenever a version's keys change.
CREATE TABLE e2e_room_key_versions (
  user_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  algorithm TEXT NOT NULL,
  auth_data TEXT NOT NULL,
  etag INTEGER NOT NULL DEFAULT 0,
  deleted INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (user_id, version)
);

CREATE TABLE e2e_room_keys (
  user_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  room_id TEXT NOT NULL,
  session_id TEXT NOT NULL,
  first_message_index INTEGER NOT NULL,
  forwarded_count INTEGER NOT NULL,
  is_verified INTEGER NOT NULL,
  session_data TEXT NOT NULL,
  PRIMARY KEY (user_id, version, room_id, session_id)
);
