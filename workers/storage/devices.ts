// The `devices` table. Writes return statements so callers can batch them into one D1 transaction.

export interface NewDevice {
  userId: string;
  deviceId: string;
  displayName: string | null;
  createdTs: number;
}

/** Creates the device unless it exists; an existing device keeps its display name (spec: "ignored if known"). */
export function insertDevice(db: D1Database, device: NewDevice): D1PreparedStatement {
  return db
    .prepare(
      "INSERT INTO devices (user_id, device_id, display_name, created_ts) VALUES (?, ?, ?, ?) " +
        "ON CONFLICT (user_id, device_id) DO NOTHING",
    )
    .bind(device.userId, device.deviceId, device.displayName, device.createdTs);
}

/** Reads one device's display name, or null when the user has no such device. */
export async function getDevice(
  db: D1Database,
  userId: string,
  deviceId: string,
): Promise<{ deviceId: string; displayName: string | null } | null> {
  const row = await db
    .prepare("SELECT device_id, display_name FROM devices WHERE user_id = ? AND device_id = ?")
    .bind(userId, deviceId)
    .first<{ device_id: string; display_name: string | null }>();
  return row ? { deviceId: row.device_id, displayName: row.display_name } : null;
}

/** Deletes one device of a user. */
export function deleteDevice(db: D1Database, userId: string, deviceId: string): D1PreparedStatement {
  return db.prepare("DELETE FROM devices WHERE user_id = ? AND device_id = ?").bind(userId, deviceId);
}

/** Deletes every device of a user. */
export function deleteUserDevices(db: D1Database, userId: string): D1PreparedStatement {
  return db.prepare("DELETE FROM devices WHERE user_id = ?").bind(userId);
}

export interface DeviceRow {
  deviceId: string;
  displayName: string | null;
  lastSeenTs: number | null;
}

/** Every device of a user, oldest first. */
export async function listDevices(db: D1Database, userId: string): Promise<DeviceRow[]> {
  const { results } = await db
    .prepare("SELECT device_id, display_name, last_seen_ts FROM devices WHERE user_id = ? ORDER BY created_ts, device_id")
    .bind(userId)
    .all<{ device_id: string; display_name: string | null; last_seen_ts: number | null }>();
  return results.map((r) => ({ deviceId: r.device_id, displayName: r.display_name, lastSeenTs: r.last_seen_ts }));
}

/** Renames a device; `meta.changes` is 0 when the user has no such device. */
export function renameDevice(db: D1Database, userId: string, deviceId: string, displayName: string | null): D1PreparedStatement {
  return db.prepare("UPDATE devices SET display_name = ? WHERE user_id = ? AND device_id = ?").bind(displayName, userId, deviceId);
}
