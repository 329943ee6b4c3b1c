import { describe, expect, it } from "vitest";
import { DEFAULT_RATE_LIMITS, parseRateLimits, requestClass, takeFromBucket } from "../../shared/token-bucket.js";

describe("takeFromBucket", () => {
  const limit = { capacity: 3, refillPerSecond: 2 };

  it("starts full and refuses once empty, saying when one token will be back", () => {
    let b = takeFromBucket(undefined, limit, 0).bucket;
    b = takeFromBucket(b, limit, 0).bucket;
    const third = takeFromBucket(b, limit, 0);
    expect(third.result).toEqual({ ok: true });
    const fourth = takeFromBucket(third.bucket, limit, 0);
    expect(fourth.result).toEqual({ ok: false, retryAfterMs: 500 });
  });

  it("refills at the configured rate, never above capacity", () => {
    const empty = { tokens: 0, updatedMs: 0 };
    expect(takeFromBucket({ ...empty }, limit, 499).result.ok).toBe(false);
    expect(takeFromBucket({ ...empty }, limit, 500).result.ok).toBe(true);
    const long = takeFromBucket({ ...empty }, limit, 60_000);
    expect(long.bucket.tokens).toBe(2); // capped at 3, minus the one taken
  });

  it("charges a cost of several tokens at once, and refuses it whole", () => {
    const r = takeFromBucket(undefined, { capacity: 10, refillPerSecond: 1 }, 0, 50);
    expect(r.result).toEqual({ ok: false, retryAfterMs: 40_000 });
    expect(r.bucket.tokens).toBe(10);
  });

  it("does not let a clock that goes backwards add tokens", () => {
    const r = takeFromBucket({ tokens: 0, updatedMs: 1_000 }, limit, 0);
    expect(r.result.ok).toBe(false);
  });
});

describe("parseRateLimits", () => {
  it("uses the defaults when RATE_LIMITS is unset or empty", () => {
    expect(parseRateLimits(undefined)).toBe(DEFAULT_RATE_LIMITS);
    expect(parseRateLimits("")).toBe(DEFAULT_RATE_LIMITS);
  });

  it("overrides only the limits given and keeps the defaults for the rest", () => {
    const l = parseRateLimits(JSON.stringify({ token: { capacity: 5 }, serverPdus: { capacity: 10, refillPerSecond: 3 } }));
    expect(l.token).toEqual({ capacity: 5, refillPerSecond: DEFAULT_RATE_LIMITS.token.refillPerSecond });
    expect(l.serverPdus).toEqual({ capacity: 10, refillPerSecond: 3 });
    expect(l.user).toEqual(DEFAULT_RATE_LIMITS.user);
    expect(l.serverRequests).toEqual(DEFAULT_RATE_LIMITS.serverRequests);
  });

  it("falls back to the default for values that are not positive numbers, and for bad JSON", () => {
    const l = parseRateLimits(JSON.stringify({ user: { capacity: 0, refillPerSecond: "fast" } }));
    expect(l.user).toEqual(DEFAULT_RATE_LIMITS.user);
    expect(parseRateLimits("{not json")).toBe(DEFAULT_RATE_LIMITS);
  });

  it("parses a string once: the same RATE_LIMITS gives the same frozen limits, a new one is read afresh", () => {
    const a = JSON.stringify({ token: { capacity: 7, refillPerSecond: 1 } });
    const first = parseRateLimits(a);
    expect(parseRateLimits(a)).toBe(first);
    expect(Object.isFrozen(first) && Object.isFrozen(first.token)).toBe(true);
    const other = parseRateLimits(JSON.stringify({ token: { capacity: 8, refillPerSecond: 1 } }));
    expect(other.token.capacity).toBe(8);
    expect(parseRateLimits(a)).toEqual(first);
  });
});

describe("requestClass", () => {
  it("counts GETs and read-only queries as reads, everything that changes something as writes", () => {
    expect(requestClass("GET", "/_matrix/client/v1/media/thumbnail/a/b")).toBe("read");
    expect(requestClass("POST", "/_matrix/client/v3/keys/query")).toBe("read");
    expect(requestClass("POST", "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync")).toBe("read");
    expect(requestClass("POST", "/_matrix/media/v3/upload")).toBe("write");
    expect(requestClass("PUT", "/_matrix/client/v3/rooms/!r:x/send/m.room.message/1")).toBe("write");
    expect(requestClass("POST", "/_matrix/client/v3/keys/claim")).toBe("write");
  });

  it("reads the read buckets from RATE_LIMITS like the others, with generous defaults", () => {
    const l = parseRateLimits(JSON.stringify({ tokenReads: { capacity: 9, refillPerSecond: 2 } }));
    expect(l.tokenReads).toEqual({ capacity: 9, refillPerSecond: 2 });
    expect(l.userReads).toEqual(DEFAULT_RATE_LIMITS.userReads);
    expect(DEFAULT_RATE_LIMITS.tokenReads.capacity).toBeGreaterThan(DEFAULT_RATE_LIMITS.token.capacity);
  });
});
