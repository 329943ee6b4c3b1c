-- End-to-end encryption keys (issue 7): device credentials, one-time keys and MLS KeyPackages,
-- fallback / last-resort keys, and to-device transaction IDs. The hub stores public keys only.

-- One signed device object per device: the draft's device credential object, which is also Matrix's
-- DeviceKeys. Stored exactly as the device signed it (minus `unsigned`).
CREATE TABLE e2e_device_keys (
  user_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  key_json TEXT NOT NULL,
  updated_ts INTEGER NOT NULL,
  PRIMARY KEY (user_id, device_id)
);

-- One-time keys and KeyPackages. A claim deletes the row it hands out in the same statement that
-- picks it, so each row is handed out at most once. The implicit rowid orders claims oldest first;
-- expires_ts (ms, NULL = no lifetime) keeps expired KeyPackages from ever being handed out.
CREATE TABLE e2e_one_time_keys (
  user_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  algorithm TEXT NOT NULL,
  key_version TEXT NOT NULL,
  key_json TEXT NOT NULL,
  expires_ts INTEGER,
  uploaded_ts INTEGER NOT NULL,
  UNIQUE (user_id, device_id, algorithm, key_version)
);

-- Fallback keys (Olm) and last-resort KeyPackages (MLS): at most one per device and algorithm, handed
-- out only when no one-time key of that algorithm remains, and then as often as needed until replaced.
CREATE TABLE e2e_fallback_keys (
  user_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  algorithm TEXT NOT NULL,
  key_version TEXT NOT NULL,
  key_json TEXT NOT NULL,
  expires_ts INTEGER,
  used INTEGER NOT NULL DEFAULT 0,
  uploaded_ts INTEGER NOT NULL,
  PRIMARY KEY (user_id, device_id, algorithm)
);

-- PUT /sendToDevice transaction IDs already handled per device, so a retried request is not
-- delivered twice. Old rows are pruned as the device sends more.
CREATE TABLE e2e_to_device_txns (
  user_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  txn_id TEXT NOT NULL,
  created_ts INTEGER NOT NULL,
  PRIMARY KEY (user_id, device_id, txn_id)
);
