// The `e2e_fallback_keys` table: one fallback key (Olm) or last-resort KeyPackage (MLS) per device and
// algorithm. It is handed out only when no unexpired one-time key of its algorithm remains, may be
// handed out repeatedly, and is reported unused to the device until first handed out.

import type { UploadedKey } from "../../shared/one-time-keys.js";

/** Stores a device's fallback key for its algorithm; re-uploading the same key keeps its used flag. */
export function putFallbackKey(db: D1Database, userId: string, deviceId: string, key: UploadedKey, now: number): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO e2e_fallback_keys (user_id, device_id, algorithm, key_version, key_json, expires_ts, used, uploaded_ts)
         VALUES (?, ?, ?, ?, ?, ?, 0, ?)
         ON CONFLICT (user_id, device_id, algorithm) DO UPDATE SET
           used = CASE WHEN key_version = excluded.key_version AND key_json = excluded.key_json THEN used ELSE 0 END,
           key_version = excluded.key_version, key_json = excluded.key_json, expires_ts = excluded.expires_ts,
           uploaded_ts = excluded.uploaded_ts`,
    )
    .bind(userId, deviceId, key.algorithm, key.version, key.json, key.expiresTs, now);
}

/**
 * Hands out the fallback key, marking it used, but only if no unexpired one-time key of the algorithm
 * is left (the one-time claim found none; one uploaded since then takes precedence again).
 */
export function claimFallbackKey(db: D1Database, userId: string, deviceId: string, algorithm: string, now: number): D1PreparedStatement {
  return db
    .prepare(
      `UPDATE e2e_fallback_keys SET used = 1
        WHERE user_id = ?1 AND device_id = ?2 AND algorithm = ?3 AND (expires_ts IS NULL OR expires_ts > ?4)
          AND EXISTS (SELECT 1 FROM devices d WHERE d.user_id = ?1 AND d.device_id = ?2)
          AND NOT EXISTS (SELECT 1 FROM e2e_one_time_keys o WHERE o.user_id = ?1 AND o.device_id = ?2 AND o.algorithm = ?3
                            AND (o.expires_ts IS NULL OR o.expires_ts > ?4))
       RETURNING algorithm, key_version, key_json`,
    )
    .bind(userId, deviceId, algorithm, now);
}

/** Algorithms whose fallback key has not been handed out yet (and has not expired). */
export function unusedFallbackKeyTypes(db: D1Database, userId: string, deviceId: string, now: number): D1PreparedStatement {
  return db
    .prepare(`SELECT algorithm, expires_ts FROM e2e_fallback_keys WHERE user_id = ? AND device_id = ? AND used = 0 AND (expires_ts IS NULL OR expires_ts > ?) ORDER BY algorithm`)
    .bind(userId, deviceId, now);
}

/** Deletes the fallback keys of some devices, or of all the user's devices. */
export function deleteFallbackKeys(db: D1Database, userId: string, deviceIds: readonly string[] | "all"): D1PreparedStatement[] {
  if (deviceIds === "all") return [db.prepare(`DELETE FROM e2e_fallback_keys WHERE user_id = ?`).bind(userId)];
  return deviceIds.map((d) => db.prepare(`DELETE FROM e2e_fallback_keys WHERE user_id = ? AND device_id = ?`).bind(userId, d));
}
