// Token-bucket rate limiter. Callers address one instance per limited key (idFromName(key)), so the
// object is the single authority for that key across every isolate and colo. Buckets live in memory:
// the object is evicted only after it has been idle, and idle buckets refill anyway, so losing them
// costs at most a partial refill. Generic on purpose: login now, per-server and per-token limits later.

import { DurableObject } from "cloudflare:workers";
import { takeFromBucket, type Bucket, type TakeResult } from "../shared/token-bucket.js";

export type { TakeResult };

/** Upper bound on buckets per instance, in case a caller shares one instance across many keys. */
const MAX_BUCKETS = 10_000;

export class RateLimiter extends DurableObject<Env> {
  private readonly buckets = new Map<string, Bucket>();

  /** Takes one token from `key`'s bucket, or says how long until one is available. No await inside, so calls never interleave. */
  take(key: string, capacity: number, refillPerSecond: number): TakeResult {
    if (!(capacity >= 1) || !(refillPerSecond > 0) || !Number.isFinite(capacity) || !Number.isFinite(refillPerSecond)) {
      throw new RangeError("capacity must be >= 1 and refillPerSecond > 0");
    }
    const { bucket, result } = takeFromBucket(this.buckets.get(key), { capacity, refillPerSecond }, Date.now());
    this.remember(key, bucket);
    return result;
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
