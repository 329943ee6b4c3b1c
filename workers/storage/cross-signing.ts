// The cross-signing tables: e2e_cross_signing_keys (one key per user and usage) and
// e2e_cross_signing_signatures (signatures uploaded for devices and keys).

const CHUNK = 90;

function chunks<T>(list: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += CHUNK) out.push(list.slice(i, i + CHUNK));
  return out;
}

export interface StoredCrossSigningKey {
  userId: string;
  usage: string;
  keyJson: string;
}

export function putCrossSigningKey(db: D1Database, userId: string, usage: string, keyJson: string, now: number): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO e2e_cross_signing_keys (user_id, usage, key_json, updated_ts) VALUES (?, ?, ?, ?)
         ON CONFLICT (user_id, usage) DO UPDATE SET key_json = excluded.key_json, updated_ts = excluded.updated_ts`,
    )
    .bind(userId, usage, keyJson, now);
}

/** The cross-signing keys of the given users. */
export async function listCrossSigningKeys(db: D1Database, userIds: readonly string[]): Promise<StoredCrossSigningKey[]> {
  const out: StoredCrossSigningKey[] = [];
  for (const part of chunks(userIds)) {
    const { results } = await db
      .prepare(`SELECT user_id, usage, key_json FROM e2e_cross_signing_keys WHERE user_id IN (${part.map(() => "?").join(",")})`)
      .bind(...part)
      .all<{ user_id: string; usage: string; key_json: string }>();
    for (const r of results) out.push({ userId: r.user_id, usage: r.usage, keyJson: r.key_json });
  }
  return out;
}

export interface StoredSignature {
  targetUserId: string;
  targetKeyId: string;
  signerUserId: string;
  signerKeyId: string;
  signature: string;
}

export function putSignature(db: D1Database, s: StoredSignature): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO e2e_cross_signing_signatures (target_user_id, target_key_id, signer_user_id, signer_key_id, signature) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (target_user_id, target_key_id, signer_user_id, signer_key_id) DO UPDATE SET signature = excluded.signature`,
    )
    .bind(s.targetUserId, s.targetKeyId, s.signerUserId, s.signerKeyId, s.signature);
}

/** Signatures on the given users' devices and keys, made by those users themselves or by `viewer`. */
export async function listSignatures(db: D1Database, targetUserIds: readonly string[], viewer: string | undefined): Promise<StoredSignature[]> {
  const out: StoredSignature[] = [];
  for (const part of chunks(targetUserIds)) {
    const { results } = await db
      .prepare(
        `SELECT target_user_id, target_key_id, signer_user_id, signer_key_id, signature FROM e2e_cross_signing_signatures
          WHERE target_user_id IN (${part.map(() => "?").join(",")}) AND (signer_user_id = target_user_id OR signer_user_id = ?)`,
      )
      .bind(...part, viewer ?? "")
      .all<{ target_user_id: string; target_key_id: string; signer_user_id: string; signer_key_id: string; signature: string }>();
    for (const r of results) out.push({ targetUserId: r.target_user_id, targetKeyId: r.target_key_id, signerUserId: r.signer_user_id, signerKeyId: r.signer_key_id, signature: r.signature });
  }
  return out;
}

/** Signatures a user made with a key they replaced are void. */
export function deleteSignaturesBy(db: D1Database, signerUserId: string, signerKeyId: string): D1PreparedStatement {
  return db.prepare(`DELETE FROM e2e_cross_signing_signatures WHERE signer_user_id = ? AND signer_key_id = ?`).bind(signerUserId, signerKeyId);
}

/** Signatures on a device that is gone. */
export function deleteSignaturesOn(db: D1Database, targetUserId: string, targetKeyIds: readonly string[]): D1PreparedStatement[] {
  return targetKeyIds.map((k) => db.prepare(`DELETE FROM e2e_cross_signing_signatures WHERE target_user_id = ? AND target_key_id = ?`).bind(targetUserId, k));
}
