// Versioned Durable Object schemas (durable-objects/do-schema.ts) on real SQLite-backed storage in
// workerd, and the UserStream opening databases written before versioning, at its version, and by
// newer code. Each test borrows a fresh, empty RateLimiter object for its storage (that class keeps
// nothing in SQLite).

import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { migrate, SchemaTooNewError, storedVersion, type Migration, type Schema } from "../../durable-objects/do-schema.js";
import { USER_STREAM_SCHEMA } from "../../durable-objects/user-stream-storage.js";
import { UserStream } from "../../durable-objects/user-stream.js";

let n = 0;
const freshObject = () => env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(`do-schema-${Date.now()}-${++n}`));

const tables = (sql: SqlStorage): string[] =>
  sql
    .exec<{ name: string }>(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\' AND name NOT LIKE 'sqlite%' ORDER BY name`)
    .toArray()
    .map((r) => r.name);

/** Three migrations that log their runs into `ran`. */
function notes(ran: number[], count = 3): Schema {
  const all: Migration[] = [
    { version: 1, description: "notes table", up: (sql) => (ran.push(1), sql.exec(`CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)`)) },
    { version: 2, description: "notes get an author", up: (sql) => (ran.push(2), sql.exec(`ALTER TABLE notes ADD COLUMN author TEXT NOT NULL DEFAULT ''`)) },
    { version: 3, description: "notes by author", up: (sql) => (ran.push(3), sql.exec(`CREATE INDEX notes_by_author ON notes (author)`)) },
  ];
  return { name: "notes", migrations: all.slice(0, count) };
}

describe("versioned Durable Object schemas", () => {
  it("applies every migration in order to an empty database and records the latest version", async () => {
    await runInDurableObject(freshObject(), (_obj, state) => {
      const ran: number[] = [];
      expect(storedVersion(state.storage.sql, "notes")).toBe(0);
      expect(migrate(state.storage, notes(ran))).toEqual([1, 2, 3]);
      expect(ran).toEqual([1, 2, 3]);
      expect(storedVersion(state.storage.sql, "notes")).toBe(3);
      state.storage.sql.exec(`INSERT INTO notes (text, author) VALUES ('hi', '@a:x')`);
    });
  });

  it("upgrades a database at an older version by running only the newer migrations, keeping its rows", async () => {
    await runInDurableObject(freshObject(), (_obj, state) => {
      const ran: number[] = [];
      migrate(state.storage, notes(ran, 1));
      state.storage.sql.exec(`INSERT INTO notes (text) VALUES ('kept')`);
      expect(migrate(state.storage, notes(ran))).toEqual([2, 3]);
      expect(ran).toEqual([1, 2, 3]);
      expect(state.storage.sql.exec<{ text: string; author: string }>(`SELECT text, author FROM notes`).toArray()).toEqual([{ text: "kept", author: "" }]);
    });
  });

  it("runs nothing on a database already at the latest version", async () => {
    await runInDurableObject(freshObject(), (_obj, state) => {
      const ran: number[] = [];
      migrate(state.storage, notes(ran));
      ran.length = 0;
      expect(migrate(state.storage, notes(ran))).toEqual([]);
      expect(ran).toEqual([]);
      expect(storedVersion(state.storage.sql, "notes")).toBe(3);
    });
  });

  it("refuses a database written by newer code, naming both versions, and changes nothing", async () => {
    await runInDurableObject(freshObject(), (_obj, state) => {
      migrate(state.storage, notes([]));
      state.storage.sql.exec(`INSERT INTO notes (text) VALUES ('from the future')`);
      let error: unknown;
      try {
        migrate(state.storage, notes([], 2));
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(SchemaTooNewError);
      expect((error as Error).message).toBe(
        "notes storage is at schema version 3, but this code knows versions up to 2; refusing to open it (deploy code at least as new as the one that wrote it)",
      );
      expect(storedVersion(state.storage.sql, "notes")).toBe(3);
      expect(state.storage.sql.exec(`SELECT text FROM notes`).toArray()).toEqual([{ text: "from the future" }]);
    });
  });

  it("rolls back every migration of the call when one fails", async () => {
    await runInDurableObject(freshObject(), (_obj, state) => {
      migrate(state.storage, notes([], 1));
      const broken: Schema = {
        name: "notes",
        migrations: [
          ...notes([], 1).migrations,
          { version: 2, description: "adds a table", up: (sql) => sql.exec(`CREATE TABLE tags (tag TEXT)`) },
          { version: 3, description: "fails", up: (sql) => sql.exec(`ALTER TABLE no_such_table ADD COLUMN x TEXT`) },
        ],
      };
      expect(() => migrate(state.storage, broken)).toThrow(/no_such_table/);
      expect(storedVersion(state.storage.sql, "notes")).toBe(1);
      expect(tables(state.storage.sql)).not.toContain("tags");
    });
  });

  it("keeps one version per schema name, so storage modules sharing a database migrate independently", async () => {
    await runInDurableObject(freshObject(), (_obj, state) => {
      const other: Schema = { name: "other", migrations: [{ version: 1, description: "other table", up: (sql) => sql.exec(`CREATE TABLE other (x TEXT)`) }] };
      migrate(state.storage, notes([]));
      expect(migrate(state.storage, other)).toEqual([1]);
      expect([storedVersion(state.storage.sql, "notes"), storedVersion(state.storage.sql, "other")]).toEqual([3, 1]);
    });
  });

  it("rejects migrations that are not numbered 1, 2, 3, … before touching the database", async () => {
    await runInDurableObject(freshObject(), (_obj, state) => {
      const gap: Schema = { name: "gap", migrations: [notes([]).migrations[0] as Migration, notes([]).migrations[2] as Migration] };
      expect(() => migrate(state.storage, gap)).toThrow("gap migration #2 is numbered 3; migrations must be numbered 1, 2, 3, … in order");
      expect(tables(state.storage.sql)).not.toContain("notes");
    });
  });
});

// The UserStream's tables exactly as the code before versioning created them (its constructor ran these).
const UNVERSIONED_USER_STREAM = [
  `CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS rooms (room_id TEXT PRIMARY KEY, membership TEXT NOT NULL, pos INTEGER NOT NULL, stream_id INTEGER NOT NULL, invite_state TEXT)`,
  `CREATE INDEX IF NOT EXISTS rooms_by_stream ON rooms (stream_id)`,
  `CREATE TABLE IF NOT EXISTS room_stream (stream_id INTEGER PRIMARY KEY, room_id TEXT NOT NULL, pos INTEGER NOT NULL)`,
  `CREATE INDEX IF NOT EXISTS room_stream_by_room ON room_stream (room_id, stream_id)`,
  `CREATE TABLE IF NOT EXISTS to_device (seq INTEGER PRIMARY KEY AUTOINCREMENT, device_id TEXT NOT NULL, message_id TEXT NOT NULL, sender TEXT NOT NULL, type TEXT NOT NULL, content TEXT NOT NULL, UNIQUE (device_id, message_id))`,
  `CREATE TABLE IF NOT EXISTS to_device_sent (device_id TEXT NOT NULL, token INTEGER NOT NULL, upto INTEGER NOT NULL, PRIMARY KEY (device_id, token))`,
  `CREATE TABLE IF NOT EXISTS device_list_changes (user_id TEXT PRIMARY KEY, kind TEXT NOT NULL, stream_id INTEGER NOT NULL)`,
  `CREATE INDEX IF NOT EXISTS device_list_changes_by_stream ON device_list_changes (stream_id)`,
  `CREATE TABLE IF NOT EXISTS account_data_changes (room_id TEXT NOT NULL, type TEXT NOT NULL, stream_id INTEGER NOT NULL, PRIMARY KEY (room_id, type))`,
];

describe("UserStream storage versions", () => {
  it("adopts a database written before versioning: its counter, rooms, history, inbox and changes all read back", async () => {
    await runInDurableObject(freshObject(), async (_obj, state) => {
      const sql = state.storage.sql;
      for (const s of UNVERSIONED_USER_STREAM) sql.exec(s);
      sql.exec(`INSERT INTO meta (key, value) VALUES ('counter', '7')`);
      sql.exec(`INSERT INTO rooms VALUES ('!a:hub.test', 'join', 12, 6, NULL), ('!b:hub.test', 'invite', 0, 7, '[{"type":"m.room.name"}]')`);
      sql.exec(`INSERT INTO room_stream VALUES (3, '!a:hub.test', 9), (6, '!a:hub.test', 12), (7, '!b:hub.test', 0)`);
      sql.exec(`INSERT INTO to_device (device_id, message_id, sender, type, content) VALUES ('DEV', 'm1', '@bob:hub.test', 'm.test', '{"n":1}')`);
      sql.exec(`INSERT INTO device_list_changes VALUES ('@bob:hub.test', 'changed', 5)`);
      sql.exec(`INSERT INTO account_data_changes VALUES ('', 'm.push_rules', 4)`);
      expect(storedVersion(sql, "user-stream")).toBe(0);

      const stream = new UserStream(state, env);
      expect(storedVersion(sql, "user-stream")).toBe(2);
      expect(await stream.current()).toBe(7);
      expect(await stream.memberships()).toEqual([
        { roomId: "!a:hub.test", membership: "join" },
        { roomId: "!b:hub.test", membership: "invite" },
      ]);
      const since3 = await stream.changes(3, 0, "DEV");
      expect(since3.rooms).toEqual([
        { roomId: "!a:hub.test", membership: "join", fromPos: 9, toPos: 12 },
        { roomId: "!b:hub.test", membership: "invite", fromPos: null, toPos: 0, inviteStateJson: '[{"type":"m.room.name"}]' },
      ]);
      expect(since3.toDevice).toEqual([{ sender: "@bob:hub.test", type: "m.test", contentJson: '{"n":1}' }]);
      expect(since3.deviceLists).toEqual({ changed: ["@bob:hub.test"], left: [] });
      expect(since3.accountData).toEqual([{ roomId: "", type: "m.push_rules" }]);
      // Writing continues from the old counter.
      expect(await stream.notify("!a:hub.test", 13)).toBe(since3.next + 1);
      // Opening it again (a restarted object) runs no migration.
      expect(migrate(state.storage, USER_STREAM_SCHEMA)).toEqual([]);
    });
  });

  it("refuses to open a database written by a newer UserStream", async () => {
    await runInDurableObject(freshObject(), (_obj, state) => {
      new UserStream(state, env);
      state.storage.sql.exec(`UPDATE schema_versions SET version = 3 WHERE name = 'user-stream'`);
      expect(() => new UserStream(state, env)).toThrow(SchemaTooNewError);
      expect(() => new UserStream(state, env)).toThrow("user-stream storage is at schema version 3, but this code knows versions up to 2");
    });
  });
});
