// A user who joined through a participant server pages back past their own join: the participant
// fetches the older history from the hub on demand, stores it once (apart from its live timeline:
// no notification, no new events in /sync), and serves what the room's history visibility allows.
// Paging backwards from a /sync next_batch, a timeline prev_batch, a previous page's end, or no
// token returns every visible event exactly once, newest first, down to the create event.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, storedEvents, TestClient } from "./client.js";
import { startServers, stopServers, type TestServer } from "./harness.js";

const enc = encodeURIComponent;

type Page = { chunk: Array<{ event_id: string; type: string; content: Record<string, unknown> }>; end?: string };
type SyncBody = { next_batch: string; rooms: { join: Record<string, { timeline: { events: Array<{ event_id: string }>; prev_batch: string } }> } };

async function walkBack(c: TestClient, roomId: string, from: string | undefined, limit = 8): Promise<Page["chunk"]> {
  const out: Page["chunk"] = [];
  for (let i = 0; i < 200; i++) {
    const page = await c.request<Page>("GET", `/rooms/${enc(roomId)}/messages?dir=b&limit=${limit}${from === undefined ? "" : `&from=${enc(from)}`}`);
    out.push(...page.chunk);
    if (page.end === undefined) return out;
    from = page.end;
  }
  throw new Error("pagination did not end");
}

const ids = (chunk: Page["chunk"]) => chunk.map((e) => e.event_id);

describe("history older than a participant's replica", () => {
  let servers: TestServer[] = [];
  let hub: TestServer;
  let p1: TestServer;
  let alice: TestClient;
  let bob: TestClient;
  let carol: TestClient;

  beforeAll(async () => {
    servers = await startServers(["hub.test", "p1.test"]);
    [hub, p1] = servers as [TestServer, TestServer];
    alice = await TestClient.register(hub, "alice");
    bob = await TestClient.register(p1, "bob");
    carol = await TestClient.register(p1, "carol");
  });
  afterAll(() => stopServers(servers));

  /** The hub's whole timeline of the room, newest first (what a member of a shared room may see). */
  async function hubTimeline(roomId: string): Promise<string[]> {
    return (await storedEvents(hub, roomId)).map((e) => e.event_id).reverse();
  }

  it("with shared visibility, pages from next_batch, prev_batch, end and no token return all of it once, down to the create event", async () => {
    const roomId = (await alice.createRoom({ preset: "public_chat", name: "Old history" })).room_id;
    for (let i = 0; i < 30; i++) await alice.send(roomId, `before-${i}`);
    // A redacted message: the participant must serve it stripped, although the hub's backfill carries the original.
    const secret = await alice.send(roomId, "secret before the join");
    await alice.request("PUT", `/rooms/${enc(roomId)}/redact/${enc(secret)}/r1`, { reason: "oops" });
    await bob.join(roomId, hub.name);
    await alice.send(roomId, "after-0");
    await alice.send(roomId, "after-1");
    const all = await hubTimeline(roomId);
    await eventually(async () => ((await storedEvents(p1, roomId)).some((e) => e.event_id === all[0]) ? true : undefined), "the last event on p1");
    const liveOnP1 = (await storedEvents(p1, roomId)).map((e) => e.event_id);

    const s = await bob.request<SyncBody>("GET", "/sync?timeout=0");
    const section = s.rooms.join[roomId];
    expect(section).toBeDefined();
    const shown = section?.timeline.events.map((e) => e.event_id) ?? [];
    const upTo = all.indexOf(shown[shown.length - 1] as string);
    expect(upTo).toBeGreaterThanOrEqual(0);
    const seenAtSync = all.slice(upTo);

    const fromNextBatch = await walkBack(bob, roomId, s.next_batch);
    expect(ids(fromNextBatch)).toEqual(seenAtSync);
    expect(fromNextBatch[fromNextBatch.length - 1]?.type).toBe("m.room.create");
    const redacted = fromNextBatch.find((e) => e.event_id === secret);
    expect(redacted?.content).toEqual({});

    expect(ids(await walkBack(bob, roomId, section?.timeline.prev_batch))).toEqual(seenAtSync.slice(shown.length));
    expect(ids(await walkBack(bob, roomId, undefined))).toEqual(await hubTimeline(roomId));
    const first = await bob.request<Page>("GET", `/rooms/${enc(roomId)}/messages?dir=b&limit=5&from=${enc(s.next_batch)}`);
    expect(ids(first.chunk)).toEqual(seenAtSync.slice(0, 5));
    expect(ids(await walkBack(bob, roomId, first.end, 6))).toEqual(seenAtSync.slice(5));

    // The fetched history is not new: the live timeline is as it was, and an incremental sync shows nothing of it.
    expect((await storedEvents(p1, roomId)).map((e) => e.event_id)).toEqual(liveOnP1);
    const after = await bob.request<SyncBody>("GET", `/sync?timeout=0&since=${s.next_batch}`);
    expect(after.rooms.join[roomId]?.timeline.events ?? []).toEqual([]);

    // Stored once: with the hub down, the participant still serves it all.
    await hub.stop();
    try {
      expect(ids(await walkBack(bob, roomId, s.next_batch))).toEqual(seenAtSync);
    } finally {
      await hub.start();
    }
  });

  it("with joined visibility, the participant's user does not get events from before their join", async () => {
    const roomId = (
      await alice.createRoom({ preset: "public_chat", initial_state: [{ type: "m.room.history_visibility", state_key: "", content: { history_visibility: "joined" } }] })
    ).room_id;
    const hidden: string[] = [];
    for (let i = 0; i < 12; i++) hidden.push(await alice.send(roomId, `hidden-${i}`));
    await carol.join(roomId, hub.name);
    const visibleAfter = await alice.send(roomId, "after carol's join");
    const all = await hubTimeline(roomId);
    const seen = ids(await walkBack(carol, roomId, undefined, 4));
    // The room's opening events predate the setting (the default, shared, applied to them); the
    // messages sent under "joined" before carol came are not hers to read.
    expect(seen).toEqual(all.filter((id) => !hidden.includes(id)));
    expect(seen).toContain(visibleAfter);
    // The hub's own member sees them all.
    expect(ids(await walkBack(alice, roomId, undefined, 4))).toEqual(all);
  });
});
