import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { RateLimiter } from "../../durable-objects/rate-limiter.js";
import { uniqueName } from "./account-helpers.js";

describe("RateLimiter durable object", () => {
  const limiter = (key: string) => env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(key));

  it("allows a burst of `capacity`, then refuses with the wait until the next token", async () => {
    const key = uniqueName("burst");
    const stub = limiter(key);
    for (let i = 0; i < 3; i++) expect(await stub.take(key, 3, 0.5)).toEqual({ ok: true });
    const refused = await stub.take(key, 3, 0.5);
    expect(refused.ok).toBe(false);
    if (!refused.ok) {
      expect(Number.isInteger(refused.retryAfterMs)).toBe(true);
      expect(refused.retryAfterMs).toBeGreaterThan(0);
      expect(refused.retryAfterMs).toBeLessThanOrEqual(2000);
    }
  });

  it("refills over time at refillPerSecond", async () => {
    const key = uniqueName("refill");
    const stub = limiter(key);
    expect((await stub.take(key, 1, 50)).ok).toBe(true);
    const refused = await stub.take(key, 1, 50);
    expect(refused.ok).toBe(false);
    await new Promise((r) => setTimeout(r, 60));
    expect((await stub.take(key, 1, 50)).ok).toBe(true);
  });

  it("keeps separate buckets per key", async () => {
    const a = uniqueName("a");
    const b = uniqueName("b");
    expect((await limiter(a).take(a, 1, 0.01)).ok).toBe(true);
    expect((await limiter(a).take(a, 1, 0.01)).ok).toBe(false);
    expect((await limiter(b).take(b, 1, 0.01)).ok).toBe(true);
  });

  it("rejects nonsensical parameters", async () => {
    // Called on the instance directly: an exception thrown across RPC is also logged as uncaught.
    const key = uniqueName("bad");
    await runInDurableObject(limiter(key), (instance: RateLimiter) => {
      expect(() => instance.take(key, 0, 1)).toThrow(RangeError);
      expect(() => instance.take(key, 1, 0)).toThrow(RangeError);
      expect(() => instance.take(key, 1, Number.NaN)).toThrow(RangeError);
    });
  });
});
