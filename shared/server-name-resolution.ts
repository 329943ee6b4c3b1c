// The pure half of server-name resolution (draft -04 "Resolving Server Names", "GET /.well-known/matrix/
// server"): where a name or a delegation points, which addresses we refuse to contact, how long a
// well-known answer may be cached. The fetching half lives in workers/resolve.ts.

import { parseServerName } from "./ids.js";

export const DEFAULT_FEDERATION_PORT = 8448;
export const WELL_KNOWN_DEFAULT_TTL_MS = 24 * 60 * 60 * 1000;
export const WELL_KNOWN_MAX_TTL_MS = 48 * 60 * 60 * 1000;
export const WELL_KNOWN_MIN_TTL_MS = 5 * 60 * 1000;
export const WELL_KNOWN_ERROR_TTL_MS = 60 * 60 * 1000;

/** Where requests for a server go: base URL (no trailing slash) and the Host header the draft asks for. */
export interface ResolvedTarget {
  baseUrl: string;
  hostHeader: string;
}

type Range = readonly [base: number[], prefixBits: number, reason: string];

// Ranges that reach the operator's own network, the host itself or a cloud metadata service, or are
// not unicast at all. 169.254.169.254 (most clouds) sits in link-local; 100.100.100.200 (Alibaba) in
// CGNAT; fd00:ec2::254 (AWS) in unique-local.
const V4_RANGES: readonly Range[] = [
  [[0, 0, 0, 0], 8, "unspecified"],
  [[10, 0, 0, 0], 8, "private"],
  [[100, 64, 0, 0], 10, "shared (CGNAT)"],
  [[127, 0, 0, 0], 8, "loopback"],
  [[169, 254, 0, 0], 16, "link-local"],
  [[172, 16, 0, 0], 12, "private"],
  [[192, 0, 0, 0], 24, "IETF protocol assignment"],
  [[192, 0, 2, 0], 24, "documentation"],
  [[192, 168, 0, 0], 16, "private"],
  [[198, 18, 0, 0], 15, "benchmarking"],
  [[198, 51, 100, 0], 24, "documentation"],
  [[203, 0, 113, 0], 24, "documentation"],
  [[224, 0, 0, 0], 4, "multicast"],
  [[240, 0, 0, 0], 4, "reserved"],
];

// IPv6 as eight 16-bit groups.
const V6_RANGES: readonly Range[] = [
  [[0, 0, 0, 0, 0, 0, 0, 0], 128, "unspecified"],
  [[0, 0, 0, 0, 0, 0, 0, 1], 128, "loopback"],
  [[0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48, "local-use NAT64"],
  [[0x100, 0, 0, 0, 0, 0, 0, 0], 64, "discard"],
  [[0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32, "documentation"],
  [[0xfc00, 0, 0, 0, 0, 0, 0, 0], 7, "unique-local"],
  [[0xfe80, 0, 0, 0, 0, 0, 0, 0], 10, "link-local"],
  [[0xfec0, 0, 0, 0, 0, 0, 0, 0], 10, "site-local"],
  [[0xff00, 0, 0, 0, 0, 0, 0, 0], 8, "multicast"],
];

/** Names that resolve to the local machine or a private zone whatever DNS says. */
const LOCAL_NAME = /(^|\.)(localhost|internal|local|home\.arpa)$/i;

function inRange(parts: readonly number[], [base, bits]: Range, width: number): boolean {
  let left = bits;
  for (let i = 0; i < base.length && left > 0; i++) {
    const take = Math.min(width, left);
    const mask = ((1 << take) - 1) << (width - take);
    if (((parts[i] as number) & mask) !== ((base[i] as number) & mask)) return false;
    left -= take;
  }
  return true;
}

function parseV4(s: string): number[] | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  return parts.every((p) => p <= 255) ? parts : undefined;
}

/** Eight 16-bit groups, or undefined. Accepts "::" and a trailing dotted IPv4 part. */
export function parseIpv6(s: string): number[] | undefined {
  let text = s.startsWith("[") && s.endsWith("]") ? s.slice(1, -1) : s;
  if (text.includes("%")) return undefined; // zone IDs never belong in a server name
  const lastColon = text.lastIndexOf(":");
  if (lastColon < 0) return undefined;
  if (text.slice(lastColon + 1).includes(".")) {
    // Rewrite a trailing dotted IPv4 part as two hex groups.
    const v4 = parseV4(text.slice(lastColon + 1));
    if (!v4) return undefined;
    const hex = (a: number, b: number) => ((a << 8) | b).toString(16);
    text = `${text.slice(0, lastColon + 1)}${hex(v4[0] as number, v4[1] as number)}:${hex(v4[2] as number, v4[3] as number)}`;
  }
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const group = (h: string): number[] | undefined => {
    if (h === "") return [];
    const out: number[] = [];
    for (const g of h.split(":")) {
      if (!/^[0-9A-Fa-f]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = group(halves[0] as string);
  const rest = halves.length === 2 ? group(halves[1] as string) : [];
  if (!head || !rest) return undefined;
  const given = head.length + rest.length;
  if (halves.length === 2) {
    if (given > 7) return undefined;
    return [...head, ...new Array<number>(8 - given).fill(0), ...rest];
  }
  return given === 8 ? head : undefined;
}

/**
 * Canonical host as a URL parser sees it: lower-cased, IPv4 in dotted decimal even when written as
 * "2130706433" or "0x7f.1", IPv6 bracketed and compressed. Undefined when it is no valid host.
 */
export function canonicalHost(host: string): string | undefined {
  if (host === "" || /[/?#@\\\s]/.test(host)) return undefined;
  try {
    return new URL(`https://${host}/`).hostname;
  } catch {
    return undefined;
  }
}

/** IPv4 groups of an IPv6 address that embeds one (mapped, compatible, NAT64, 6to4). */
function embeddedV4(g: readonly number[]): number[] | undefined {
  const v4 = (hi: number, lo: number) => [hi >> 8, hi & 0xff, lo >> 8, lo & 0xff];
  const zeros = (from: number, to: number) => g.slice(from, to).every((x) => x === 0);
  if (zeros(0, 5) && g[5] === 0xffff) return v4(g[6] as number, g[7] as number);
  if (zeros(0, 6)) return v4(g[6] as number, g[7] as number);
  if (g[0] === 0x64 && g[1] === 0xff9b && zeros(2, 6)) return v4(g[6] as number, g[7] as number);
  if (g[0] === 0x2002) return v4(g[1] as number, g[2] as number);
  return undefined;
}

/** Why contacting this host is refused, or undefined when it may be contacted. */
export function refusedHostReason(host: string): string | undefined {
  const h = canonicalHost(host);
  if (h === undefined) return "not a valid host";
  const v4 = parseV4(h);
  if (v4) {
    if (v4.every((p) => p === 255)) return "broadcast address";
    const hit = V4_RANGES.find((r) => inRange(v4, r, 8));
    return hit ? `${hit[2]} address` : undefined;
  }
  if (h.startsWith("[")) {
    const v6 = parseIpv6(h);
    if (!v6) return "not a valid IPv6 address";
    const hit = V6_RANGES.find((r) => inRange(v6, r, 16));
    if (hit) return `${hit[2]} address`;
    const inner = embeddedV4(v6);
    if (inner) {
      const reason = refusedHostReason(inner.join("."));
      return reason ? `${reason} (embedded in IPv6)` : undefined;
    }
    return undefined;
  }
  if (LOCAL_NAME.test(h)) return "local-only name";
  if (!h.includes(".")) return "single-label name";
  return undefined;
}

export function isIpLiteral(host: string): boolean {
  return parseV4(host) !== undefined || (host.startsWith("[") && parseIpv6(host) !== undefined);
}

/**
 * Targets known from the name alone (draft step 1 and IP literals): an explicit port or an IP
 * literal means no well-known lookup. Undefined when the name needs one.
 */
export function targetFromName(serverName: string): ResolvedTarget | undefined {
  const p = parseServerName(serverName);
  if (!p) return undefined;
  if (p.port !== undefined) return { baseUrl: `https://${p.host}:${p.port}`, hostHeader: `${p.host}:${p.port}` };
  if (p.kind !== "dns") return { baseUrl: `https://${p.host}:${DEFAULT_FEDERATION_PORT}`, hostHeader: p.host };
  return undefined;
}

/**
 * Target for a delegated name from `m.server` (draft steps 2.1 and 2.4; SRV, step 2.3, cannot be
 * looked up from a Worker and is skipped) and for the last resort, step 4, on the name itself.
 */
export function targetFromDelegation(delegated: string): ResolvedTarget | undefined {
  const p = parseServerName(delegated);
  if (!p) return undefined;
  if (p.port !== undefined) return { baseUrl: `https://${p.host}:${p.port}`, hostHeader: `${p.host}:${p.port}` };
  return { baseUrl: `https://${p.host}:${DEFAULT_FEDERATION_PORT}`, hostHeader: p.host };
}

export const MAX_WELL_KNOWN_BYTES = 8 * 1024;

/** The `m.server` value of a well-known body, or undefined for anything invalid (the caller falls through). */
export function parseWellKnown(body: string): string | undefined {
  if (body.length > MAX_WELL_KNOWN_BYTES) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return undefined;
  const server = (v as Record<string, unknown>)["m.server"];
  if (typeof server !== "string" || parseServerName(server) === undefined) return undefined;
  return server;
}

/** How long a 200 well-known answer is kept: Cache-Control max-age within [5 min, 48 h], else 24 h. */
export function wellKnownTtlMs(cacheControl: string | null): number {
  if (cacheControl === null) return WELL_KNOWN_DEFAULT_TTL_MS;
  const cc = cacheControl.toLowerCase();
  if (/(^|[\s,])(no-store|no-cache)([\s,=]|$)/.test(cc)) return WELL_KNOWN_MIN_TTL_MS;
  const m = /(^|[\s,])max-age\s*=\s*"?(\d{1,12})"?/.exec(cc);
  if (!m) return WELL_KNOWN_DEFAULT_TTL_MS;
  const ms = Number(m[2]) * 1000;
  return Math.min(WELL_KNOWN_MAX_TTL_MS, Math.max(WELL_KNOWN_MIN_TTL_MS, ms));
}
