// When a participant server is down, the events its users signed must still be checkable: the
// room's hub verified them, holds the keys, and vouches for them as notary.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseSigningKeySecret } from "../../shared/signing-key.js";
import { eventually, storedEvents, TestClient } from "./client.js";
import { startServers, stopServers, type TestServer } from "./harness.js";

/** The keys of `of` that `server` holds in D1 (fetched directly or through a notary). */
async function keysHeld(server: TestServer, of: string): Promise<Array<{ key_id: string; public_key: string; fetched_ts: number }>> {
  const db = await server.miniflare().getD1Database("DB");
  const rows = await db.prepare(`SELECT key_id, public_key, fetched_ts FROM remote_server_keys WHERE server_name = ?`).bind(of).all<{ key_id: string; public_key: string; fetched_ts: number }>();
  return rows.results;
}

/** The room's current state on `server` as full PDUs (admin API). */
async function currentState(server: TestServer, roomId: string): Promise<Array<{ pdu: { type: string; state_key?: string; content: Record<string, unknown>; signatures: Record<string, Record<string, string>> } }>> {
  const res = await server.fetch(`/_switchboard/admin/v1/rooms/${encodeURIComponent(roomId)}/state`, { headers: { authorization: "Bearer test-admin-token" } });
  expect(res.status).toBe(200);
  return ((await res.json()) as { state: Array<{ pdu: never }> }).state;
}

describe("keys of an unreachable server", () => {
  let servers: TestServer[] = [];

  beforeAll(async () => {
    servers = await startServers(["hub.test", "p1.test", "p2.test"]);
  });
  afterAll(() => stopServers(servers));

  it("lets a server join through the hub while a participant whose events it must check is down", async () => {
    const [hub, p1, p2] = servers as [TestServer, TestServer, TestServer];
    const p2Key = await parseSigningKeySecret(p2.signingKeySecret);
    const alice = await TestClient.register(hub, "alice");
    const carol = await TestClient.register(p2, "carol");
    const bob = await TestClient.register(p1, "bob");
    const roomId = (await alice.createRoom({ preset: "public_chat" })).room_id;
    await carol.join(roomId, "hub.test");
    const said = await carol.send(roomId, "signed by p2");
    // p1 has never seen p2. With p2 down, the join answer's state holds p2's signed join.
    expect(await keysHeld(p1, "p2.test")).toEqual([]);
    await p2.stop();
    const downSince = Date.now();
    // No direct route: p2's own key endpoint does not answer.
    await expect(fetch(`${p2.url}/_matrix/key/v2/server`)).rejects.toThrow();
    await bob.join(roomId, "hub.test");
    const mine = await bob.send(roomId, "hello from p1");
    const p1Events = await eventually(async () => {
      const events = await storedEvents(p1, roomId);
      return events.some((e) => e.event_id === mine) ? events : undefined;
    }, "bob's message on p1");
    expect(p1Events.length).toBeGreaterThan(0);
    // And the hub's later fan-out of p2-signed history is checkable on p1 too.
    const history = await bob.request<{ chunk: Array<{ event_id: string }> }>("GET", `/rooms/${encodeURIComponent(roomId)}/messages?dir=b&limit=50`);
    expect(history.chunk.length).toBeGreaterThan(0);
    void said;

    // What the test exists to prove: p1 accepted carol's join, which carries p2's signature, into
    // the room's state...
    const carolJoin = (await currentState(p1, roomId)).find((e) => e.pdu.type === "m.room.member" && e.pdu.state_key === carol.userId);
    expect(carolJoin?.pdu.content).toMatchObject({ membership: "join" });
    expect(Object.keys(carolJoin?.pdu.signatures["p2.test"] ?? {})).toEqual([p2Key.keyId]);
    // ...having obtained p2's genuine key after p2 went down, so through a notary: the hub, the
    // only one p1 knows (KEY_NOTARIES is unset in these servers).
    const held = await keysHeld(p1, "p2.test");
    expect(held.map((k) => [k.key_id, k.public_key])).toEqual([[p2Key.keyId, p2Key.publicKeyBase64]]);
    expect(held[0]?.fetched_ts).toBeGreaterThanOrEqual(downSince);
    await p2.start();
  });
});
