// Typing and read receipts across two servers: each server's user sees the other's typing and
// read receipts in /sync's ephemeral section and in sliding sync's typing and receipts extensions,
// carried between the servers as m.typing and m.receipt EDUs.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestClient, eventually } from "./client.js";
import { startServers, stopServers, type TestServer } from "./harness.js";

type Ephemeral = Array<{ type: string; content: Record<string, unknown> }>;

interface SyncBody {
  next_batch: string;
  rooms: { join: Record<string, { ephemeral?: { events: Ephemeral } }> };
}

interface SlidingBody {
  pos: string;
  extensions: {
    typing?: { rooms: Record<string, { type: string; content: { user_ids: string[] } }> };
    receipts?: { rooms: Record<string, { type: string; content: Record<string, Record<string, Record<string, { ts: number }>>> }> };
  };
}

const SS = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync";

async function sliding(c: TestClient, pos?: string, timeout = 0): Promise<SlidingBody> {
  const q = pos === undefined ? "" : `?pos=${encodeURIComponent(pos)}&timeout=${timeout}`;
  const res = await c.server.fetch(`${SS}${q}`, {
    method: "POST",
    headers: { authorization: `Bearer ${c.accessToken}`, "content-type": "application/json" },
    body: JSON.stringify({
      conn_id: "room-list",
      lists: { all: { ranges: [[0, 19]], timeline_limit: 1, required_state: [["m.room.name", ""]] } },
      extensions: { typing: { enabled: true }, receipts: { enabled: true, rooms: ["*"] } },
    }),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as SlidingBody;
}

/** Syncs from `since` until the room's ephemeral events satisfy `check`. */
async function syncUntil(c: TestClient, roomId: string, since: string, check: (events: Ephemeral) => boolean, what: string): Promise<Ephemeral> {
  let token = since;
  return eventually(async () => {
    const s = await c.request<SyncBody>("GET", `/sync?since=${token}&timeout=2000`);
    token = s.next_batch;
    const events = s.rooms.join[roomId]?.ephemeral?.events ?? [];
    return check(events) ? events : undefined;
  }, what);
}

/** Sliding-syncs from `pos` until the body satisfies `check`. */
async function slidingUntil(c: TestClient, pos: string, check: (b: SlidingBody) => boolean, what: string): Promise<SlidingBody> {
  let at = pos;
  return eventually(async () => {
    const b = await sliding(c, at, 2000);
    at = b.pos;
    return check(b) ? b : undefined;
  }, what);
}

const typingOf = (events: Ephemeral) => events.find((e) => e.type === "m.typing")?.content["user_ids"] as string[] | undefined;
const readBy = (events: Ephemeral, eventId: string, userId: string) =>
  (events.find((e) => e.type === "m.receipt")?.content as Record<string, Record<string, Record<string, unknown>>> | undefined)?.[eventId]?.["m.read"]?.[userId] !== undefined;

describe("typing and read receipts over federation", () => {
  let servers: TestServer[] = [];
  let alice: TestClient;
  let bob: TestClient;
  let roomId: string;

  beforeAll(async () => {
    servers = await startServers(["hub.test", "p1.test"]);
    alice = await TestClient.register(servers[0] as TestServer, "alice");
    bob = await TestClient.register(servers[1] as TestServer, "bob");
    roomId = (await alice.createRoom({ preset: "public_chat", name: "Ephemeral" })).room_id;
    await bob.join(roomId, "hub.test");
  });
  afterAll(() => stopServers(servers));

  it("shows each user the other's typing in /sync, and its end", async () => {
    const aliceSince = (await alice.request<SyncBody>("GET", "/sync")).next_batch;
    const bobSince = (await bob.request<SyncBody>("GET", "/sync")).next_batch;
    await bob.request("PUT", `/rooms/${encodeURIComponent(roomId)}/typing/${encodeURIComponent(bob.userId)}`, { typing: true, timeout: 30_000 });
    await syncUntil(alice, roomId, aliceSince, (e) => typingOf(e)?.includes(bob.userId) === true, "alice sees bob typing");
    await alice.request("PUT", `/rooms/${encodeURIComponent(roomId)}/typing/${encodeURIComponent(alice.userId)}`, { typing: true, timeout: 30_000 });
    await syncUntil(bob, roomId, bobSince, (e) => typingOf(e)?.includes(alice.userId) === true, "bob sees alice typing");
    await bob.request("PUT", `/rooms/${encodeURIComponent(roomId)}/typing/${encodeURIComponent(bob.userId)}`, { typing: false });
    await syncUntil(alice, roomId, aliceSince, (e) => typingOf(e) !== undefined && !typingOf(e)?.includes(bob.userId), "alice sees bob stop typing");
    await alice.request("PUT", `/rooms/${encodeURIComponent(roomId)}/typing/${encodeURIComponent(alice.userId)}`, { typing: false });
  });

  it("shows each user the other's read receipt in /sync", async () => {
    const fromAlice = await alice.send(roomId, "read me, bob");
    const fromBob = await bob.send(roomId, "read me, alice");
    const aliceSince = (await alice.request<SyncBody>("GET", "/sync")).next_batch;
    const bobSince = (await bob.request<SyncBody>("GET", "/sync")).next_batch;
    await eventually(async () => ((await bob.timeline(roomId)).some((e) => e.event_id === fromAlice) ? true : undefined), "bob has alice's message");
    await bob.request("POST", `/rooms/${encodeURIComponent(roomId)}/receipt/m.read/${encodeURIComponent(fromAlice)}`, {});
    await eventually(async () => ((await alice.timeline(roomId)).some((e) => e.event_id === fromBob) ? true : undefined), "alice has bob's message");
    await alice.request("POST", `/rooms/${encodeURIComponent(roomId)}/receipt/m.read/${encodeURIComponent(fromBob)}`, {});
    await syncUntil(alice, roomId, aliceSince, (e) => readBy(e, fromAlice, bob.userId), "alice sees bob's receipt");
    await syncUntil(bob, roomId, bobSince, (e) => readBy(e, fromBob, alice.userId), "bob sees alice's receipt");
  });

  it("keeps a private read receipt on its own server", async () => {
    const msg = await alice.send(roomId, "private read");
    await eventually(async () => ((await bob.timeline(roomId)).some((e) => e.event_id === msg) ? true : undefined), "bob has the message");
    await bob.request("POST", `/rooms/${encodeURIComponent(roomId)}/receipt/m.read.private/${encodeURIComponent(msg)}`, {});
    // A public receipt sent after it arrives; the private one never does.
    const marker = await bob.send(roomId, "marker");
    await bob.request("POST", `/rooms/${encodeURIComponent(roomId)}/receipt/m.read/${encodeURIComponent(marker)}`, {});
    const events = await syncUntil(alice, roomId, "s0", (e) => readBy(e, marker, bob.userId), "alice sees bob's later public receipt");
    expect(JSON.stringify(events)).not.toContain("m.read.private");
  });

  it("shows each user the other's typing and receipts through sliding sync's extensions", async () => {
    const a0 = await sliding(alice);
    const b0 = await sliding(bob);
    await bob.request("PUT", `/rooms/${encodeURIComponent(roomId)}/typing/${encodeURIComponent(bob.userId)}`, { typing: true, timeout: 30_000 });
    await slidingUntil(alice, a0.pos, (b) => b.extensions.typing?.rooms[roomId]?.content.user_ids.includes(bob.userId) === true, "alice's sliding sync shows bob typing");
    const msg = await alice.send(roomId, "sliding receipt");
    await eventually(async () => ((await bob.timeline(roomId)).some((e) => e.event_id === msg) ? true : undefined), "bob has the message");
    await bob.request("POST", `/rooms/${encodeURIComponent(roomId)}/receipt/m.read/${encodeURIComponent(msg)}`, {});
    const seen = await slidingUntil(alice, a0.pos, (b) => b.extensions.receipts?.rooms[roomId]?.content[msg]?.["m.read"]?.[bob.userId] !== undefined, "alice's sliding sync shows bob's receipt");
    expect(seen.extensions.receipts?.rooms[roomId]?.type).toBe("m.receipt");
    await alice.request("PUT", `/rooms/${encodeURIComponent(roomId)}/typing/${encodeURIComponent(alice.userId)}`, { typing: true, timeout: 30_000 });
    await slidingUntil(bob, b0.pos, (b) => b.extensions.typing?.rooms[roomId]?.content.user_ids.includes(alice.userId) === true, "bob's sliding sync shows alice typing");
    await alice.request("POST", `/rooms/${encodeURIComponent(roomId)}/receipt/m.read/${encodeURIComponent(msg)}`, {});
    await slidingUntil(bob, b0.pos, (b) => b.extensions.receipts?.rooms[roomId]?.content[msg]?.["m.read"]?.[alice.userId] !== undefined, "bob's sliding sync shows alice's receipt");
  });
});
