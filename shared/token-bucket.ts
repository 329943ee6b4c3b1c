// Token buckets for rate limiting, and the limits Switchboard applies. The buckets themselves live
// in Durable Objects (one authority per limited key); this is only the arithmetic.

export interface Bucket {
  tokens: number;
  updatedMs: number;
}

export interface BucketLimit {
  capacity: number;
  refillPerSecond: number;
}

export type TakeResult = { ok: true } | { ok: false; retryAfterMs: number };

/** Takes `cost` tokens from `bucket` (created full when undefined) at time `now`; mutates and returns it. */
export function takeFromBucket(bucket: Bucket | undefined, limit: BucketLimit, now: number, cost = 1): { bucket: Bucket; result: TakeResult } {
  const b = bucket ?? { tokens: limit.capacity, updatedMs: now };
  const elapsedMs = Math.max(0, now - b.updatedMs);
  b.tokens = Math.min(limit.capacity, b.tokens + (elapsedMs * limit.refillPerSecond) / 1000);
  b.updatedMs = now;
  if (b.tokens >= cost) {
    b.tokens -= cost;
    return { bucket: b, result: { ok: true } };
  }
  const retryAfterMs = Math.max(1, Math.ceil(((cost - b.tokens) * 1000) / limit.refillPerSecond));
  return { bucket: b, result: { ok: false, retryAfterMs } };
}

/**
 * Client requests are limited per class, so a client starting up (a sync, then a thumbnail, avatar
 * and state read per room of a long room list) is not held back by the same bucket that stops
 * message floods: reads fetch what is already there; writes change something or cost a lot.
 */
export type RequestClass = "read" | "write";

/** POSTs that only read: queries whose body is a question, not a change. */
const READ_POSTS = [/\/keys\/query$/, /\/user_directory\/search$/, /\/publicRooms$/, /\/search$/, /simplified_msc3575\/sync$/, /\/v5\/sync$/];

export function requestClass(method: string, path: string): RequestClass {
  const m = method.toUpperCase();
  if (m === "GET" || m === "HEAD") return "read";
  return m === "POST" && READ_POSTS.some((re) => re.test(path)) ? "read" : "write";
}

export interface RateLimits {
  /** Client API writes per access token. */
  token: BucketLimit;
  /** Client API writes per user, over all their tokens. */
  user: BucketLimit;
  /** Client API reads per access token. */
  tokenReads: BucketLimit;
  /** Client API reads per user, over all their tokens. */
  userReads: BucketLimit;
  /** PDUs per remote server in /send transactions. */
  serverPdus: BucketLimit;
  /** Other federation requests per remote server. */
  serverRequests: BucketLimit;
}

export const DEFAULT_RATE_LIMITS: RateLimits = Object.freeze({
  token: Object.freeze({ capacity: 100, refillPerSecond: 20 }),
  user: Object.freeze({ capacity: 200, refillPerSecond: 40 }),
  // A start-up with a few hundred rooms reads a few hundred things at once; a flood reads on.
  tokenReads: Object.freeze({ capacity: 600, refillPerSecond: 60 }),
  userReads: Object.freeze({ capacity: 1_200, refillPerSecond: 120 }),
  serverPdus: Object.freeze({ capacity: 2_500, refillPerSecond: 1_000 }),
  serverRequests: Object.freeze({ capacity: 200, refillPerSecond: 50 }),
});

/** The last RATE_LIMITS string parsed and its result: every limited request asks, and the string rarely changes. */
let lastParsed: { raw: string; limits: RateLimits } | undefined;

/** Reads RATE_LIMITS (JSON, any subset of DEFAULT_RATE_LIMITS' keys); bad input falls back to the defaults. */
export function parseRateLimits(raw: string | undefined): RateLimits {
  if (!raw) return DEFAULT_RATE_LIMITS;
  if (lastParsed?.raw === raw) return lastParsed.limits;
  const limits = parseUncached(raw);
  lastParsed = { raw, limits };
  return limits;
}

function parseUncached(raw: string): RateLimits {
  try {
    const v = JSON.parse(raw) as Partial<Record<keyof RateLimits, Partial<BucketLimit>>>;
    const pick = (k: keyof RateLimits): BucketLimit => {
      const o = v[k];
      const d = DEFAULT_RATE_LIMITS[k];
      const capacity = typeof o?.capacity === "number" && o.capacity >= 1 ? o.capacity : d.capacity;
      const refill = typeof o?.refillPerSecond === "number" && o.refillPerSecond > 0 ? o.refillPerSecond : d.refillPerSecond;
      return Object.freeze({ capacity, refillPerSecond: refill });
    };
    return Object.freeze({
      token: pick("token"),
      user: pick("user"),
      tokenReads: pick("tokenReads"),
      userReads: pick("userReads"),
      serverPdus: pick("serverPdus"),
      serverRequests: pick("serverRequests"),
    });
  } catch {
    return DEFAULT_RATE_LIMITS;
  }
}
