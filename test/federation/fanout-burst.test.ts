// A burst of events from the hub reaches every participant promptly: no event waits for the
// room's periodic re-announcement (5 s) because a destination queue was not told about it.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, storedEvents, TestClient } from "./client.js";
import { startServers, stopServers, type TestServer } from "./harness.js";

describe("a burst of hub events", () => {
  let servers: TestServer[] = [];

  beforeAll(async () => {
    // Client rate limits well above the burst: this measures fan-out, not the limiter.
    const RATE_LIMITS = JSON.stringify({ user: { capacity: 1_000, refillPerSecond: 1_000 }, token: { capacity: 1_000, refillPerSecond: 1_000 } });
    servers = await startServers(["hub.test", "p1.test", "p2.test", "p3.test"], { bindings: { RATE_LIMITS } });
  });
  afterAll(() => stopServers(servers));

  it("reaches all three participants within three seconds of the last send", async () => {
    const [hub, ...parts] = servers as [TestServer, TestServer, TestServer, TestServer];
    const alice = await TestClient.register(hub, "alice");
    const guests = await Promise.all(parts.map((p, i) => TestClient.register(p, `guest${i}`)));
    const roomId = (await alice.createRoom({ preset: "public_chat", name: "burst" })).room_id;
    for (const g of guests) await g.join(roomId, hub.name);
    const sent: string[] = [];
    for (let round = 0; round < 20; round++) {
      // 10 concurrent sends per round, rounds back to back: a steady stream of commits.
      sent.push(...(await Promise.all(Array.from({ length: 10 }, (_, i) => alice.send(roomId, `burst ${round}.${i}`)))));
    }
    const lastSent = Date.now();
    for (const p of parts) {
      await eventually(async () => {
        const ids = new Set((await storedEvents(p, roomId)).map((e) => e.event_id));
        return sent.every((id) => ids.has(id)) ? true : undefined;
      }, `${p.name} to store all 200 events`, 10_000);
    }
    const lag = Date.now() - lastSent;
    console.log(`burst: 200 events on all 3 participants ${lag} ms after the last send`);
    // Well under the room's 5 s re-announcement, with room for a loaded CI machine.
    expect(lag).toBeLessThan(3_000);
  });
});
