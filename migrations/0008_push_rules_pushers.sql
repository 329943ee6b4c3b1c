-- Push rules (issue 18): one document per user holding their own rules and their changes to the
-- predefined ones (shared/push-rules.ts). `version` guards read-modify-write against a lost update.
CREATE TABLE push_rules (
  user_id TEXT PRIMARY KEY,
  doc TEXT NOT NULL,
  version INTEGER NOT NULL,
  updated_ts INTEGER NOT NULL
);

-- Pushers set by clients (POST /pushers/set). Kept and listed; no push gateway is called yet.
-- device_id is the device whose token set the pusher, so the pusher goes when the device does.
CREATE TABLE pushers (
  user_id TEXT NOT NULL,
  app_id TEXT NOT NULL,
  pushkey TEXT NOT NULL,
  device_id TEXT NOT NULL,
  pusher_json TEXT NOT NULL,
  created_ts INTEGER NOT NULL,
  PRIMARY KEY (user_id, app_id, pushkey)
);
