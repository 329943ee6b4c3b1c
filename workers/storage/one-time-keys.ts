// The `e2e_one_time_keys` table: one-time keys (Olm) and KeyPackages (MLS), each handed out once.
// A claim is a single DELETE ... RETURNING of the oldest unexpired row, so two concurrent claims can
// never both return the same key: SQLite runs the statement atomically and a row is deleted once.

import type { UploadedKey } from "../../shared/one-time-keys.js";

const CHUNK = 45; // two parameters per key ID, under D1's 100 per statement

/** Keys per INSERT: four parameters each plus three shared, under D1's 100 per statement. */
const ROWS_PER_INSERT = 24;

/** Adds keys; an existing key ID is left as it is (the caller refuses a different key under it). */
export function insertOneTimeKeys(db: D1Database, userId: string, deviceId: string, keys: readonly UploadedKey[], now: number): D1PreparedStatement[] {
  const out: D1PreparedStatement[] = [];
  for (let i = 0; i < keys.length; i += ROWS_PER_INSERT) {
    const part = keys.slice(i, i + ROWS_PER_INSERT);
    const rows = part.map((_, j) => `(?1, ?2, ?${4 * j + 4}, ?${4 * j + 5}, ?${4 * j + 6}, ?${4 * j + 7}, ?3)`).join(", ");
    out.push(
      db
        .prepare(
          `INSERT INTO e2e_one_time_keys (user_id, device_id, algorithm, key_version, key_json, expires_ts, uploaded_ts)
             VALUES ${rows} ON CONFLICT (user_id, device_id, algorithm, key_version) DO NOTHING`,
        )
        .bind(userId, deviceId, now, ...part.flatMap((k) => [k.algorithm, k.version, k.json, k.expiresTs])),
    );
  }
  return out;
}

/** The stored JSON of those of `keys` the device already has, by `<algorithm>:<version>`. */
export async function existingOneTimeKeys(db: D1Database, userId: string, deviceId: string, keys: readonly UploadedKey[]): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  for (let i = 0; i < keys.length; i += CHUNK) {
    const part = keys.slice(i, i + CHUNK);
    const { results } = await db
      .prepare(
        `SELECT algorithm, key_version, key_json FROM e2e_one_time_keys WHERE user_id = ? AND device_id = ?
           AND (${part.map(() => "(algorithm = ? AND key_version = ?)").join(" OR ")})`,
      )
      .bind(userId, deviceId, ...part.flatMap((k) => [k.algorithm, k.version]))
      .all<{ algorithm: string; key_version: string; key_json: string }>();
    for (const r of results) found.set(`${r.algorithm}:${r.key_version}`, r.key_json);
  }
  return found;
}

/** Unexpired unclaimed keys per algorithm for one device. */
export function countOneTimeKeys(db: D1Database, userId: string, deviceId: string, now: number): D1PreparedStatement {
  return db
    .prepare(
      `SELECT algorithm, COUNT(*) AS n, MIN(expires_ts) AS soonest FROM e2e_one_time_keys WHERE user_id = ? AND device_id = ?
         AND (expires_ts IS NULL OR expires_ts > ?) GROUP BY algorithm`,
    )
    .bind(userId, deviceId, now);
}

/** When the counts countOneTimeKeys read will next change by themselves (a counted key expires); Infinity if never. */
export function countsValidUntil(result: D1Result<unknown>): number {
  let until = Infinity;
  for (const r of result.results as Array<{ soonest: number | null }>) if (r.soonest !== null) until = Math.min(until, r.soonest);
  return until;
}

/** Reads countOneTimeKeys' result as {algorithm: count}. */
export function keyCounts(result: D1Result<unknown>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of result.results as Array<{ algorithm: string; n: number }>) out[r.algorithm] = r.n;
  return out;
}

/**
 * Claims (deletes and returns) the oldest unexpired key of `algorithm` for a device. The pick and the
 * delete are one statement: the exactly-once guarantee rests on that. Devices that logged out hand
 * out nothing.
 */
export function claimOneTimeKey(db: D1Database, userId: string, deviceId: string, algorithm: string, now: number): D1PreparedStatement {
  return db
    .prepare(
      `DELETE FROM e2e_one_time_keys WHERE rowid = (
         SELECT rowid FROM e2e_one_time_keys WHERE user_id = ?1 AND device_id = ?2 AND algorithm = ?3
            AND (expires_ts IS NULL OR expires_ts > ?4) ORDER BY rowid LIMIT 1)
         AND EXISTS (SELECT 1 FROM devices WHERE user_id = ?1 AND device_id = ?2)
       RETURNING algorithm, key_version, key_json`,
    )
    .bind(userId, deviceId, algorithm, now);
}

/** Drops a device's expired keys, which can never be handed out anyway. */
export function deleteExpiredOneTimeKeys(db: D1Database, userId: string, deviceId: string, now: number): D1PreparedStatement {
  return db.prepare(`DELETE FROM e2e_one_time_keys WHERE user_id = ? AND device_id = ? AND expires_ts IS NOT NULL AND expires_ts <= ?`).bind(userId, deviceId, now);
}

/** Deletes every key of some devices, or of all the user's devices. */
export function deleteOneTimeKeys(db: D1Database, userId: string, deviceIds: readonly string[] | "all"): D1PreparedStatement[] {
  if (deviceIds === "all") return [db.prepare(`DELETE FROM e2e_one_time_keys WHERE user_id = ?`).bind(userId)];
  return deviceIds.map((d) => db.prepare(`DELETE FROM e2e_one_time_keys WHERE user_id = ? AND device_id = ?`).bind(userId, d));
}
