// D1 access for remote servers' keys (tables remote_server_keys, remote_key_documents in
// migrations/0001_init.sql). One function per query, so the SQL for these tables lives here only.

export interface StoredKey {
  serverName: string;
  keyId: string;
  /** Unpadded base64. */
  publicKey: string;
  /** Already capped to fetch time + 7 days. */
  validUntilTs: number;
  /** Set when the key was listed under old_verify_keys. */
  expiredTs: number | null;
  fetchedTs: number;
}

export interface StoredKeyDocument {
  serverName: string;
  /** The document's verify key IDs, sorted and comma-joined: one row per distinct key set. */
  keyIds: string;
  validUntilTs: number;
  /** The document as received, canonical JSON. */
  document: string;
  fetchedTs: number;
}

interface KeyRow {
  server_name: string;
  key_id: string;
  public_key: string;
  valid_until_ts: number;
  expired_ts: number | null;
  fetched_ts: number;
}

interface DocumentRow {
  server_name: string;
  key_ids: string;
  valid_until_ts: number;
  document: string;
  fetched_ts: number;
}

/** One key of one server, or undefined. */
export async function selectRemoteKey(db: D1Database, serverName: string, keyId: string): Promise<StoredKey | undefined> {
  const row = await db
    .prepare("SELECT server_name, key_id, public_key, valid_until_ts, expired_ts, fetched_ts FROM remote_server_keys WHERE server_name = ? AND key_id = ?")
    .bind(serverName, keyId)
    .first<KeyRow>();
  return row
    ? {
        serverName: row.server_name,
        keyId: row.key_id,
        publicKey: row.public_key,
        validUntilTs: row.valid_until_ts,
        expiredTs: row.expired_ts,
        fetchedTs: row.fetched_ts,
      }
    : undefined;
}

/** Every stored key document of a server, newest fetch first. */
export async function selectKeyDocuments(db: D1Database, serverName: string): Promise<StoredKeyDocument[]> {
  const { results } = await db
    .prepare("SELECT server_name, key_ids, valid_until_ts, document, fetched_ts FROM remote_key_documents WHERE server_name = ? ORDER BY fetched_ts DESC")
    .bind(serverName)
    .all<DocumentRow>();
  return results.map((r) => ({
    serverName: r.server_name,
    keyIds: r.key_ids,
    validUntilTs: r.valid_until_ts,
    document: r.document,
    fetchedTs: r.fetched_ts,
  }));
}

function upsertKeyStatement(db: D1Database, k: StoredKey): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO remote_server_keys (server_name, key_id, public_key, valid_until_ts, expired_ts, fetched_ts)
       VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (server_name, key_id) DO UPDATE SET
         public_key = excluded.public_key, valid_until_ts = excluded.valid_until_ts,
         expired_ts = excluded.expired_ts, fetched_ts = excluded.fetched_ts`,
    )
    .bind(k.serverName, k.keyId, k.publicKey, k.validUntilTs, k.expiredTs, k.fetchedTs);
}

function upsertDocumentStatement(db: D1Database, d: StoredKeyDocument): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO remote_key_documents (server_name, key_ids, valid_until_ts, document, fetched_ts)
       VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (server_name, key_ids) DO UPDATE SET
         valid_until_ts = excluded.valid_until_ts, document = excluded.document, fetched_ts = excluded.fetched_ts`,
    )
    .bind(d.serverName, d.keyIds, d.validUntilTs, d.document, d.fetchedTs);
}

/** Stores a validated document and its keys in one batch (a D1 batch is a transaction). */
export async function saveKeyDocument(db: D1Database, doc: StoredKeyDocument, keys: readonly StoredKey[]): Promise<void> {
  await db.batch([upsertDocumentStatement(db, doc), ...keys.map((k) => upsertKeyStatement(db, k))]);
}
