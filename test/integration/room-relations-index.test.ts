// The Room's relations index on real SQLite-backed storage in workerd: a room that already holds
// events when the index first opens gets them indexed by its migration (timeline events with an
// event_id and rel_type only). Borrows a fresh, empty RateLimiter object for its storage.

import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { storedVersion } from "../../durable-objects/do-schema.js";
import { RelationsStore } from "../../durable-objects/room-relations-storage.js";
import { RoomStorage } from "../../durable-objects/room-storage.js";

const event = (eventId: string, pos: number | null, content: Record<string, unknown>, type = "m.room.message") => ({
  eventId,
  pos,
  type,
  sender: "@a:hub.test",
  json: JSON.stringify({ type, sender: "@a:hub.test", content, room_id: "!r:hub.test", origin_server_ts: 1 }),
});

describe("relations index", () => {
  it("indexes the relations of events stored before it existed, and only well-formed ones on the timeline", async () => {
    const stub = env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(`relations-${Date.now()}`));
    await runInDurableObject(stub, (_obj, state) => {
      const store = new RoomStorage(state.storage);
      store.insertEvent(event("$root", 1, { body: "root" }));
      store.insertEvent(event("$t1", 2, { body: "one", "m.relates_to": { rel_type: "m.thread", event_id: "$root" } }));
      store.insertEvent(event("$like", 3, { "m.relates_to": { rel_type: "m.annotation", event_id: "$root", key: "x" } }, "m.reaction"));
      store.insertEvent(event("$noType", 4, { "m.relates_to": { event_id: "$root" } }));
      store.insertEvent(event("$badId", 5, { "m.relates_to": { rel_type: "m.thread", event_id: 7 } }));
      store.insertEvent(event("$outlier", null, { "m.relates_to": { rel_type: "m.thread", event_id: "$root" } }));
      expect(storedVersion(state.storage.sql, "room-relations")).toBe(0);

      const index = new RelationsStore(state.storage);
      expect(storedVersion(state.storage.sql, "room-relations")).toBe(1);
      expect(index.children({ parentId: "$root", dir: "f", limit: 10 })).toEqual([
        { eventId: "$t1", pos: 2 },
        { eventId: "$like", pos: 3 },
      ]);
      // New events go in through the commit listener's record(); a second open runs nothing again.
      index.record({ eventId: "$t2", parentId: "$root", relType: "m.thread", type: "m.room.message", sender: "@b:hub.test", pos: 6 });
      const again = new RelationsStore(state.storage);
      expect(again.children({ parentId: "$root", relType: "m.thread", dir: "b", limit: 10 }).map((r) => r.eventId)).toEqual(["$t2", "$t1"]);
      expect(again.threadSummaries(["$root"], "@b:hub.test", new Map([["$root", "@a:hub.test"]]))).toEqual([{ rootId: "$root", count: 2, latestEventId: "$t2", participated: true }]);
    });
  });
});
