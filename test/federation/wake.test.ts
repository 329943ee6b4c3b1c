// A destination the hub has backed off from is retried as soon as that server contacts the hub,
// not when the backoff ends: its own transaction is the evidence that it is back.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, storedEvents, TestClient } from "./client.js";
import { startServers, stopServers, type TestServer } from "./harness.js";

/** A backoff far longer than the test, so only the wake-up can explain a prompt delivery. */
const BINDINGS = { FEDERATION_RETRY_BASE_MS: "120000", FEDERATION_RETRY_MAX_MS: "120000" };
const ADMIN = { authorization: "Bearer test-admin-token" };

describe("a backed-off destination that contacts the hub", () => {
  let servers: TestServer[] = [];
  let hub: TestServer;
  let p1: TestServer;

  beforeAll(async () => {
    servers = await startServers(["hub.test", "p1.test"], { bindings: BINDINGS });
    [hub, p1] = servers as [TestServer, TestServer];
  });
  afterAll(() => stopServers(servers));

  it("gets what was queued for it right after its own next transaction reaches the hub", async () => {
    const [alice, bob] = await Promise.all([TestClient.register(hub, "alice"), TestClient.register(p1, "bob")]);
    const roomId = (await alice.createRoom({ name: "wake" })).room_id;
    await alice.invite(roomId, bob.userId);
    await bob.join(roomId);
    const joined = (await storedEvents(hub, roomId)).at(-1)?.event_id;
    await eventually(async () => ((await storedEvents(p1, roomId)).at(-1)?.event_id === joined ? true : undefined), "p1 to settle");

    await p1.stop();
    const whileDown = await alice.send(roomId, "sent while p1 was down");
    const backedOff = await eventually(async () => {
      const res = await hub.fetch(`/_switchboard/admin/v1/destinations/p1.test`, { headers: ADMIN });
      const s = (await res.json()) as { failures: number; nextAttemptTs: number | null };
      return s.failures > 0 ? s : undefined;
    }, "the hub to back off from p1");
    expect((backedOff.nextAttemptTs ?? 0) - Date.now()).toBeGreaterThan(60_000);

    await p1.start();
    // Bob's message travels p1 -> hub as a transaction; the hub then retries its queue for p1.
    const fromBob = await bob.send(roomId, "p1 is back");
    const replica = await eventually(async () => {
      const ev = await storedEvents(p1, roomId);
      return ev.some((e) => e.event_id === whileDown) && ev.some((e) => e.event_id === fromBob) ? ev : undefined;
    }, "p1 to receive the message queued while it was down", 10_000);
    const ids = replica.map((e) => e.event_id);
    expect(ids.indexOf(whileDown)).toBeLessThan(ids.indexOf(fromBob));
  });
});
