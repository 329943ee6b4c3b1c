// Access tokens for the client-server API: minting, hashing, and resolving a request to its user.
// Lookups are cached per isolate for a short TTL so the hot path skips D1. Logout evicts the local
// entry at once; other isolates may accept a revoked token until their entry expires (TOKEN_CACHE_TTL_MS).

import { encodeBase64Url } from "../shared/base64.js";
import { limitExceeded, MatrixError } from "../shared/errors.js";
import { requestClass, type RequestClass } from "../shared/token-bucket.js";
import { userStream } from "./client-common.js";
import { getTokenOwner } from "./storage/access-tokens.js";

export interface ClientAuth {
  userId: string;
  deviceId: string;
  /** SHA-256 of the presented token, so logout can delete exactly this token. */
  tokenHash: string;
}

export const TOKEN_CACHE_TTL_MS = 60_000;
const TOKEN_CACHE_MAX = 10_000;

interface CacheEntry {
  userId: string;
  deviceId: string;
  expiresMs: number;
}

const cache = new Map<string, CacheEntry>();

/** A fresh opaque access token: a recognisable prefix plus 256 random bits. */
export function newAccessToken(): string {
  return `sbt_${encodeBase64Url(crypto.getRandomValues(new Uint8Array(32)))}`;
}

/** Hex SHA-256 of a token: the only form in which tokens are stored. */
export async function hashAccessToken(token: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(token)));
  let hex = "";
  for (const b of digest) hex += b.toString(16).padStart(2, "0");
  return hex;
}

/** The token from `Authorization: Bearer` or, for older clients such as matrix-nio, `?access_token=`. */
export function extractAccessToken(req: Request): string | undefined {
  const header = req.headers.get("authorization");
  if (header !== null) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (m) return m[1];
  }
  const query = new URL(req.url).searchParams.get("access_token");
  return query === null || query === "" ? undefined : query;
}

const missingToken = () => new MatrixError(401, "M_MISSING_TOKEN", "Missing access token");
const unknownToken = () => new MatrixError(401, "M_UNKNOWN_TOKEN", "Unrecognised access token", { soft_logout: false });

/**
 * Resolves the request's access token to its owner (401 M_MISSING_TOKEN / M_UNKNOWN_TOKEN otherwise)
 * and charges the request to the user's and the token's rate limits of its class (429
 * M_LIMIT_EXCEEDED), which the user's stream object keeps.
 */
export async function requireUser(req: Request, env: Env): Promise<ClientAuth> {
  const auth = await authenticate(req, env);
  await chargeRequest(env, auth, requestClass(req.method, new URL(req.url).pathname));
  return auth;
}

/** Charges one request of class `cls` to the user's and the token's rate limits (429 M_LIMIT_EXCEEDED). */
export async function chargeRequest(env: Env, auth: ClientAuth, cls: RequestClass): Promise<void> {
  const verdict = await userStream(env, auth.userId).rateLimit(auth.tokenHash, cls);
  if (!verdict.ok) throw limitExceeded(verdict.retryAfterMs);
}

/** The request's user, without charging the rate limits: the caller must charge it before any other work. */
export async function authenticate(req: Request, env: Env): Promise<ClientAuth> {
  const token = extractAccessToken(req);
  if (token === undefined) throw missingToken();
  const tokenHash = await hashAccessToken(token);
  const now = Date.now();
  const hit = cache.get(tokenHash);
  if (hit && hit.expiresMs > now) return { userId: hit.userId, deviceId: hit.deviceId, tokenHash };
  if (hit) cache.delete(tokenHash);
  // Unknown tokens are not cached: a token minted in another isolate a moment ago must work here too.
  const owner = await getTokenOwner(env.DB, tokenHash);
  if (!owner) throw unknownToken();
  if (cache.size >= TOKEN_CACHE_MAX) {
    const oldest = cache.keys().next();
    if (!oldest.done) cache.delete(oldest.value);
  }
  cache.set(tokenHash, { ...owner, expiresMs: now + TOKEN_CACHE_TTL_MS });
  return { ...owner, tokenHash };
}

/** Drops this isolate's cached entries for one token, a device, or all of a user's tokens. */
export function evictCachedTokens(match: { tokenHash?: string; userId?: string; deviceId?: string }): void {
  if (match.tokenHash !== undefined) cache.delete(match.tokenHash);
  if (match.userId === undefined) return;
  for (const [hash, entry] of cache) {
    if (entry.userId === match.userId && (match.deviceId === undefined || entry.deviceId === match.deviceId)) cache.delete(hash);
  }
}
