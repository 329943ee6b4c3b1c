// The `media` table: metadata of local uploads, pending /create reservations and remote media
// cached here. The bytes are in R2 under `r2_key`; a row with a key always has its object.

export interface MediaRow {
  origin: string;
  media_id: string;
  uploader: string | null;
  r2_key: string | null;
  content_type: string | null;
  filename: string | null;
  size: number | null;
  created_ts: number;
  uploaded_ts: number | null;
  unused_expires_ts: number | null;
}

export interface StoredMedia {
  r2Key: string;
  contentType: string;
  filename: string | null;
  size: number;
}

/** One media item's row, or null. */
export async function getMedia(db: D1Database, origin: string, mediaId: string): Promise<MediaRow | null> {
  return db.prepare(`SELECT * FROM media WHERE origin = ? AND media_id = ?`).bind(origin, mediaId).first<MediaRow>();
}

/** Records an upload whose object is already in R2. */
export async function insertUploaded(db: D1Database, origin: string, mediaId: string, uploader: string | null, m: StoredMedia, now: number): Promise<void> {
  await db
    .prepare(
      `INSERT INTO media (origin, media_id, uploader, r2_key, content_type, filename, size, created_ts, uploaded_ts)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (origin, media_id) DO NOTHING`,
    )
    .bind(origin, mediaId, uploader, m.r2Key, m.contentType, m.filename, m.size, now, now)
    .run();
}

/** Reserves a media ID for a later PUT upload (POST /media/v1/create). */
export async function insertPending(db: D1Database, origin: string, mediaId: string, uploader: string, now: number, expiresTs: number): Promise<void> {
  await db
    .prepare(`INSERT INTO media (origin, media_id, uploader, created_ts, unused_expires_ts) VALUES (?, ?, ?, ?, ?)`)
    .bind(origin, mediaId, uploader, now, expiresTs)
    .run();
}

/** How many of a user's reservations are still waiting for their upload. */
export async function countPending(db: D1Database, uploader: string, now: number): Promise<number> {
  const row = await db
    .prepare(`SELECT COUNT(*) AS n FROM media WHERE uploader = ? AND r2_key IS NULL AND unused_expires_ts > ?`)
    .bind(uploader, now)
    .first<{ n: number }>();
  return row?.n ?? 0;
}

/**
 * Fills a reservation with its upload. False when another upload filled it first (the caller then
 * deletes its own object) or it expired.
 */
export async function completePending(db: D1Database, origin: string, mediaId: string, m: StoredMedia, now: number): Promise<boolean> {
  const res = await db
    .prepare(
      `UPDATE media SET r2_key = ?, content_type = ?, filename = ?, size = ?, uploaded_ts = ?, unused_expires_ts = NULL
         WHERE origin = ? AND media_id = ? AND r2_key IS NULL AND unused_expires_ts > ?`,
    )
    .bind(m.r2Key, m.contentType, m.filename, m.size, now, origin, mediaId, now)
    .run();
  return res.meta.changes === 1;
}

/** The stored form of a row whose upload has landed, or undefined. */
export function storedMedia(row: MediaRow): StoredMedia | undefined {
  if (row.r2_key === null) return undefined;
  return { r2Key: row.r2_key, contentType: row.content_type ?? "application/octet-stream", filename: row.filename, size: row.size ?? 0 };
}
