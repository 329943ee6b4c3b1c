// The `pushers` table: what POST /pushers/set stored, per user, app ID and push key.

export interface StoredPusher {
  appId: string;
  pushkey: string;
  deviceId: string;
  json: string;
}

export async function listPushers(db: D1Database, userId: string): Promise<StoredPusher[]> {
  const { results } = await db
    .prepare(`SELECT app_id, pushkey, device_id, pusher_json FROM pushers WHERE user_id = ? ORDER BY created_ts, app_id, pushkey`)
    .bind(userId)
    .all<{ app_id: string; pushkey: string; device_id: string; pusher_json: string }>();
  return results.map((r) => ({ appId: r.app_id, pushkey: r.pushkey, deviceId: r.device_id, json: r.pusher_json }));
}

export function putPusher(db: D1Database, userId: string, p: StoredPusher, now: number): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO pushers (user_id, app_id, pushkey, device_id, pusher_json, created_ts) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (user_id, app_id, pushkey) DO UPDATE SET device_id = excluded.device_id, pusher_json = excluded.pusher_json`,
    )
    .bind(userId, p.appId, p.pushkey, p.deviceId, p.json, now);
}

export function deletePusher(db: D1Database, userId: string, appId: string, pushkey: string): D1PreparedStatement {
  return db.prepare(`DELETE FROM pushers WHERE user_id = ? AND app_id = ? AND pushkey = ?`).bind(userId, appId, pushkey);
}

/** With `append: false` a pusher replaces those of other users with the same app ID and push key. */
export function deletePushersOfOthers(db: D1Database, userId: string, appId: string, pushkey: string): D1PreparedStatement {
  return db.prepare(`DELETE FROM pushers WHERE user_id != ? AND app_id = ? AND pushkey = ?`).bind(userId, appId, pushkey);
}

export function deleteDevicePushers(db: D1Database, userId: string, deviceIds: readonly string[] | "all"): D1PreparedStatement[] {
  if (deviceIds === "all") return [db.prepare(`DELETE FROM pushers WHERE user_id = ?`).bind(userId)];
  return deviceIds.map((d) => db.prepare(`DELETE FROM pushers WHERE user_id = ? AND device_id = ?`).bind(userId, d));
}
