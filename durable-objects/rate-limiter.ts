// Token-bucket rate limiter. Callers address one instance per limited key (idFromName(key)), so the
// object is the single authority for that key across every isolate and colo. Buckets live in memory:
// the object is evicted only after it has been idle, and idle buckets refill anyway, so losing them
// costs at most a partial refill. Generic on purpose: login now, per-server and per-token limits later.

import { DurableObject } from "cloudflare:workers";

export type TakeResult = { ok: true } | { ok: false; retryAfterMs: number };

interface Bucket {
  tokens: number;
  updatedMs: number;
}

/** Upper bound on buckets per instance, in case a caller shares one instance across many keys. */
const MAX_BUCKETS = 10_000;

export class RateLimiter extends DurableObject<Env> {
  private readonly buckets = new Map<string, Bucket>();

  /** Takes one token from `key`'s bucket, or says how long until one is available. No await inside, so calls never interleave. */
  take(key: string, capacity: number, refillPerSecond: number): TakeResult {
    if (!(capacity >= 1) || !(refillPerSecond > 0) || !Number.isFinite(capacity) || !Number.isFinite(refillPerSecond)) {
      throw new RangeError("capacity must be >= 1 and refillPerSecond > 0");
    }
    const now = Date.now();
    const bucket = this.buckets.get(key) ?? { tokens: capacity, updatedMs: now };
    const elapsedMs = Math.max(0, now - bucket.updatedMs);
    bucket.tokens = Math.min(capacity, bucket.tokens + (elapsedMs * refillPerSecond) / 1000);
    bucket.updatedMs = now;
    this.remember(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { ok: true };
    }
    const retryAfterMs = Math.max(1, Math.ceil(((1 - bucket.tokens) * 1000) / refillPerSecond));
    return { ok: false, retryAfterMs };
  }

  private remember(key: string, bucket: Bucket): void {
    this.buckets.delete(key); // re-insert so Map order tracks recency
    this.buckets.set(key, bucket);
    if (this.buckets.size > MAX_BUCKETS) {
      const oldest = this.buckets.keys().next();
      if (!oldest.done) this.buckets.delete(oldest.value);
    }
  }
}
