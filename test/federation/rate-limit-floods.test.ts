// The default client rate limits still stop floods: one token's burst of reads, and of writes, gets
// 429 M_LIMIT_EXCEEDED with retry_after_ms. Driven over real HTTP from outside the server, so the
// whole burst is in flight at once and is charged faster than the buckets refill.
// (test/integration/client-startup-limits.test.ts shows a client's start-up stays under them.)

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_RATE_LIMITS } from "../../shared/token-bucket.js";
import { TestClient } from "./client.js";
import { startServers, stopServers, type TestServer } from "./harness.js";

interface Answer {
  status: number;
  body: Record<string, unknown>;
  retryAfter: string | null;
}

describe("default rate limits against floods", () => {
  let servers: TestServer[] = [];
  let hub: TestServer;

  beforeAll(async () => {
    servers = await startServers(["hub.test"]);
    hub = servers[0] as TestServer;
  });
  afterAll(() => stopServers(servers));

  async function burst(n: number, method: string, path: (i: number) => string, token: string, body?: (i: number) => unknown): Promise<Answer[]> {
    return Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const res = await hub.fetch(path(i), {
          method,
          headers: { authorization: `Bearer ${token}`, ...(body ? { "content-type": "application/json" } : {}) },
          body: body ? JSON.stringify(body(i)) : undefined,
        });
        return { status: res.status, body: (await res.json()) as Record<string, unknown>, retryAfter: res.headers.get("retry-after") };
      }),
    );
  }

  it("answers a burst of reads from one token beyond its read bucket with 429 M_LIMIT_EXCEEDED and retry_after_ms", async () => {
    const user = await TestClient.register(hub, "readflood");
    const n = DEFAULT_RATE_LIMITS.tokenReads.capacity * 2;
    const answers = await burst(n, "GET", () => "/_matrix/client/v3/account/whoami", user.accessToken);
    const limited = answers.filter((a) => a.status === 429);
    expect(limited.length).toBeGreaterThan(0);
    expect(limited[0]?.body["errcode"]).toBe("M_LIMIT_EXCEEDED");
    expect(limited[0]?.body["retry_after_ms"]).toBeGreaterThan(0);
    expect(Number(limited[0]?.retryAfter)).toBeGreaterThan(0);
    expect(answers.filter((a) => a.status === 200).length).toBeGreaterThanOrEqual(DEFAULT_RATE_LIMITS.tokenReads.capacity);
  });

  it("answers a burst of writes with 429 once the much smaller write bucket is empty", async () => {
    const user = await TestClient.register(hub, "writeflood");
    const n = DEFAULT_RATE_LIMITS.token.capacity * 3;
    const path = `/_matrix/client/v3/user/${encodeURIComponent(user.userId)}/account_data/org.example.flood`;
    const answers = await burst(n, "PUT", () => path, user.accessToken, (i) => ({ i }));
    const ok = answers.filter((a) => a.status === 200).length;
    const limited = answers.find((a) => a.status === 429);
    expect(limited?.body["errcode"]).toBe("M_LIMIT_EXCEEDED");
    expect(limited?.body["retry_after_ms"]).toBeGreaterThan(0);
    expect(ok).toBeGreaterThanOrEqual(DEFAULT_RATE_LIMITS.token.capacity);
    expect(ok).toBeLessThan(n);
  });
});
