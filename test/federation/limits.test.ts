// Rate limits and clock-skew bounds, seen from outside: each answers a clear Matrix error.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildLpdu } from "../../shared/lpdu.js";
import { LM_ROOM_VERSION } from "../../shared/room-versions.js";
import { eventIdOf } from "../../shared/hashes.js";
import { storedEvents, TestClient } from "./client.js";
import { fed, keyOf, marker, sendTxn } from "./forge.js";
import { startServers, stopServers, type TestServer } from "./harness.js";

describe("limits", () => {
  let servers: TestServer[] = [];
  let hub: TestServer;
  let p1: TestServer;
  let alice: TestClient;
  let bob: TestClient;
  let roomId: string;

  beforeAll(async () => {
    servers = await startServers(["hub.test", "p1.test"], {
      bindings: {
        RATE_LIMITS: JSON.stringify({ token: { capacity: 20, refillPerSecond: 1 }, tokenReads: { capacity: 20, refillPerSecond: 1 }, serverRequests: { capacity: 10, refillPerSecond: 1 } }),
      },
    });
    [hub, p1] = servers as [TestServer, TestServer];
    alice = await TestClient.register(hub, "alice");
    bob = await TestClient.register(p1, "bob");
    roomId = (await alice.createRoom({})).room_id;
    await alice.invite(roomId, bob.userId);
    await bob.join(roomId);
  });
  afterAll(() => stopServers(servers));

  it("refuses an LPDU stamped far in the future, and stores it nowhere", async () => {
    const body = marker("future");
    const lpdu = await buildLpdu(
      { room_id: roomId, type: "m.room.message", sender: bob.userId, origin_server_ts: Date.now() + 60 * 60 * 1000, content: { msgtype: "m.text", body } },
      await keyOf(p1),
      hub.name,
    );
    const answer = await sendTxn(p1, hub, [lpdu]);
    expect(answer.status).toBe(200);
    const id = await eventIdOf(lpdu, LM_ROOM_VERSION);
    expect(answer.body.failed_pdus?.[id]?.error).toMatch(/ahead of this server's clock/);
    for (const s of servers) expect((await storedEvents(s, roomId)).some((e) => e.pdu.content["body"] === body)).toBe(false);
  });

  it("answers 429 M_LIMIT_EXCEEDED with retry_after_ms once an access token exceeds its rate", async () => {
    const carol = await TestClient.register(hub, "carol");
    let limited: { status: number; body: Record<string, unknown> } | undefined;
    for (let i = 0; i < 60 && !limited; i++) {
      const res = await hub.fetch("/_matrix/client/v3/account/whoami", { headers: { authorization: `Bearer ${carol.accessToken}` } });
      if (res.status === 429) limited = { status: res.status, body: (await res.json()) as Record<string, unknown> };
    }
    expect(limited?.body["errcode"]).toBe("M_LIMIT_EXCEEDED");
    expect(limited?.body["retry_after_ms"]).toBeGreaterThan(0);
    // Another user's token is not affected.
    expect((await alice.request<{ user_id: string }>("GET", "/account/whoami")).user_id).toBe(alice.userId);
  });

  it("charges every /sync to the token's rate, with an inline filter and with a stored one", async () => {
    const dave = await TestClient.register(hub, "dave");
    const { filter_id } = await dave.request<{ filter_id: string }>("POST", `/user/${encodeURIComponent(dave.userId)}/filter`, { room: { timeline: { limit: 5 } } });
    const inline = encodeURIComponent(JSON.stringify({ room: { timeline: { limit: 5 } } }));
    // Alternating: a stored filter is read from D1 once, then served from memory like an inline one.
    let limited: { status: number; body: Record<string, unknown> } | undefined;
    let ok = 0;
    for (let i = 0; i < 60 && !limited; i++) {
      const filter = i % 2 === 0 ? filter_id : inline;
      const res = await hub.fetch(`/_matrix/client/v3/sync?timeout=0&filter=${filter}`, { headers: { authorization: `Bearer ${dave.accessToken}` } });
      if (res.status === 429) limited = { status: res.status, body: (await res.json()) as Record<string, unknown> };
      else if (res.status === 200) ok++;
    }
    expect(limited?.body["errcode"]).toBe("M_LIMIT_EXCEEDED");
    expect(limited?.body["retry_after_ms"]).toBeGreaterThan(0);
    expect(ok).toBeGreaterThanOrEqual(15); // the token's read capacity (20), give or take a refill
    expect(ok).toBeLessThanOrEqual(25);
  });

  it("answers 429 M_LIMIT_EXCEEDED to a remote server that floods federation requests", async () => {
    let limited: { status: number; body: { errcode?: string; retry_after_ms?: number } } | undefined;
    for (let i = 0; i < 40 && !limited; i++) {
      const a = await fed<{ retry_after_ms?: number }>(p1, hub, "GET", `/_matrix/federation/v1/make_join/${encodeURIComponent(roomId)}/${encodeURIComponent(bob.userId)}?ver=${LM_ROOM_VERSION.id}`);
      if (a.status === 429) limited = a;
    }
    expect(limited?.body.errcode).toBe("M_LIMIT_EXCEEDED");
    expect(limited?.body.retry_after_ms).toBeGreaterThan(0);
  });
});
