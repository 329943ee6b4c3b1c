// The timeline window /sync serves from a room (durable-objects/room-history.ts syncSlice), on a real
// Room Durable Object's SQLite: what it returns for incremental and gapped windows, and that an
// incremental sync reads only the new rows, however long the room's history.

import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { syncSlice } from "../../durable-objects/room-history.js";
import { RoomStorage } from "../../durable-objects/room-storage.js";

let n = 0;
function freshRoomObject() {
  return env.ROOM.get(env.ROOM.idFromName(`history-test-${Date.now()}-${++n}`));
}

/** A room of `count` events: the create event at 1, then messages (every `noticeEvery`-th an m.notice). */
function fillRoom(store: RoomStorage, count: number, noticeEvery = 0): void {
  store.insertEvent({ eventId: "$create", pos: 1, type: "m.room.create", stateKey: "", sender: "@a:hub.test", json: `{"type":"m.room.create","state_key":""}` });
  for (let pos = 2; pos <= count; pos++) {
    const type = noticeEvery > 0 && pos % noticeEvery === 0 ? "m.notice" : "m.room.message";
    store.insertEvent({ eventId: `$e${pos}`, pos, type, sender: "@a:hub.test", json: `{"type":"${type}","n":${pos}}` });
  }
}

/** Counts the rows the storage's queries hand back to JavaScript. */
function countingSql(sql: SqlStorage): { sql: SqlStorage; rows: () => number } {
  let rows = 0;
  const counting = new Proxy(sql, {
    get(target, prop) {
      if (prop !== "exec") return Reflect.get(target, prop, target) as unknown;
      return (query: string, ...bindings: unknown[]) => {
        const all = target.exec(query, ...(bindings as SqlStorageValue[])).toArray();
        rows += all.length;
        return { toArray: () => all, one: () => all[0], [Symbol.iterator]: () => all[Symbol.iterator]() };
      };
    },
  });
  return { sql: counting, rows: () => rows };
}

const positions = (s: ReturnType<typeof syncSlice>) => s.events.map((e) => e.pos);

describe("the timeline window a room serves to /sync", () => {
  it("gives an incremental sync exactly the new events, oldest first, not limited and without state", async () => {
    await runInDurableObject(freshRoomObject(), (_room, state) => {
      const store = new RoomStorage(state.storage);
      fillRoom(store, 1_000);
      const s = syncSlice(store, { fromPos: 997, toPos: 1_000, limit: 500, fullState: false });
      expect(positions(s)).toEqual([998, 999, 1_000]);
      expect(s.limited).toBe(false);
      expect(s.state).toEqual([]);
    });
  });

  it("reads only the rows after the client's position, not a page of older ones", async () => {
    await runInDurableObject(freshRoomObject(), (_room, state) => {
      fillRoom(new RoomStorage(state.storage), 1_000);
      const counted = countingSql(state.storage.sql);
      const countedStorage = new Proxy(state.storage, {
        get(target, prop) {
          if (prop === "sql") return counted.sql;
          const value = Reflect.get(target, prop, target) as unknown;
          return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      });
      const store = new RoomStorage(countedStorage);
      // Opening the store reads its schema version; only the window's reads count here.
      const opened = counted.rows();
      const s = syncSlice(store, { fromPos: 999, toPos: 1_000, limit: 500, fullState: false });
      expect(positions(s)).toEqual([1_000]);
      expect(counted.rows() - opened).toBeLessThanOrEqual(2);
    });
  });

  it("marks a window with more new events than the limit as limited, keeps the newest, and adds the state at its start", async () => {
    await runInDurableObject(freshRoomObject(), (_room, state) => {
      const store = new RoomStorage(state.storage);
      fillRoom(store, 1_000);
      const s = syncSlice(store, { fromPos: 10, toPos: 1_000, limit: 20, fullState: false });
      expect(positions(s)).toEqual(Array.from({ length: 20 }, (_, i) => 981 + i));
      expect(s.limited).toBe(true);
      expect(s.prevBatch).toBe("p980");
      expect(s.state.map((e) => e.eventId)).toEqual(["$create"]);
    });
  });

  it("pages back past events the filter leaves out, and stops at the client's position", async () => {
    await runInDurableObject(freshRoomObject(), (_room, state) => {
      const store = new RoomStorage(state.storage);
      fillRoom(store, 1_000, 100);
      const s = syncSlice(store, { fromPos: 450, toPos: 1_000, limit: 3, types: ["m.notice"], fullState: false });
      expect(positions(s)).toEqual([800, 900, 1_000]);
      expect(s.limited).toBe(true);
      const all = syncSlice(store, { fromPos: 450, toPos: 1_000, limit: 50, types: ["m.notice"], fullState: false });
      expect(positions(all)).toEqual([500, 600, 700, 800, 900, 1_000]);
    });
  });
});
