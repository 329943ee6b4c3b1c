// The local MIMI stand-in for test servers (SECURITY.md "MIMI provider authentication"): each server
// gets its own stand-in fingerprint, derived from its name, and knows its siblings' in mimi_peers.

import { createHash } from "node:crypto";

/** A per-server stand-in "certificate fingerprint": SHA-256 of a label and the server name. */
export function standInFingerprint(serverName: string): string {
  return createHash("sha256").update(`switchboard-mimi-stand-in:${serverName}`).digest("hex");
}

/** SQL giving each named server's stand-in fingerprint a row in mimi_peers. */
export function standInPeerStatements(serverNames: readonly string[]): string[] {
  const q = (s: string): string => `'${s.replace(/'/g, "''")}'`;
  return serverNames.map((n) => `INSERT OR REPLACE INTO mimi_peers (fingerprint, domain, added_ts) VALUES (${q(standInFingerprint(n))}, ${q(n)}, 0)`);
}
