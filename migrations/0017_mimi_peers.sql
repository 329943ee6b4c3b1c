-- MIMI providers this server accepts, by the SHA-256 fingerprint of their TLS client certificate
-- (issue 17 item 6; see SECURITY.md "MIMI provider authentication"). Managed by the admin CLI.
CREATE TABLE mimi_peers (
  fingerprint TEXT PRIMARY KEY,   -- 64 lowercase hex digits, as request.cf.tlsClientAuth reports it
  domain TEXT NOT NULL,           -- the provider domain that certificate authenticates
  added_ts INTEGER NOT NULL
);
CREATE INDEX mimi_peers_domain ON mimi_peers (domain);
