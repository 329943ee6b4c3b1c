// The `e2e_device_keys` table: one signed device object (device credential / DeviceKeys) per device.
// Reads join `devices`, so a device that has logged out is never served even if its keys linger.

/** D1 allows 100 bound parameters per statement; lists are queried in chunks below that. */
const CHUNK = 90;

function chunks<T>(list: readonly T[], size = CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

export interface StoredDeviceKeys {
  userId: string;
  deviceId: string;
  keyJson: string;
  displayName: string | null;
}

/** Stores (or replaces) a device's signed object. */
export function putDeviceKeys(db: D1Database, userId: string, deviceId: string, keyJson: string, now: number): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO e2e_device_keys (user_id, device_id, key_json, updated_ts) VALUES (?, ?, ?, ?)
         ON CONFLICT (user_id, device_id) DO UPDATE SET key_json = excluded.key_json, updated_ts = excluded.updated_ts`,
    )
    .bind(userId, deviceId, keyJson, now);
}

/** One live device's signed object, or null. */
export async function getDeviceKeys(db: D1Database, userId: string, deviceId: string): Promise<string | null> {
  const row = await db
    .prepare(
      `SELECT k.key_json FROM e2e_device_keys k JOIN devices d ON d.user_id = k.user_id AND d.device_id = k.device_id
        WHERE k.user_id = ? AND k.device_id = ?`,
    )
    .bind(userId, deviceId)
    .first<{ key_json: string }>();
  return row?.key_json ?? null;
}

/** Every live device with keys of the given users. */
export async function listDeviceKeys(db: D1Database, userIds: readonly string[]): Promise<StoredDeviceKeys[]> {
  const out: StoredDeviceKeys[] = [];
  for (const part of chunks(userIds)) {
    const { results } = await db
      .prepare(
        `SELECT k.user_id, k.device_id, k.key_json, d.display_name FROM e2e_device_keys k
           JOIN devices d ON d.user_id = k.user_id AND d.device_id = k.device_id
          WHERE k.user_id IN (${part.map(() => "?").join(",")})`,
      )
      .bind(...part)
      .all<{ user_id: string; device_id: string; key_json: string; display_name: string | null }>();
    for (const r of results) out.push({ userId: r.user_id, deviceId: r.device_id, keyJson: r.key_json, displayName: r.display_name });
  }
  return out;
}

/** IDs of a user's devices that have published keys (live or not), for cleaning up after logout. */
export async function listDeviceKeyOwners(db: D1Database, userId: string): Promise<string[]> {
  const { results } = await db.prepare(`SELECT device_id FROM e2e_device_keys WHERE user_id = ?`).bind(userId).all<{ device_id: string }>();
  return results.map((r) => r.device_id);
}

/** All of a user's live device IDs, keys or not (to-device `*` reaches every device). */
export async function listDeviceIds(db: D1Database, userId: string): Promise<string[]> {
  const { results } = await db.prepare(`SELECT device_id FROM devices WHERE user_id = ?`).bind(userId).all<{ device_id: string }>();
  return results.map((r) => r.device_id);
}

/** Whether the user has this live device. */
export async function deviceExists(db: D1Database, userId: string, deviceId: string): Promise<boolean> {
  return (await db.prepare(`SELECT 1 AS x FROM devices WHERE user_id = ? AND device_id = ?`).bind(userId, deviceId).first()) !== null;
}

/** Deletes the signed objects of some devices, or of all the user's devices. */
export function deleteDeviceKeys(db: D1Database, userId: string, deviceIds: readonly string[] | "all"): D1PreparedStatement[] {
  if (deviceIds === "all") return [db.prepare(`DELETE FROM e2e_device_keys WHERE user_id = ?`).bind(userId)];
  return chunks(deviceIds).map((part) =>
    db.prepare(`DELETE FROM e2e_device_keys WHERE user_id = ? AND device_id IN (${part.map(() => "?").join(",")})`).bind(userId, ...part),
  );
}
