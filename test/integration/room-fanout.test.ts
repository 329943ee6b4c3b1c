// The Room's fan-out record (durable-objects/room-fanout.ts) on a real Durable Object's SQLite:
// one row per event naming a shared destination set, one cursor per destination, rows dropped once
// every destination has them, and rooms stored with the earlier one-row-per-destination outbox
// keep exactly what each destination was owed.

import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { FanOutLog } from "../../durable-objects/room-fanout.js";

let n = 0;
function freshRoomObject() {
  return env.ROOM.get(env.ROOM.idFromName(`fanout-test-${Date.now()}-${++n}`));
}

/** Timeline rows the fan-out queries join against (the Room's own events table). */
function insertEvents(sql: SqlStorage, count: number): void {
  for (let pos = 1; pos <= count; pos++) {
    sql.exec(`INSERT INTO events (event_id, pos, type, sender, json) VALUES (?, ?, 'm.room.message', '@u:hub.test', ?)`, `$e${pos}`, pos, `{"n":${pos}}`);
  }
}

function count(sql: SqlStorage, table: string): number {
  return sql.exec<{ c: number }>(`SELECT COUNT(*) AS c FROM ${table}`).one().c;
}

/** save() in a transaction of its own, as the Room's alarm does (saveFanOutProgress). */
function persist(storage: DurableObjectStorage, log: FanOutLog): void {
  storage.transactionSync(() => {
    log.save();
    log.prune();
    log.dropUnusedSets();
  });
  log.committed();
}

/** One event's write, as the Room's commit makes it. */
function append(storage: DurableObjectStorage, log: FanOutLog, pos: number, destinations: string[]): void {
  storage.transactionSync(() => {
    log.save();
    log.append(pos, destinations);
  });
  log.committed();
}

describe("room fan-out record", () => {
  it("stores one row per event and one destination set per membership, and serves each destination its events", async () => {
    await runInDurableObject(freshRoomObject(), (_room, state) => {
      const sql = state.storage.sql;
      insertEvents(sql, 5);
      const log = new FanOutLog(state.storage);
      append(state.storage, log, 1, ["", "a.test", "b.test"]);
      append(state.storage, log, 2, ["b.test", "a.test", ""]);
      append(state.storage, log, 3, ["", "a.test", "b.test", "c.test"]);
      append(state.storage, log, 4, ["", "a.test", "b.test", "c.test"]);
      expect(count(sql, "fanout")).toBe(4);
      expect(count(sql, "fanout_sets")).toBe(2);
      expect(log.eventsFor("a.test", undefined, 10).map((r) => r.pos)).toEqual([1, 2, 3, 4]);
      expect(log.eventsFor("c.test", undefined, 10).map((r) => [r.pos, r.eventId, r.json])).toEqual([
        [3, "$e3", `{"n":3}`],
        [4, "$e4", `{"n":4}`],
      ]);
      expect(log.eventsFor("a.test", 2, 1).map((r) => r.pos)).toEqual([3]);
      expect(log.tip("c.test")).toBe(4);
      expect(log.pending().sort((x, y) => x.destination.localeCompare(y.destination))).toEqual([
        { destination: "", pos: 4 },
        { destination: "a.test", pos: 4 },
        { destination: "b.test", pos: 4 },
        { destination: "c.test", pos: 4 },
      ]);

      // Delivered everywhere: rows and the sets they used are dropped; a later event still goes out.
      for (const d of ["", "a.test", "b.test", "c.test"]) log.delivered(d, 4);
      persist(state.storage, log);
      expect([count(sql, "fanout"), count(sql, "fanout_sets"), count(sql, "fanout_members")]).toEqual([0, 0, 0]);
      append(state.storage, log, 5, ["", "a.test"]);
      expect(log.eventsFor("a.test", undefined, 10).map((r) => r.pos)).toEqual([5]);
      expect(log.eventsFor("b.test", undefined, 10)).toEqual([]);
    });
  });

  it("keeps rows a slow destination still needs and drops them once every destination has them", async () => {
    await runInDurableObject(freshRoomObject(), (_room, state) => {
      const sql = state.storage.sql;
      insertEvents(sql, 3);
      const log = new FanOutLog(state.storage);
      for (const pos of [1, 2, 3]) append(state.storage, log, pos, ["", "fast.test", "slow.test"]);
      log.delivered("", 3);
      log.delivered("fast.test", 3);
      log.delivered("slow.test", 1);
      persist(state.storage, log);
      expect(sql.exec<{ pos: number }>(`SELECT pos FROM fanout ORDER BY pos`).toArray().map((r) => r.pos)).toEqual([2, 3]);
      expect(log.eventsFor("fast.test", undefined, 10)).toEqual([]);
      expect(log.eventsFor("slow.test", undefined, 10).map((r) => r.pos)).toEqual([2, 3]);
      expect(log.pendingCounts()).toEqual([{ destination: "slow.test", count: 2 }]);

      // What a restart sees: cursors and rows from storage alone.
      const reloaded = new FanOutLog(state.storage);
      expect(reloaded.pending()).toEqual([{ destination: "slow.test", pos: 3 }]);
      expect(reloaded.cursor("fast.test")).toBe(3);

      reloaded.delivered("slow.test", 3);
      persist(state.storage, reloaded);
      expect(count(sql, "fanout")).toBe(0);
      expect(reloaded.pending()).toEqual([]);
    });
  });

  it("keeps only the rows a destination that stopped reporting is owed, once it has left the room", async () => {
    await runInDurableObject(freshRoomObject(), (_room, state) => {
      const sql = state.storage.sql;
      insertEvents(sql, 6);
      const log = new FanOutLog(state.storage);
      append(state.storage, log, 1, ["", "live.test", "dead.test"]);
      append(state.storage, log, 2, ["", "live.test", "dead.test"]); // e.g. its users' leave
      for (const pos of [3, 4, 5, 6]) append(state.storage, log, pos, ["", "live.test"]);
      log.delivered("", 6);
      log.delivered("live.test", 6);
      persist(state.storage, log);
      // dead.test holds the floor at 0, but only its own two events are kept.
      expect(sql.exec<{ pos: number }>(`SELECT pos FROM fanout ORDER BY pos`).toArray().map((r) => r.pos)).toEqual([1, 2]);
      expect(log.eventsFor("dead.test", undefined, 10).map((r) => r.pos)).toEqual([1, 2]);
      expect(log.eventsFor("live.test", undefined, 10)).toEqual([]);
      expect(new FanOutLog(state.storage).pending()).toEqual([{ destination: "dead.test", pos: 2 }]);
    });
  });

  it("leaves a reported cursor unsaved, and the events owed, when the write carrying it rolls back", async () => {
    await runInDurableObject(freshRoomObject(), (_room, state) => {
      const sql = state.storage.sql;
      insertEvents(sql, 2);
      const log = new FanOutLog(state.storage);
      append(state.storage, log, 1, ["", "a.test"]);
      append(state.storage, log, 2, ["", "a.test"]);
      log.delivered("a.test", 2);
      log.delivered("", 2);
      expect(() =>
        state.storage.transactionSync(() => {
          log.save();
          throw new Error("commit failed");
        }),
      ).toThrow("commit failed");
      expect(count(sql, "fanout")).toBe(2);
      expect(log.dirty).toBe(true);
      persist(state.storage, log);
      expect(count(sql, "fanout")).toBe(0);
      expect(sql.exec<{ pos: number }>(`SELECT pos FROM fanout_done WHERE destination = 'a.test'`).one().pos).toBe(2);
    });
  });

  it("converts a room stored with one outbox row per destination, keeping what each was owed", async () => {
    await runInDurableObject(freshRoomObject(), (_room, state) => {
      const sql = state.storage.sql;
      insertEvents(sql, 4);
      // Such a room predates versioned schemas: it has no recorded fan-out version.
      sql.exec(`DELETE FROM schema_versions WHERE name = 'room-fanout'`);
      sql.exec(`CREATE TABLE outbox (destination TEXT NOT NULL, pos INTEGER NOT NULL, PRIMARY KEY (destination, pos))`);
      // a.test had event 1; b.test had 1-3; the D1 index had 1-2.
      for (const [d, pos] of [["a.test", 2], ["a.test", 3], ["a.test", 4], ["b.test", 4], ["", 3], ["", 4]] as const) {
        sql.exec(`INSERT INTO outbox (destination, pos) VALUES (?, ?)`, d, pos);
      }
      const log = new FanOutLog(state.storage);
      expect(sql.exec(`SELECT 1 FROM sqlite_master WHERE name = 'outbox'`).toArray()).toEqual([]);
      expect(log.eventsFor("a.test", undefined, 10).map((r) => r.pos)).toEqual([2, 3, 4]);
      expect(log.eventsFor("b.test", undefined, 10).map((r) => r.pos)).toEqual([4]);
      expect(log.eventIdsFor("", 10)).toEqual([
        { pos: 3, eventId: "$e3" },
        { pos: 4, eventId: "$e4" },
      ]);
      expect([log.cursor("a.test"), log.cursor("b.test"), log.cursor("")]).toEqual([1, 3, 2]);
      expect(log.pendingCounts().sort((x, y) => x.destination.localeCompare(y.destination))).toEqual([
        { destination: "", count: 2 },
        { destination: "a.test", count: 3 },
        { destination: "b.test", count: 1 },
      ]);
    });
  });
});
