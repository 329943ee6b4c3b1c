// The `e2e_to_device_txns` table: PUT /sendToDevice transaction IDs a device has used, so a retried
// request is answered without delivering its messages a second time.

const KEEP_MS = 24 * 60 * 60 * 1000;

/** Records the transaction; false when the device already used this ID (the request is a repeat). */
export async function claimToDeviceTxn(db: D1Database, userId: string, deviceId: string, txnId: string, now: number): Promise<boolean> {
  const [, inserted] = await db.batch([
    db.prepare(`DELETE FROM e2e_to_device_txns WHERE user_id = ? AND device_id = ? AND created_ts < ?`).bind(userId, deviceId, now - KEEP_MS),
    db
      .prepare(`INSERT INTO e2e_to_device_txns (user_id, device_id, txn_id, created_ts) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING txn_id`)
      .bind(userId, deviceId, txnId, now),
  ]);
  return (inserted?.results.length ?? 0) > 0;
}

/** Forgets a transaction whose delivery failed, so the client's retry is processed. */
export function releaseToDeviceTxn(db: D1Database, userId: string, deviceId: string, txnId: string): D1PreparedStatement {
  return db.prepare(`DELETE FROM e2e_to_device_txns WHERE user_id = ? AND device_id = ? AND txn_id = ?`).bind(userId, deviceId, txnId);
}

/** Deletes the transaction IDs of some devices, or of all the user's devices (after logout). */
export function deleteToDeviceTxns(db: D1Database, userId: string, deviceIds: readonly string[] | "all"): D1PreparedStatement[] {
  if (deviceIds === "all") return [db.prepare(`DELETE FROM e2e_to_device_txns WHERE user_id = ?`).bind(userId)];
  return deviceIds.map((d) => db.prepare(`DELETE FROM e2e_to_device_txns WHERE user_id = ? AND device_id = ?`).bind(userId, d));
}
