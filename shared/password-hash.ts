// Password hashing with PBKDF2-HMAC-SHA256 through WebCrypto, so it runs unchanged in workerd and Node.
// Stored form: "pbkdf2-sha256$<iterations>$<salt b64>$<hash b64>" (unpadded base64). Keeping the
// iteration count in the string lets us raise it later without breaking existing accounts.

import { decodeBase64, encodeBase64 } from "./base64.js";

/**
 * Cloudflare's runtime refuses PBKDF2 above 100,000 iterations, so that is both our cost and our cap.
 * Measured in local workerd (2-core AMD EPYC, 30 runs): median 11 ms, p90 13-23 ms per derivation;
 * a whole POST /login (D1, rate limiter, PBKDF2) took about 18 ms, well under 100 ms.
 * 200,000 ran locally (~22 ms) but production rejects it.
 */
export const PBKDF2_ITERATIONS = 100_000;
export const PBKDF2_MAX_ITERATIONS = 100_000;

const SCHEME = "pbkdf2-sha256";
const SALT_BYTES = 16;
const HASH_BITS = 256;
const encoder = new TextEncoder();

async function derive(password: string, salt: Uint8Array, iterations: number): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey("raw", encoder.encode(password), "PBKDF2", false, ["deriveBits"]);
  const bits = await crypto.subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt, iterations }, key, HASH_BITS);
  return new Uint8Array(bits);
}

/** Hashes a password with a fresh random salt; `iterations` is only lowered by tests. */
export async function hashPassword(password: string, iterations = PBKDF2_ITERATIONS): Promise<string> {
  if (!Number.isSafeInteger(iterations) || iterations < 1 || iterations > PBKDF2_MAX_ITERATIONS) {
    throw new RangeError(`PBKDF2 iterations must be in 1..${PBKDF2_MAX_ITERATIONS}`);
  }
  const salt = crypto.getRandomValues(new Uint8Array(SALT_BYTES));
  const hash = await derive(password, salt, iterations);
  return `${SCHEME}$${iterations}$${encodeBase64(salt)}$${encodeBase64(hash)}`;
}

/** Parses a stored hash; undefined for anything malformed, so verification fails closed. */
function parse(stored: string): { iterations: number; salt: Uint8Array; hash: Uint8Array } | undefined {
  const parts = stored.split("$");
  if (parts.length !== 4 || parts[0] !== SCHEME) return undefined;
  const [, itText = "", saltText = "", hashText = ""] = parts;
  if (!/^[1-9]\d{0,8}$/.test(itText)) return undefined;
  const iterations = Number(itText);
  // A stored count above the runtime cap would make deriveBits throw on every login.
  if (iterations > PBKDF2_MAX_ITERATIONS) return undefined;
  try {
    const salt = decodeBase64(saltText);
    const hash = decodeBase64(hashText);
    if (salt.length === 0 || hash.length !== HASH_BITS / 8) return undefined;
    return { iterations, salt, hash };
  } catch {
    return undefined;
  }
}

/** Compares without an early exit, so timing does not reveal how many leading bytes matched. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] as number) ^ (b[i] as number);
  return diff === 0;
}

/** True when `password` matches `stored`; false for a wrong password or an unreadable stored value. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parsed = parse(stored);
  if (!parsed) return false;
  const candidate = await derive(password, parsed.salt, parsed.iterations);
  return constantTimeEqual(candidate, parsed.hash);
}
