// Durable Objects whose storage was written before their schemas were versioned (tables made by the
// old CREATE TABLE IF NOT EXISTS statements, no schema_versions row) open under the versioned code,
// keep their data and record version 1. Each test borrows a fresh, empty RateLimiter object for its
// storage (that class keeps nothing in SQLite).

import { runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { Destination } from "../../durable-objects/destination.js";
import { DESTINATION_SCHEMA } from "../../durable-objects/destination-storage.js";
import { migrate, storedVersion } from "../../durable-objects/do-schema.js";
import { Room } from "../../durable-objects/room.js";

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
      expect(storedVersion(sql, "destination")).toBe(2);
      // Migration 2 gives the adopted queue its transaction ID prefix.
      expect(sql.exec(`SELECT value FROM meta WHERE key = 'txn_prefix'`).toArray()[0]?.value).toMatch(/^[0-9a-f]{16}$/);
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

// The Room's tables exactly as the code before versioning created them (its four storage modules' constructors ran these).
const UNVERSIONED_ROOM = [
  // room-storage.ts
  `CREATE TABLE IF NOT EXISTS redactions (target_id TEXT PRIMARY KEY, redaction_id TEXT NOT NULL, redaction_json TEXT NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS events (event_id TEXT PRIMARY KEY, pos INTEGER UNIQUE, type TEXT NOT NULL, state_key TEXT, sender TEXT NOT NULL, lpdu_hash TEXT, json TEXT NOT NULL)`,
  `CREATE INDEX IF NOT EXISTS events_state_history ON events (type, state_key, pos) WHERE state_key IS NOT NULL`,
  `CREATE UNIQUE INDEX IF NOT EXISTS events_by_lpdu ON events (lpdu_hash) WHERE lpdu_hash IS NOT NULL`,
  `CREATE INDEX IF NOT EXISTS events_redactions ON events (event_id) WHERE type = 'm.room.redaction'`,
  `CREATE TABLE IF NOT EXISTS current_state (type TEXT NOT NULL, state_key TEXT NOT NULL, event_id TEXT NOT NULL, PRIMARY KEY (type, state_key))`,
  `CREATE TABLE IF NOT EXISTS client_txns (user_id TEXT NOT NULL, device_id TEXT NOT NULL, txn_id TEXT NOT NULL, event_id TEXT NOT NULL, PRIMARY KEY (user_id, device_id, txn_id))`,
  `CREATE TABLE IF NOT EXISTS pending_client_txns (user_id TEXT NOT NULL, device_id TEXT NOT NULL, txn_id TEXT NOT NULL, lpdu_hash TEXT NOT NULL, lpdu_id TEXT NOT NULL, lpdu_json TEXT NOT NULL, PRIMARY KEY (user_id, device_id, txn_id))`,
  `CREATE TABLE IF NOT EXISTS pending_pdus (seq INTEGER PRIMARY KEY AUTOINCREMENT, json TEXT NOT NULL, received_ts INTEGER NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS join_state (seq INTEGER PRIMARY KEY AUTOINCREMENT, type TEXT NOT NULL, state_key TEXT NOT NULL, event_id TEXT NOT NULL, UNIQUE (type, state_key))`,
  `CREATE TABLE IF NOT EXISTS invites (user_id TEXT PRIMARY KEY, event_json TEXT NOT NULL, stripped_state TEXT NOT NULL, origin TEXT NOT NULL)`,
  // room-fanout-storage.ts
  `CREATE TABLE IF NOT EXISTS fanout_sets (id INTEGER PRIMARY KEY, destinations TEXT NOT NULL UNIQUE)`,
  `CREATE TABLE IF NOT EXISTS fanout_members (set_id INTEGER NOT NULL, destination TEXT NOT NULL, PRIMARY KEY (set_id, destination)) WITHOUT ROWID`,
  `CREATE INDEX IF NOT EXISTS fanout_members_by_destination ON fanout_members (destination, set_id)`,
  `CREATE TABLE IF NOT EXISTS fanout (pos INTEGER PRIMARY KEY, set_id INTEGER NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS fanout_done (destination TEXT PRIMARY KEY, pos INTEGER NOT NULL) WITHOUT ROWID`,
  // room-mls-storage.ts
  `CREATE TABLE IF NOT EXISTS mls_group (id INTEGER PRIMARY KEY CHECK (id = 1), epoch INTEGER NOT NULL, removal_epoch INTEGER NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS mls_leaves (leaf INTEGER PRIMARY KEY, user_id TEXT NOT NULL, device_id TEXT NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS mls_pending (leaf INTEGER PRIMARY KEY, cause TEXT NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS mls_untracked (id INTEGER PRIMARY KEY CHECK (id = 1))`,
  `CREATE TABLE IF NOT EXISTS mls_commits (event_id TEXT PRIMARY KEY, epoch INTEGER NOT NULL, pos INTEGER NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS mls_held_welcomes (seq INTEGER PRIMARY KEY AUTOINCREMENT, commit_event_id TEXT NOT NULL, sender TEXT NOT NULL, message_id TEXT NOT NULL, type TEXT NOT NULL, messages_json TEXT NOT NULL, expires_ts INTEGER NOT NULL)`,
  `CREATE INDEX IF NOT EXISTS mls_held_by_commit ON mls_held_welcomes (commit_event_id)`,
  // room-backfill-storage.ts
  `CREATE TABLE IF NOT EXISTS backfilled (seq INTEGER PRIMARY KEY, event_id TEXT NOT NULL UNIQUE)`,
  `CREATE TABLE IF NOT EXISTS backfill_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
];
const ROOM_SCHEMA_NAMES = ["room", "room-fanout", "room-mls", "room-backfill"];

type Dump = Record<string, Array<Record<string, SqlStorageValue>>>;

/** Every row of the named tables, in a stable order. */
function dump(sql: SqlStorage, tables: readonly string[]): Dump {
  const sorted = (rows: Array<Record<string, SqlStorageValue>>) => rows.map((r) => [JSON.stringify(r), r] as const).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, r]) => r);
  return Object.fromEntries(tables.map((t) => [t, sorted(sql.exec(`SELECT * FROM ${t}`).toArray())]));
}

async function call(method: string, path: string, token?: string, body?: unknown): Promise<Record<string, unknown>> {
  const headers: Record<string, string> = {};
  if (token !== undefined) headers["authorization"] = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await exports.default.fetch(new Request(`https://hub.test${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) }));
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}

describe("Room storage versions", () => {
  it("adopts a room written before versioning: a Room opened on its tables serves the same timeline and keeps every row", async () => {
    // A real room's rows, written by the server...
    const username = `adopt${Date.now().toString(36)}${++n}`;
    const token = (await call("POST", "/_matrix/client/v3/register", undefined, { username, password: `pw-${username}`, auth: { type: "m.login.dummy" } }))["access_token"] as string;
    const roomId = (await call("POST", "/_matrix/client/v3/createRoom", token, { name: "adopted" }))["room_id"] as string;
    await call("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/m.room.message/t1`, token, { msgtype: "m.text", body: "kept" });
    const original = env.ROOM.get(env.ROOM.idFromName(roomId));
    const timeline = await original.timeline({ dir: "f", limit: 1000, from: 0 });
    const tables = UNVERSIONED_ROOM.map((s) => /^CREATE TABLE IF NOT EXISTS (\w+)/.exec(s)?.[1]).filter((t): t is string => t !== undefined);
    const rows = await runInDurableObject(original, (_room, state) => dump(state.storage.sql, tables));
    expect(timeline.length).toBeGreaterThan(5);
    expect(rows["events"]?.length).toBe(timeline.length);

    // ...copied into storage laid out by the old statements, with no recorded versions, and a few
    // rows the room above has none of (MLS, backfill).
    await runInDurableObject(freshObject(), async (_obj, state) => {
      const sql = state.storage.sql;
      for (const s of UNVERSIONED_ROOM) sql.exec(s);
      for (const [table, list] of Object.entries(rows)) {
        for (const row of list) {
          const cols = Object.keys(row);
          sql.exec(`INSERT INTO ${table} (${cols.join(", ")}) VALUES (${cols.map(() => "?").join(", ")})`, ...Object.values(row));
        }
      }
      sql.exec(`INSERT INTO mls_commits VALUES ('$commit', 4, 2)`);
      sql.exec(`INSERT INTO backfilled VALUES (0, '$older')`);
      const before = dump(sql, tables);
      for (const name of ROOM_SCHEMA_NAMES) expect(storedVersion(sql, name)).toBe(0);

      const room = new Room(state, env);
      await state.blockConcurrencyWhile(async () => undefined); // the Room's load has run
      // room-fanout's version 2 folds the older outbox layout, which this room does not have.
      expect(ROOM_SCHEMA_NAMES.map((name) => storedVersion(sql, name))).toEqual([1, 2, 1, 1]);
      expect(await room.timeline({ dir: "f", limit: 1000, from: 0 })).toEqual(timeline);
      expect(dump(sql, tables)).toEqual(before);
    });
  });
});
