import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestClient } from "./client.js";
import { startServers, stopServers, type TestServer } from "./harness.js";

interface SyncBody {
  next_batch: string;
  rooms: {
    join: Record<string, { timeline: { events: Array<{ event_id: string; type: string; content: Record<string, unknown> }>; limited: boolean; prev_batch: string }; state: { events: unknown[] } }>;
    invite: Record<string, { invite_state: { events: Array<{ type: string; state_key: string; content: Record<string, unknown> }> } }>;
    leave: Record<string, unknown>;
  };
}

const sync = (c: TestClient, since?: string, timeout = 0, filter?: string) =>
  c.request<SyncBody>("GET", `/sync?timeout=${timeout}${since ? `&since=${since}` : ""}${filter ? `&filter=${encodeURIComponent(filter)}` : ""}`);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

describe("/sync", () => {
  let servers: TestServer[] = [];
  let alice: TestClient;
  let bob: TestClient;
  let roomId: string;

  beforeAll(async () => {
    servers = await startServers(["hub.test", "p1.test"]);
    alice = await TestClient.register(servers[0] as TestServer, "alice");
    bob = await TestClient.register(servers[1] as TestServer, "bob");
  });
  afterAll(() => stopServers(servers));

  it("shows a new room on the initial sync with its state and timeline", async () => {
    roomId = (await alice.createRoom({ name: "Sync room" })).room_id;
    const s = await sync(alice);
    const room = s.rooms.join[roomId];
    expect(room).toBeDefined();
    const types = [...(room?.state.events ?? []), ...(room?.timeline.events ?? [])].map((e) => (e as { type: string }).type);
    expect(types).toContain("m.room.create");
    expect(types).toContain("m.room.name");
    expect(s.next_batch).toMatch(/^s\d+$/);
  });

  it("delivers a federated invite with stripped state, then the room after joining", async () => {
    const first = await sync(bob);
    await alice.invite(roomId, bob.userId);
    const s = await sync(bob, first.next_batch, 5000);
    const inv = s.rooms.invite[roomId];
    expect(inv?.invite_state.events.some((e) => e.type === "m.room.member" && e.content["membership"] === "invite")).toBe(true);
    expect(inv?.invite_state.events.some((e) => e.type === "m.room.name")).toBe(true);
    await bob.join(roomId);
    const s2 = await sync(bob, s.next_batch, 5000);
    expect(s2.rooms.join[roomId]).toBeDefined();
  });

  it("applies a stored filter's timeline limit", async () => {
    for (let i = 0; i < 5; i++) await alice.send(roomId, `m${i}`);
    const { filter_id } = await alice.request<{ filter_id: string }>("POST", `/user/${encodeURIComponent(alice.userId)}/filter`, { room: { timeline: { limit: 2 } } });
    const s = await sync(alice, undefined, 0, filter_id);
    const tl = s.rooms.join[roomId]?.timeline;
    expect(tl?.events).toHaveLength(2);
    expect(tl?.limited).toBe(true);
    const inline = await sync(alice, undefined, 0, JSON.stringify({ room: { timeline: { limit: 1, types: ["m.room.message"] } } }));
    expect(inline.rooms.join[roomId]?.timeline.events.map((e) => e.type)).toEqual(["m.room.message"]);
  });

  it("keeps applying a stored filter once it is served from memory, and refuses an unknown filter ID with 400 M_INVALID_PARAM", async () => {
    const { filter_id } = await alice.request<{ filter_id: string }>("POST", `/user/${encodeURIComponent(alice.userId)}/filter`, { room: { timeline: { limit: 3 } } });
    for (let i = 0; i < 3; i++) expect((await sync(alice, undefined, 0, filter_id)).rooms.join[roomId]?.timeline.events).toHaveLength(3);
    const unknown = await sync(alice, undefined, 0, `${filter_id}9`).then(
      () => undefined,
      (e: unknown) => e as { status: number; body: { errcode?: string } },
    );
    expect(unknown?.status).toBe(400);
    expect(unknown?.body.errcode).toBe("M_INVALID_PARAM");
    // Filter IDs are per user: another user naming alice's filter gets the same answer.
    const stranger = await TestClient.register(servers[0] as TestServer, "stranger");
    const theirs = await sync(stranger, undefined, 0, filter_id).then(
      () => undefined,
      (e: unknown) => e as { status: number; body: { errcode?: string } },
    );
    expect(theirs?.status).toBe(400);
  });

  it("wakes a long-polling sync within 100 ms of a local or a federated event", async () => {
    const local: number[] = [];
    const federated: number[] = [];
    const tokens = new Map<TestClient, string>([
      [alice, (await sync(alice)).next_batch],
      [bob, (await sync(bob)).next_batch],
    ]);
    // Local: alice waits on the hub while a hub user sends. Federated: bob waits on p1 while alice
    // sends on the hub, so the event reaches p1 over federation; the clock starts once the hub has
    // stored it (alice's send returned).
    for (let i = 0; i < 10; i++) {
      for (const [poller, samples] of [
        [alice, local],
        [bob, federated],
      ] as const) {
        // Catch up first, so the poll below has nothing pending and must wait.
        tokens.set(poller, (await sync(poller, tokens.get(poller), 0)).next_batch);
        let arrived = 0;
        const poll = sync(poller, tokens.get(poller), 10_000).then((r) => {
          arrived = Date.now();
          return r;
        });
        await new Promise((r) => setTimeout(r, 50)); // let the poll start waiting
        const start = Date.now();
        const eventId = await alice.send(roomId, `ping ${i}`);
        const storedAt = poller === alice ? start : Date.now();
        let s = await poll;
        let events = s.rooms.join[roomId]?.timeline.events ?? [];
        while (!events.some((e) => e.event_id === eventId)) {
          s = await sync(poller, s.next_batch, 5000);
          events = s.rooms.join[roomId]?.timeline.events ?? [];
        }
        tokens.set(poller, s.next_batch);
        samples.push(arrived - storedAt);
      }
    }
    console.log(`long-poll wake-up: local median ${median(local)} ms (max ${Math.max(...local)}), federated median ${median(federated)} ms (max ${Math.max(...federated)})`);
    // Generous bounds for a shared CI machine; the issue's target is 100 ms.
    expect(median(local)).toBeLessThan(100);
    expect(median(federated)).toBeLessThan(100);
  });
});
