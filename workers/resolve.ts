// Server-name resolution (draft -04 "Resolving Server Names") with the I/O: FEDERATION_HOST_MAP first,
// then the name itself, then /.well-known/matrix/server, then port 8448. SRV records (steps 2.3 and 3)
// are skipped: a Worker has no DNS API, and a delegated name without port goes straight to 8448.
// Only host-map entries may use plain HTTP or private addresses; everything else is HTTPS to an
// address that is not loopback, private, link-local or a metadata service (checked where the name or
// the delegation is an IP literal or a local-only name; hostnames are resolved by the platform).

import { MatrixError } from "../shared/errors.js";
import { parseServerName } from "../shared/ids.js";
import {
  MAX_WELL_KNOWN_BYTES,
  WELL_KNOWN_ERROR_TTL_MS,
  parseWellKnown,
  refusedHostReason,
  targetFromDelegation,
  targetFromName,
  wellKnownTtlMs,
  type ResolvedTarget,
} from "../shared/server-name-resolution.js";
import { decodeUtf8, fetchBounded } from "./remote-fetch.js";

export type { ResolvedTarget };

export const WELL_KNOWN_TIMEOUT_MS = 10_000;
const MAX_REDIRECTS = 5;
const CACHE_MAX_ENTRIES = 10_000;

interface WellKnownEntry {
  delegated: string | undefined;
  expiresAt: number;
}

const wellKnownCache = new Map<string, WellKnownEntry>();

/** Forgets every cached well-known answer (tests, and after a config change). */
export function clearResolutionCache(): void {
  wellKnownCache.clear();
}

const refused = (name: string, why: string): MatrixError =>
  new MatrixError(403, "M_FORBIDDEN", `Refusing to contact ${name}: ${why}`);

export interface ResolveOptions {
  /** Deadline per well-known request. */
  timeoutMs?: number;
}

/**
 * Where to send federation requests for `serverName`. Throws MatrixError when the name is invalid or
 * resolves somewhere we refuse to go; never returns a plain-HTTP URL for a name outside `hostMap`.
 */
export async function resolveServerName(
  serverName: string,
  hostMap: ReadonlyMap<string, string>,
  opts: ResolveOptions = {},
): Promise<ResolvedTarget> {
  const mapped = hostMap.get(serverName);
  if (mapped !== undefined) return { baseUrl: mapped, hostHeader: new URL(mapped).host };

  const parsed = parseServerName(serverName);
  if (!parsed) throw new MatrixError(400, "M_INVALID_PARAM", `Not a valid server name: ${serverName}`);
  const why = refusedHostReason(parsed.host);
  if (why) throw refused(serverName, why);

  const direct = targetFromName(serverName);
  if (direct) return direct;

  const delegated = await lookupWellKnown(parsed.host, opts.timeoutMs ?? WELL_KNOWN_TIMEOUT_MS);
  if (delegated !== undefined) {
    const d = parseServerName(delegated);
    const dWhy = d ? refusedHostReason(d.host) : "invalid delegated name";
    if (dWhy) throw refused(serverName, `its well-known delegates to ${delegated} (${dWhy})`);
    const target = targetFromDelegation(delegated);
    if (target) return target;
  }
  const fallback = targetFromDelegation(serverName);
  if (!fallback) throw new MatrixError(400, "M_INVALID_PARAM", `Not a valid server name: ${serverName}`);
  return fallback;
}

/** The `m.server` of a host's well-known document, cached; undefined when there is none usable. */
async function lookupWellKnown(host: string, timeoutMs: number): Promise<string | undefined> {
  const now = Date.now();
  const hit = wellKnownCache.get(host);
  if (hit && hit.expiresAt > now) return hit.delegated;
  // Concurrent lookups may each fetch: workerd ties a promise's I/O to the request that started it.
  const { delegated, ttlMs } = await fetchWellKnown(host, timeoutMs);
  if (wellKnownCache.size >= CACHE_MAX_ENTRIES) wellKnownCache.clear();
  wellKnownCache.set(host, { delegated, expiresAt: Date.now() + ttlMs });
  return delegated;
}

async function fetchWellKnown(host: string, timeoutMs: number): Promise<{ delegated: string | undefined; ttlMs: number }> {
  const failed = { delegated: undefined, ttlMs: WELL_KNOWN_ERROR_TTL_MS };
  let url = `https://${host}/.well-known/matrix/server`;
  const seen = new Set<string>();
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    seen.add(url);
    let res;
    try {
      // Redirects are followed by hand so every hop gets the same HTTPS and address checks.
      res = await fetchBounded(url, { method: "GET", redirect: "manual", headers: { accept: "application/json" } }, timeoutMs, MAX_WELL_KNOWN_BYTES);
    } catch {
      return failed;
    }
    if (res.status >= 300 && res.status < 400) {
      const next = nextHop(url, res.headers.get("location"));
      if (next === undefined || seen.has(next)) return failed;
      url = next;
      continue;
    }
    if (res.status !== 200) return failed;
    const text = decodeUtf8(res.bytes);
    const delegated = text === undefined ? undefined : parseWellKnown(text);
    if (delegated === undefined) return failed;
    return { delegated, ttlMs: wellKnownTtlMs(res.headers.get("cache-control")) };
  }
  return failed;
}

/** The redirect target, if it stays on HTTPS and off refused addresses. */
function nextHop(from: string, location: string | null): string | undefined {
  if (!location) return undefined;
  let next: URL;
  try {
    next = new URL(location, from);
  } catch {
    return undefined;
  }
  if (next.protocol !== "https:" || next.username !== "" || next.password !== "") return undefined;
  if (refusedHostReason(next.hostname)) return undefined;
  next.hash = "";
  return next.toString();
}
