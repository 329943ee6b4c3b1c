-- Presence (issue 18), kept simple: what each local user last set, and when they were last active.
CREATE TABLE presence (
  user_id TEXT PRIMARY KEY,
  presence TEXT NOT NULL,
  status_msg TEXT,
  last_active_ts INTEGER NOT NULL
);
