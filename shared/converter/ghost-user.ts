// Ghost users: how a sender on one side of a converter appears in the paired room on the other
// side. `@_lm_<encoded>:<hub>` stands for an LM room member, `@_mx_<encoded>:<hub>` for a Matrix
// room member, where <encoded> is the sender's user ID (without "@") in the escaping the Matrix
// spec suggests for mapping other names into user IDs ("Mapping from other character sets"):
// a-z 0-9 . - / + stay, "_" becomes "__", an upper-case letter X becomes "_x", every other byte
// of its UTF-8 form becomes "=xx" (lower-case hex). The result uses only the strict localpart
// grammar, so it is valid under the historical grammar too, and the escaping is prefix-free, so
// different senders never share a ghost (decoding accepts only the one spelling encoding gives).

import { isUserId, serverNameOf } from "../ids.js";

export type GhostKind = "lm" | "mx";

/** Longest user ID the spec allows; a sender whose ghost would be longer has no ghost. */
const MAX_USER_ID = 255;
const PLAIN = /^[a-z0-9.\-/+]$/;
const HEX = "0123456789abcdef";

function hex(byte: number): string {
  return `=${HEX[byte >> 4] ?? "0"}${HEX[byte & 15] ?? "0"}`;
}

/** The escaped form of any string (see the file comment). */
export function encodeGhostPart(s: string): string {
  let out = "";
  for (const ch of s) {
    if (PLAIN.test(ch)) out += ch;
    else if (ch === "_") out += "__";
    else if (ch >= "A" && ch <= "Z") out += `_${ch.toLowerCase()}`;
    else for (const b of new TextEncoder().encode(ch)) out += hex(b);
  }
  return out;
}

/** The string `encodeGhostPart` turned into `encoded`, or undefined when no string encodes to it. */
export function decodeGhostPart(encoded: string): string | undefined {
  const bytes: number[] = [];
  for (let i = 0; i < encoded.length; i++) {
    const ch = encoded[i] ?? "";
    if (ch === "_") {
      const next = encoded[i + 1] ?? "";
      if (next === "_") bytes.push(0x5f);
      else if (next >= "a" && next <= "z") bytes.push(next.toUpperCase().charCodeAt(0));
      else return undefined;
      i++;
    } else if (ch === "=") {
      const pair = encoded.slice(i + 1, i + 3);
      if (!/^[0-9a-f]{2}$/.test(pair)) return undefined;
      bytes.push(parseInt(pair, 16));
      i += 2;
    } else if (PLAIN.test(ch)) bytes.push(ch.charCodeAt(0));
    else return undefined;
  }
  let decoded: string;
  try {
    decoded = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(new Uint8Array(bytes));
  } catch {
    return undefined;
  }
  // Only the canonical spelling decodes ("=61" is not another name for "a"): that keeps it injective both ways.
  return encodeGhostPart(decoded) === encoded ? decoded : undefined;
}

const prefix = (kind: GhostKind): string => `@_${kind}_`;

/**
 * The ghost on `hub` standing for `userId` from the `kind` side, or undefined when `userId` is
 * not a user ID or the ghost would exceed 255 characters.
 */
export function ghostUserId(kind: GhostKind, userId: string, hub: string): string | undefined {
  if (!isUserId(userId)) return undefined;
  const ghost = `${prefix(kind)}${encodeGhostPart(userId.slice(1))}:${hub}`;
  return ghost.length <= MAX_USER_ID && isUserId(ghost) ? ghost : undefined;
}

/** Who `userId` stands for, when it is a ghost of `hub`; undefined for every other user ID. */
export function parseGhost(userId: string, hub: string): { kind: GhostKind; userId: string } | undefined {
  if (!isUserId(userId) || serverNameOf(userId) !== hub) return undefined;
  const local = userId.slice(1, userId.length - hub.length - 1);
  for (const kind of ["lm", "mx"] as const) {
    const p = prefix(kind).slice(1);
    if (!local.startsWith(p)) continue;
    const original = decodeGhostPart(local.slice(p.length));
    return original !== undefined && isUserId(`@${original}`) ? { kind, userId: `@${original}` } : undefined;
  }
  return undefined;
}

/**
 * The sender a converted event gets in the paired room: the user themself when they are local to
 * the converting hub (they can act in both rooms), else their ghost. A ghost of this hub is never
 * converted again (undefined): it exists only because of a conversion from the other room, and the
 * hub cannot speak as the remote user behind it.
 */
export function convertedSender(kind: GhostKind, userId: string, hub: string): string | undefined {
  if (!isUserId(userId) || parseGhost(userId, hub)) return undefined;
  return serverNameOf(userId) === hub ? userId : ghostUserId(kind, userId, hub);
}

/** The real user behind a ghost of `hub`, or the user ID itself (the MLS roster's "device of a joined user" rule). */
export function realUserOf(userId: string, hub: string): string {
  return parseGhost(userId, hub)?.userId ?? userId;
}

/** The hub's own user that creates paired Matrix rooms and invites ghosts into them. */
export const SERVICE_LOCALPART = "_switchboard";

export function serviceUserId(hub: string): string {
  return `@${SERVICE_LOCALPART}:${hub}`;
}

/** Localparts only the converter may use: its service user and every ghost. */
export function isReservedLocalpart(localpart: string): boolean {
  return localpart === SERVICE_LOCALPART || localpart.startsWith("_lm_") || localpart.startsWith("_mx_");
}
