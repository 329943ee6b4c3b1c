// Identifier grammar (draft-ralston-mimi-linearized-matrix-04 "Server Names", "Rooms", "Users", "Events";
// Matrix appendices "Identifier Grammar"). Branded types keep a checked ID from mixing with a plain string.

import { MatrixError } from "./errors.js";

declare const brand: unique symbol;
export type Brand<T, B extends string> = T & { readonly [brand]: B };

export type ServerName = Brand<string, "ServerName">;
export type UserId = Brand<string, "UserId">;
export type RoomId = Brand<string, "RoomId">;
export type EventId = Brand<string, "EventId">;
export type RoomAlias = Brand<string, "RoomAlias">;
export type DeviceId = Brand<string, "DeviceId">;

const MAX_ID_LENGTH = 255;
const DNS_NAME = /^[A-Za-z0-9.-]{1,255}$/;
const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const IPV6_BRACKETED = /^\[([0-9A-Fa-f:.]{2,45})\]$/;
/** Localparts this server hands out: the draft's strict grammar. */
const STRICT_LOCALPART = /^[a-z0-9._=\-/+]+$/;
/** Historical user IDs other servers may still send: printable ASCII except ':' (spec appendix). */
const HISTORICAL_LOCALPART = /^[\x21-\x39\x3b-\x7e]+$/;
const OPAQUE_LOCALPART = /^[\x21-\x39\x3b-\x7e]+$/;
const URLSAFE_B64 = /^[A-Za-z0-9_-]+$/;
const KEY_VERSION = /^[A-Za-z0-9_]+$/;

/** Splits `hostname[:port]`; returns undefined when the grammar does not match. */
export function parseServerName(name: string): { host: string; port?: number; kind: "dns" | "ipv4" | "ipv6" } | undefined {
  if (name.length === 0 || name.length > MAX_ID_LENGTH) return undefined;
  let host = name;
  let portText: string | undefined;
  if (name.startsWith("[")) {
    const close = name.indexOf("]");
    if (close < 0) return undefined;
    host = name.slice(0, close + 1);
    const rest = name.slice(close + 1);
    if (rest !== "") {
      if (!rest.startsWith(":")) return undefined;
      portText = rest.slice(1);
    }
  } else {
    const colon = name.lastIndexOf(":");
    if (colon >= 0) {
      host = name.slice(0, colon);
      portText = name.slice(colon + 1);
    }
  }
  let port: number | undefined;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText)) return undefined;
    port = Number(portText);
    if (port < 1 || port > 65535) return undefined;
  }
  const v6 = IPV6_BRACKETED.exec(host);
  if (v6) return port === undefined ? { host, kind: "ipv6" } : { host, port, kind: "ipv6" };
  const v4 = IPV4.exec(host);
  if (v4) {
    if (v4.slice(1).some((o) => Number(o) > 255)) return undefined;
    return port === undefined ? { host, kind: "ipv4" } : { host, port, kind: "ipv4" };
  }
  if (!DNS_NAME.test(host) || host.startsWith(".") || host.endsWith(".") || host.includes("..")) return undefined;
  return port === undefined ? { host, kind: "dns" } : { host, port, kind: "dns" };
}

export function isServerName(s: unknown): s is ServerName {
  return typeof s === "string" && parseServerName(s) !== undefined;
}

function splitSigilled(id: string, sigil: string): { local: string; server: string } | undefined {
  if (id.length > MAX_ID_LENGTH || !id.startsWith(sigil)) return undefined;
  const colon = id.indexOf(":");
  if (colon < 0) return undefined;
  return { local: id.slice(1, colon), server: id.slice(colon + 1) };
}

/** Any user ID another server may legitimately send (historical grammar allowed). */
export function isUserId(s: unknown): s is UserId {
  if (typeof s !== "string") return false;
  const p = splitSigilled(s, "@");
  return p !== undefined && HISTORICAL_LOCALPART.test(p.local) && isServerName(p.server);
}

/** The grammar for user IDs this server creates. */
export function isStrictLocalpart(local: string): boolean {
  return STRICT_LOCALPART.test(local);
}

export function isRoomId(s: unknown): s is RoomId {
  if (typeof s !== "string" || s.length > MAX_ID_LENGTH || !s.startsWith("!")) return false;
  const colon = s.indexOf(":");
  if (colon < 0) return s.length > 1 && URLSAFE_B64.test(s.slice(1)); // room v12: "!" + reference hash
  return OPAQUE_LOCALPART.test(s.slice(1, colon)) && isServerName(s.slice(colon + 1));
}

/** Event IDs: "$" + URL-safe reference hash (LM, v4+); "$local:server" kept for older peers' references. */
export function isEventId(s: unknown): s is EventId {
  if (typeof s !== "string" || s.length < 2 || s.length > MAX_ID_LENGTH || !s.startsWith("$")) return false;
  const rest = s.slice(1);
  if (URLSAFE_B64.test(rest)) return true;
  const colon = rest.indexOf(":");
  return colon > 0 && OPAQUE_LOCALPART.test(rest.slice(0, colon)) && isServerName(rest.slice(colon + 1));
}

export function isRoomAlias(s: unknown): s is RoomAlias {
  if (typeof s !== "string") return false;
  const p = splitSigilled(s, "#");
  return p !== undefined && p.local.length > 0 && !/[\s]/.test(p.local) && isServerName(p.server);
}

export function isDeviceId(s: unknown): s is DeviceId {
  return typeof s === "string" && s.length > 0 && s.length <= MAX_ID_LENGTH && /^[\x21-\x7e]+$/.test(s);
}

export function isKeyId(s: unknown): s is string {
  if (typeof s !== "string") return false;
  const colon = s.indexOf(":");
  return colon > 0 && /^[a-z0-9_.]+$/.test(s.slice(0, colon)) && KEY_VERSION.test(s.slice(colon + 1));
}

/** Server part of a user ID, room ID (pre-v12), alias or legacy event ID. */
export function serverNameOf(id: UserId | RoomAlias | string): ServerName {
  const colon = id.indexOf(":");
  if (colon < 0) throw new MatrixError(400, "M_INVALID_PARAM", `identifier has no server name: ${id}`);
  return id.slice(colon + 1) as ServerName;
}

function checker<T extends string>(test: (s: unknown) => s is T, what: string) {
  return (s: unknown, errcode: "M_INVALID_PARAM" | "M_BAD_JSON" = "M_INVALID_PARAM"): T => {
    if (!test(s)) throw new MatrixError(400, errcode, `Invalid ${what}: ${JSON.stringify(String(s)).slice(0, 300)}`);
    return s;
  };
}

export const asUserId = checker(isUserId, "user ID");
export const asRoomId = checker(isRoomId, "room ID");
export const asEventId = checker(isEventId, "event ID");
export const asServerName = checker(isServerName, "server name");
export const asRoomAlias = checker(isRoomAlias, "room alias");
export const asDeviceId = checker(isDeviceId, "device ID");
