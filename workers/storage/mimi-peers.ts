// The `mimi_peers` table: client-certificate fingerprint -> MIMI provider domain.

export interface MimiPeer {
  fingerprint: string;
  domain: string;
  added_ts: number;
}

/** The provider a certificate fingerprint authenticates, or null when it is not a known peer. */
export async function peerDomainOf(db: D1Database, fingerprint: string): Promise<string | null> {
  const row = await db.prepare(`SELECT domain FROM mimi_peers WHERE fingerprint = ?`).bind(fingerprint).first<{ domain: string }>();
  return row?.domain ?? null;
}

/** Adds or re-points a fingerprint (a provider may have several certificates, e.g. during rotation). */
export async function putPeer(db: D1Database, fingerprint: string, domain: string, now: number): Promise<void> {
  await db
    .prepare(`INSERT INTO mimi_peers (fingerprint, domain, added_ts) VALUES (?1, ?2, ?3) ON CONFLICT (fingerprint) DO UPDATE SET domain = ?2, added_ts = ?3`)
    .bind(fingerprint, domain, now)
    .run();
}

export async function listPeers(db: D1Database): Promise<MimiPeer[]> {
  const rows = await db.prepare(`SELECT fingerprint, domain, added_ts FROM mimi_peers ORDER BY domain, fingerprint`).all<MimiPeer>();
  return rows.results;
}

/** True when the fingerprint was there to remove. */
export async function deletePeer(db: D1Database, fingerprint: string): Promise<boolean> {
  const res = await db.prepare(`DELETE FROM mimi_peers WHERE fingerprint = ?`).bind(fingerprint).run();
  return res.meta.changes > 0;
}
