// The key backup tables: e2e_room_key_versions (a user's backup versions) and e2e_room_keys (the
// encrypted session keys in a version).

import type { KeyBackupData } from "../../shared/key-backup.js";

export interface BackupVersion {
  version: number;
  algorithm: string;
  authData: string;
  etag: number;
}

type VersionRow = { version: number; algorithm: string; auth_data: string; etag: number };
const toVersion = (r: VersionRow): BackupVersion => ({ version: r.version, algorithm: r.algorithm, authData: r.auth_data, etag: r.etag });

/** The newest live version, or null. */
export async function latestVersion(db: D1Database, userId: string): Promise<BackupVersion | null> {
  const r = await db.prepare(`SELECT version, algorithm, auth_data, etag FROM e2e_room_key_versions WHERE user_id = ? AND deleted = 0 ORDER BY version DESC LIMIT 1`).bind(userId).first<VersionRow>();
  return r ? toVersion(r) : null;
}

export async function getVersion(db: D1Database, userId: string, version: number): Promise<BackupVersion | null> {
  const r = await db.prepare(`SELECT version, algorithm, auth_data, etag FROM e2e_room_key_versions WHERE user_id = ? AND version = ? AND deleted = 0`).bind(userId, version).first<VersionRow>();
  return r ? toVersion(r) : null;
}

/** Creates the next version (deleted versions keep their numbers) and returns it. */
export async function createVersion(db: D1Database, userId: string, algorithm: string, authData: string): Promise<number> {
  const r = await db
    .prepare(
      `INSERT INTO e2e_room_key_versions (user_id, version, algorithm, auth_data)
         SELECT ?, COALESCE(MAX(version), 0) + 1, ?, ? FROM e2e_room_key_versions WHERE user_id = ? RETURNING version`,
    )
    .bind(userId, algorithm, authData, userId)
    .first<{ version: number }>();
  return r?.version ?? 0;
}

export function updateAuthData(db: D1Database, userId: string, version: number, authData: string): D1PreparedStatement {
  return db.prepare(`UPDATE e2e_room_key_versions SET auth_data = ? WHERE user_id = ? AND version = ? AND deleted = 0`).bind(authData, userId, version);
}

export function markVersionDeleted(db: D1Database, userId: string, version: number): D1PreparedStatement[] {
  return [
    db.prepare(`UPDATE e2e_room_key_versions SET deleted = 1 WHERE user_id = ? AND version = ?`).bind(userId, version),
    db.prepare(`DELETE FROM e2e_room_keys WHERE user_id = ? AND version = ?`).bind(userId, version),
  ];
}

export function bumpEtag(db: D1Database, userId: string, version: number): D1PreparedStatement {
  return db.prepare(`UPDATE e2e_room_key_versions SET etag = etag + 1 WHERE user_id = ? AND version = ?`).bind(userId, version);
}

export async function countKeys(db: D1Database, userId: string, version: number): Promise<number> {
  const r = await db.prepare(`SELECT COUNT(*) AS n FROM e2e_room_keys WHERE user_id = ? AND version = ?`).bind(userId, version).first<{ n: number }>();
  return r?.n ?? 0;
}

export interface StoredRoomKey extends KeyBackupData {
  roomId: string;
  sessionId: string;
}

/** Keys of a version, optionally of one room or one session. */
export async function listKeys(db: D1Database, userId: string, version: number, roomId?: string, sessionId?: string): Promise<StoredRoomKey[]> {
  let sql = `SELECT room_id, session_id, first_message_index, forwarded_count, is_verified, session_data FROM e2e_room_keys WHERE user_id = ? AND version = ?`;
  const binds: unknown[] = [userId, version];
  if (roomId !== undefined) {
    sql += ` AND room_id = ?`;
    binds.push(roomId);
  }
  if (sessionId !== undefined) {
    sql += ` AND session_id = ?`;
    binds.push(sessionId);
  }
  const { results } = await db
    .prepare(sql)
    .bind(...binds)
    .all<{ room_id: string; session_id: string; first_message_index: number; forwarded_count: number; is_verified: number; session_data: string }>();
  return results.map((r) => ({
    roomId: r.room_id,
    sessionId: r.session_id,
    first_message_index: r.first_message_index,
    forwarded_count: r.forwarded_count,
    is_verified: r.is_verified === 1,
    session_data: JSON.parse(r.session_data) as Record<string, unknown>,
  }));
}

export function putKey(db: D1Database, userId: string, version: number, k: StoredRoomKey): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO e2e_room_keys (user_id, version, room_id, session_id, first_message_index, forwarded_count, is_verified, session_data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (user_id, version, room_id, session_id) DO UPDATE SET first_message_index = excluded.first_message_index,
           forwarded_count = excluded.forwarded_count, is_verified = excluded.is_verified, session_data = excluded.session_data`,
    )
    .bind(userId, version, k.roomId, k.sessionId, k.first_message_index, k.forwarded_count, k.is_verified ? 1 : 0, JSON.stringify(k.session_data));
}

export function deleteKeys(db: D1Database, userId: string, version: number, roomId?: string, sessionId?: string): D1PreparedStatement {
  if (roomId === undefined) return db.prepare(`DELETE FROM e2e_room_keys WHERE user_id = ? AND version = ?`).bind(userId, version);
  if (sessionId === undefined) return db.prepare(`DELETE FROM e2e_room_keys WHERE user_id = ? AND version = ? AND room_id = ?`).bind(userId, version, roomId);
  return db.prepare(`DELETE FROM e2e_room_keys WHERE user_id = ? AND version = ? AND room_id = ? AND session_id = ?`).bind(userId, version, roomId, sessionId);
}
