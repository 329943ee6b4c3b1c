// The `users` table. Writes return statements so callers can batch them into one D1 transaction.

export interface NewUser {
  userId: string;
  passwordHash: string | null;
  createdTs: number;
}

export interface UserRow {
  userId: string;
  passwordHash: string | null;
  deactivated: boolean;
}

/** Inserts a user; fails with a UNIQUE constraint error if the ID is taken (see isUserIdTaken). */
export function insertUser(db: D1Database, user: NewUser): D1PreparedStatement {
  return db
    .prepare("INSERT INTO users (user_id, password_hash, created_ts) VALUES (?, ?, ?)")
    .bind(user.userId, user.passwordHash, user.createdTs);
}

/** Reads the fields login needs, or null for an unknown user. */
export async function getUser(db: D1Database, userId: string): Promise<UserRow | null> {
  const row = await db
    .prepare("SELECT user_id, password_hash, deactivated FROM users WHERE user_id = ?")
    .bind(userId)
    .first<{ user_id: string; password_hash: string | null; deactivated: number }>();
  return row ? { userId: row.user_id, passwordHash: row.password_hash, deactivated: row.deactivated !== 0 } : null;
}

/** True when a user with this ID exists (deactivated users keep their ID). */
export async function userExists(db: D1Database, userId: string): Promise<boolean> {
  return (await db.prepare("SELECT 1 AS x FROM users WHERE user_id = ?").bind(userId).first()) !== null;
}

/** Recognises the error D1 raises when insertUser hits an existing user_id. */
export function isUserIdTaken(err: unknown): boolean {
  return err instanceof Error && /UNIQUE constraint failed: users\.user_id/.test(err.message);
}
