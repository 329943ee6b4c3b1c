// Durable Objects whose storage was written before their schemas were versioned (tables made by the
// old CREATE TABLE IF NOT EXISTS statements, no schema_versions row) open under the versioned code,
// keep their data and record version 1. Each test borrows a fresh, empty RateLimiter object for its
// storage (that class keeps nothing in SQLite).

import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { Destination } from "../../durable-objects/destination.js";
import { DESTINATION_SCHEMA } from "../../durable-objects/destination-storage.js";
import { migrate, storedVersion } from "../../durable-objects/do-schema.js";

let n = 0;
const freshObject = () => env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(`storage-adoption-${Date.now()}-${++n}`));

// The Destination's tables exactly as the code before versioning created them (its constructor ran these).
const UNVERSIONED_DESTINATION = [
  `CREATE TABLE IF NOT EXISTS queue (seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, room_id TEXT NOT NULL, item_id TEXT NOT NULL, lpdu_hash TEXT, json TEXT NOT NULL, txn_id TEXT)`,
  `CREATE UNIQUE INDEX IF NOT EXISTS queue_item ON queue (kind, item_id)`,
  `CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
];

describe("Destination storage versions", () => {
  it("adopts a queue written before versioning: its stored items and retry state read back", async () => {
    await runInDurableObject(freshObject(), async (_obj, state) => {
      const sql = state.storage.sql;
      for (const s of UNVERSIONED_DESTINATION) sql.exec(s);
      sql.exec(
        `INSERT INTO queue (kind, room_id, item_id, lpdu_hash, json) VALUES
           ('pdu', '!a:hub.test', '$l1', 'h1', '{"n":1}'), ('pdu', '!a:hub.test', '$l2', 'h2', '{"n":2}'), ('edu', '', 'e1', NULL, '{"edu_type":"m.typing"}')`,
      );
      const next = Date.now() + 3_600_000;
      sql.exec(
        `INSERT INTO meta (key, value) VALUES ('destination', 'remote.test'), ('failures', '3'), ('next_attempt_ts', ?), ('last_error', 'HTTP 502: {}'), ('last_success_ts', '1000')`,
        String(next),
      );
      expect(storedVersion(sql, "destination")).toBe(0);

      const destination = new Destination(state, env);
      expect(storedVersion(sql, "destination")).toBe(1);
      expect(await destination.status()).toEqual({
        destination: "remote.test",
        queuedPdus: 2,
        roomsWaiting: 0,
        queuedEdus: 1,
        inFlightTxn: null,
        failures: 3,
        pushedBack: 0,
        nextAttemptTs: next,
        lastError: "HTTP 502: {}",
        lastSuccessTs: 1000,
      });
      expect(sql.exec(`SELECT kind, item_id, lpdu_hash, json FROM queue ORDER BY seq`).toArray()).toEqual([
        { kind: "pdu", item_id: "$l1", lpdu_hash: "h1", json: '{"n":1}' },
        { kind: "pdu", item_id: "$l2", lpdu_hash: "h2", json: '{"n":2}' },
        { kind: "edu", item_id: "e1", lpdu_hash: null, json: '{"edu_type":"m.typing"}' },
      ]);
      // Opening it again (a restarted object) runs no migration.
      expect(migrate(state.storage, DESTINATION_SCHEMA)).toEqual([]);
    });
  });
});
