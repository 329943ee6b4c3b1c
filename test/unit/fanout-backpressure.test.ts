// The hub room's push-back rule (durable-objects/room-backpressure.ts) and how a destination queue
// reads a 429 (durable-objects/destination-retry.ts), in Node.

import { describe, expect, it } from "vitest";
import { pushBackDelay, retryDelay } from "../../durable-objects/destination-retry.js";
import { backlogLimit, DEFAULT_BACKLOG_LIMIT, FanOutBackpressure, LIVE_MS } from "../../durable-objects/room-backpressure.js";

const ENV = { FEDERATION_RETRY_BASE_MS: "100", FEDERATION_RETRY_MAX_MS: "2000" };

describe("fan-out push-back", () => {
  it("takes events while every delivering destination is less than the limit behind, and refuses them from the limit on", () => {
    const bp = new FanOutBackpressure(100);
    bp.heard("a.test", 0, 1_000);
    bp.heard("b.test", 0, 1_000);
    const owed = (a: number, b: number) => [
      { destination: "a.test", backlog: a },
      { destination: "b.test", backlog: b },
    ];
    expect(bp.retryAfterMs(owed(99, 49), 1_100)).toBeUndefined();
    const wait = bp.retryAfterMs(owed(10, 100), 1_100);
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(500);
    // The slowest one caught up: taken again.
    expect(bp.retryAfterMs(owed(10, 80), 1_100)).toBeUndefined();
  });

  it("leaves out a destination that has not pulled for a while, so one server down cannot stop the room", () => {
    const bp = new FanOutBackpressure(100);
    bp.heard("down.test", 0, 1_000);
    bp.heard("up.test", 0, 1_000);
    const owed = [
      { destination: "down.test", backlog: 1_000 },
      { destination: "up.test", backlog: 10 },
    ];
    expect(bp.retryAfterMs(owed, 1_000 + LIVE_MS - 1)).toBeGreaterThan(0);
    bp.heard("up.test", 990, 1_000 + LIVE_MS);
    expect(bp.retryAfterMs(owed, 1_000 + LIVE_MS + 1)).toBeUndefined();
    // Never heard from since the room started (a queue that restarted, say): not counted either.
    expect(new FanOutBackpressure(100).retryAfterMs(owed, 5_000)).toBeUndefined();
  });

  it("reads FANOUT_BACKLOG_LIMIT as a positive integer, else the default", () => {
    expect(backlogLimit("250")).toBe(250);
    for (const bad of [undefined, "", "0", "-5", "1.5", "lots"]) expect(backlogLimit(bad)).toBe(DEFAULT_BACKLOG_LIMIT);
  });
});

describe("a destination queue's reading of a 429", () => {
  it("waits the retry_after_ms asked for, bounded by the longest backoff, and counts it as no failure", () => {
    expect(pushBackDelay(ENV, 429, { errcode: "M_LIMIT_EXCEEDED", retry_after_ms: 250 })).toBe(250);
    expect(pushBackDelay(ENV, 429, { errcode: "M_LIMIT_EXCEEDED", retry_after_ms: 60_000 })).toBe(2_000);
    expect(pushBackDelay(ENV, 429, { errcode: "M_LIMIT_EXCEEDED" })).toBe(100);
    expect(pushBackDelay(ENV, 429, { errcode: "M_LIMIT_EXCEEDED", retry_after_ms: "soon" })).toBe(100);
  });

  it("treats every other answer as it did: a failure to back off from, or a success", () => {
    expect(pushBackDelay(ENV, 429, { errcode: "M_UNKNOWN" })).toBeUndefined();
    expect(pushBackDelay(ENV, 500, { errcode: "M_LIMIT_EXCEEDED", retry_after_ms: 5 })).toBeUndefined();
    expect(pushBackDelay(ENV, 200, { failed_pdus: {} })).toBeUndefined();
    expect([1, 2, 3, 10].map((f) => retryDelay(ENV, f))).toEqual([100, 200, 400, 2_000]);
  });
});

describe("room reserved for transactions let through to verification", () => {
  it("counts other origins' reservations as taken, so of many senders sending at once only as many get through as the room will take", () => {
    const bp = new FanOutBackpressure(100);
    bp.heard("a.test", 0, 1_000);
    const owed = [{ destination: "a.test", backlog: 60 }];
    // Two origins' 50-event transactions are asked about: the first is under the limit and reserved, the second is not.
    expect(bp.retryAfterMs(owed, 1_000, bp.reservedExcept("s1.test", 1_000))).toBeUndefined();
    bp.reserve("s1.test", 50, 1_000);
    expect(bp.retryAfterMs(owed, 1_000, bp.reservedExcept("s2.test", 1_000))).toBeGreaterThan(0);
    // s1's own transaction is not held back by its own reservation; once it arrived (released), s2 fits as far as room allows.
    expect(bp.retryAfterMs(owed, 1_000, bp.reservedExcept("s1.test", 1_000))).toBeUndefined();
    bp.release("s1.test");
    expect(bp.reservedExcept("s2.test", 1_000)).toBe(0);
    // A reservation whose transaction never came expires.
    bp.reserve("s3.test", 50, 1_000);
    expect(bp.reservedExcept("s2.test", 1_000 + 4_999)).toBe(50);
    expect(bp.reservedExcept("s2.test", 1_000 + 5_000)).toBe(0);
  });
});
