// The profile columns of the `users` table (displayname, avatar_url). Kept apart from users.ts, whose
// functions serve login and registration, so each reader sees only the columns it uses.

export interface Profile {
  displayname: string | null;
  avatar_url: string | null;
}

/** A local user's profile, or null when no such user exists. */
export async function getProfile(db: D1Database, userId: string): Promise<Profile | null> {
  return db.prepare(`SELECT displayname, avatar_url FROM users WHERE user_id = ?`).bind(userId).first<Profile>();
}

/** Sets the given fields (null clears one); fields left undefined keep their value. */
export function updateProfile(db: D1Database, userId: string, change: Partial<Profile>): D1PreparedStatement {
  return db
    .prepare(
      `UPDATE users SET
         displayname = CASE WHEN ?1 THEN ?2 ELSE displayname END,
         avatar_url = CASE WHEN ?3 THEN ?4 ELSE avatar_url END
       WHERE user_id = ?5`,
    )
    .bind(change.displayname !== undefined ? 1 : 0, change.displayname ?? null, change.avatar_url !== undefined ? 1 : 0, change.avatar_url ?? null, userId);
}
