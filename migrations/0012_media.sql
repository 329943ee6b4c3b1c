-- Media metadata; the bytes live in R2 under r2_key. One row per mxc://origin/media_id: our own
-- uploads (uploader set) and remote media cached on demand (uploader NULL). A row made by
-- POST /media/v1/create has no r2_key until its PUT upload lands; unused, it expires at
-- unused_expires_ts.
CREATE TABLE media (
  origin TEXT NOT NULL,
  media_id TEXT NOT NULL,
  uploader TEXT,
  r2_key TEXT,
  content_type TEXT,
  filename TEXT,
  size INTEGER,
  created_ts INTEGER NOT NULL,
  uploaded_ts INTEGER,
  unused_expires_ts INTEGER,
  PRIMARY KEY (origin, media_id)
);
CREATE INDEX media_pending_by_uploader ON media (uploader, unused_expires_ts) WHERE r2_key IS NULL;
