// The `access_tokens` table. Only SHA-256 hashes of tokens are stored, so a leaked database does not
// leak usable tokens. Writes return statements so callers can batch them into one D1 transaction.

export interface TokenOwner {
  userId: string;
  deviceId: string;
}

/** Records a new token (by hash) for a user's device. */
export function insertAccessToken(db: D1Database, tokenHash: string, userId: string, deviceId: string, createdTs: number): D1PreparedStatement {
  return db
    .prepare("INSERT INTO access_tokens (token_hash, user_id, device_id, created_ts) VALUES (?, ?, ?, ?)")
    .bind(tokenHash, userId, deviceId, createdTs);
}

/** Who a token belongs to, or null if unknown or its user is deactivated. */
export async function getTokenOwner(db: D1Database, tokenHash: string): Promise<TokenOwner | null> {
  const row = await db
    .prepare(
      "SELECT t.user_id, t.device_id FROM access_tokens t JOIN users u ON u.user_id = t.user_id " +
        "WHERE t.token_hash = ? AND u.deactivated = 0",
    )
    .bind(tokenHash)
    .first<{ user_id: string; device_id: string }>();
  return row ? { userId: row.user_id, deviceId: row.device_id } : null;
}

/** Deletes one token. */
export function deleteAccessToken(db: D1Database, tokenHash: string): D1PreparedStatement {
  return db.prepare("DELETE FROM access_tokens WHERE token_hash = ?").bind(tokenHash);
}

/** Deletes every token of one device (a device has at most one live token after login). */
export function deleteDeviceTokens(db: D1Database, userId: string, deviceId: string): D1PreparedStatement {
  return db.prepare("DELETE FROM access_tokens WHERE user_id = ? AND device_id = ?").bind(userId, deviceId);
}

/** Deletes every token of a user. */
export function deleteUserTokens(db: D1Database, userId: string): D1PreparedStatement {
  return db.prepare("DELETE FROM access_tokens WHERE user_id = ?").bind(userId);
}
