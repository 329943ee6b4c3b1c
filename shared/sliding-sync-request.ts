// Simplified Sliding Sync (MSC4186) requests: the body and query a client sends, validated and
// reduced to what the server acts on. Two request dialects are read, because the MSC's text and
// matrix-rust-sdk (Element X) differ: `range` or `ranges`, `required_state` as the MSC's
// {include, exclude, lazy_members} or as [type, state_key] pairs with "$LAZY", "$ME" and "*";
// `pos` and `timeout` in the query string or in the body.

import { badJson, MatrixError } from "./errors.js";
import { isRoomId } from "./ids.js";

/** One [type, state_key] match; undefined matches anything ("*" or a missing field). */
export interface StateMatch {
  type?: string;
  stateKey?: string;
}

export interface RequiredState {
  include: StateMatch[];
  exclude: StateMatch[];
  /** Membership events of the timeline's senders and targets (`$LAZY`). */
  lazyMembers: boolean;
}

export interface RoomConfig {
  timelineLimit: number;
  requiredState: RequiredState;
}

export interface ListFilters {
  isDm?: boolean;
  isEncrypted?: boolean;
  isInvite?: boolean;
  /** null stands for rooms without a type. */
  roomTypes?: Array<string | null>;
  notRoomTypes?: Array<string | null>;
}

export interface ListConfig extends RoomConfig {
  /** Inclusive [start, end] windows; none means the whole list. */
  ranges: Array<[number, number]>;
  filters: ListFilters;
}

export interface ExtensionScope {
  enabled: boolean;
  /** Lists and rooms the extension covers; undefined means every one ("*"). */
  lists?: string[];
  rooms?: string[];
}

export interface Extensions {
  toDevice?: { enabled: boolean; since?: string; limit?: number };
  e2ee?: { enabled: boolean };
  accountData?: ExtensionScope;
  receipts?: ExtensionScope;
  typing?: ExtensionScope;
}

export interface SlidingRequest {
  connId: string;
  /** matrix-rust-sdk's request ID, echoed in the response. */
  txnId?: string;
  pos?: string;
  timeoutMs: number;
  lists: Map<string, ListConfig>;
  subscriptions: Map<string, RoomConfig>;
  extensions: Extensions;
}

export const MAX_LISTS = 100;
export const MAX_SUBSCRIPTIONS = 100;
export const MAX_TIMELINE_LIMIT = 100;
export const MAX_TIMEOUT_MS = 60_000;
const MAX_STATE_ENTRIES = 100;
const MAX_RANGES = 10;
const MAX_ID_LENGTH = 255;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const invalid = (message: string) => new MatrixError(400, "M_INVALID_PARAM", message);

function optBool(v: unknown, what: string): boolean | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "boolean") throw badJson(`${what} must be a boolean`);
  return v;
}

function optStrings(v: unknown, what: string, allowNull = false): Array<string | null> | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.length > MAX_STATE_ENTRIES || !v.every((x) => typeof x === "string" || (allowNull && x === null))) {
    throw badJson(`${what} must be a list of strings`);
  }
  return v as Array<string | null>;
}

function nonNegativeInt(v: unknown, what: string): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) throw badJson(`${what} must be a non-negative integer`);
  return v;
}

/** `[[0, 19], ...]` (Element X) or `[0, 19]` (the MSC's `range`): inclusive, start <= end. */
export function parseRanges(v: unknown, what: string): Array<[number, number]> {
  if (v === undefined || v === null) return [];
  const list = Array.isArray(v) && v.length === 2 && typeof v[0] === "number" ? [v] : v;
  if (!Array.isArray(list) || list.length > MAX_RANGES) throw invalid(`${what} must be a list of at most ${MAX_RANGES} [start, end] pairs`);
  return list.map((r: unknown) => {
    if (!Array.isArray(r) || r.length !== 2) throw invalid(`${what} entries must be [start, end] pairs`);
    const [start, end] = [r[0], r[1]];
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || (start as number) < 0 || (end as number) < (start as number)) {
      throw invalid(`${what} entries need 0 <= start <= end`);
    }
    return [start as number, end as number];
  });
}

/** [type, state_key] pairs: "*" is a wildcard; `["m.room.member", "$LAZY"]` turns on lazy members. */
function requiredStatePairs(v: unknown[], what: string): RequiredState {
  const out: RequiredState = { include: [], exclude: [], lazyMembers: false };
  for (const p of v) {
    if (!Array.isArray(p) || p.length !== 2 || typeof p[0] !== "string" || typeof p[1] !== "string") throw badJson(`${what} entries must be [type, state_key] pairs`);
    const [type, stateKey] = p as [string, string];
    if (type === "m.room.member" && stateKey === "$LAZY") {
      out.lazyMembers = true;
      continue;
    }
    out.include.push({ ...(type === "*" ? {} : { type }), ...(stateKey === "*" ? {} : { stateKey }) });
  }
  return out;
}

function stateMatches(v: unknown, what: string): StateMatch[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.length > MAX_STATE_ENTRIES) throw badJson(`${what} must be a list`);
  return v.map((m: unknown) => {
    if (!isObject(m)) throw badJson(`${what} entries must be objects`);
    const type = m["type"];
    const stateKey = m["state_key"];
    if ((type !== undefined && typeof type !== "string") || (stateKey !== undefined && typeof stateKey !== "string")) throw badJson(`${what} fields must be strings`);
    return { ...(type !== undefined ? { type } : {}), ...(stateKey !== undefined ? { stateKey } : {}) };
  });
}

export function parseRequiredState(v: unknown, what: string): RequiredState {
  if (v === undefined || v === null) return { include: [], exclude: [], lazyMembers: false };
  if (Array.isArray(v)) {
    if (v.length > MAX_STATE_ENTRIES) throw badJson(`${what} has too many entries`);
    return requiredStatePairs(v, what);
  }
  if (!isObject(v)) throw badJson(`${what} must be a list of pairs or an object`);
  return {
    include: stateMatches(v["include"], `${what}.include`),
    exclude: stateMatches(v["exclude"], `${what}.exclude`),
    lazyMembers: optBool(v["lazy_members"], `${what}.lazy_members`) ?? false,
  };
}

function parseRoomConfig(v: Record<string, unknown>, what: string): RoomConfig {
  const limit = v["timeline_limit"] === undefined ? 0 : nonNegativeInt(v["timeline_limit"], `${what}.timeline_limit`);
  return { timelineLimit: Math.min(limit, MAX_TIMELINE_LIMIT), requiredState: parseRequiredState(v["required_state"], `${what}.required_state`) };
}

function parseFilters(v: unknown, what: string): ListFilters {
  if (v === undefined || v === null) return {};
  if (!isObject(v)) throw badJson(`${what} must be an object`);
  const out: ListFilters = {};
  const isDm = optBool(v["is_dm"], `${what}.is_dm`);
  const isEncrypted = optBool(v["is_encrypted"], `${what}.is_encrypted`);
  // The MSC renamed is_invite to is_invited; clients send either.
  const isInvite = optBool(v["is_invited"] ?? v["is_invite"], `${what}.is_invite`);
  const roomTypes = optStrings(v["room_types"], `${what}.room_types`, true);
  const notRoomTypes = optStrings(v["not_room_types"], `${what}.not_room_types`, true);
  if (isDm !== undefined) out.isDm = isDm;
  if (isEncrypted !== undefined) out.isEncrypted = isEncrypted;
  if (isInvite !== undefined) out.isInvite = isInvite;
  if (roomTypes !== undefined) out.roomTypes = roomTypes;
  if (notRoomTypes !== undefined) out.notRoomTypes = notRoomTypes;
  return out;
}

function parseScope(v: unknown, what: string): ExtensionScope | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) throw badJson(`${what} must be an object`);
  const lists = optStrings(v["lists"], `${what}.lists`) as string[] | undefined;
  const rooms = optStrings(v["rooms"], `${what}.rooms`) as string[] | undefined;
  return {
    enabled: optBool(v["enabled"], `${what}.enabled`) ?? false,
    ...(lists && !lists.includes("*") ? { lists } : {}),
    ...(rooms && !rooms.includes("*") ? { rooms } : {}),
  };
}

function parseExtensions(v: unknown): Extensions {
  if (v === undefined || v === null) return {};
  if (!isObject(v)) throw badJson("extensions must be an object");
  const out: Extensions = {};
  const td = v["to_device"];
  if (td !== undefined && td !== null) {
    if (!isObject(td)) throw badJson("extensions.to_device must be an object");
    const since = td["since"];
    if (since !== undefined && since !== null && typeof since !== "string") throw badJson("extensions.to_device.since must be a string");
    out.toDevice = {
      enabled: optBool(td["enabled"], "extensions.to_device.enabled") ?? false,
      ...(typeof since === "string" ? { since } : {}),
      ...(td["limit"] !== undefined ? { limit: nonNegativeInt(td["limit"], "extensions.to_device.limit") } : {}),
    };
  }
  const e2ee = v["e2ee"];
  if (e2ee !== undefined && e2ee !== null) {
    if (!isObject(e2ee)) throw badJson("extensions.e2ee must be an object");
    out.e2ee = { enabled: optBool(e2ee["enabled"], "extensions.e2ee.enabled") ?? false };
  }
  const accountData = parseScope(v["account_data"], "extensions.account_data");
  const receipts = parseScope(v["receipts"], "extensions.receipts");
  const typing = parseScope(v["typing"], "extensions.typing");
  if (accountData) out.accountData = accountData;
  if (receipts) out.receipts = receipts;
  if (typing) out.typing = typing;
  return out;
}

/** The query string's `pos` and `timeout` win over the body's (Element X sends them in the query). */
export function parseSlidingRequest(body: unknown, query: URLSearchParams): SlidingRequest {
  if (!isObject(body)) throw badJson("The request body must be a JSON object");
  const connId = body["conn_id"] ?? "";
  if (typeof connId !== "string" || connId.length > MAX_ID_LENGTH) throw badJson("conn_id must be a string of at most 255 characters");
  // Presence is another engineer's; the parameter is still checked as the MSC asks.
  const presence = query.get("set_presence") ?? body["set_presence"];
  if (presence !== undefined && presence !== null && !["online", "offline", "unavailable"].includes(presence as string)) throw invalid("set_presence must be online, offline or unavailable");
  const txnId = body["txn_id"];
  if (txnId !== undefined && txnId !== null && (typeof txnId !== "string" || txnId.length > MAX_ID_LENGTH)) throw badJson("txn_id must be a string of at most 255 characters");
  const pos = query.get("pos") ?? body["pos"];
  if (pos !== undefined && pos !== null && typeof pos !== "string") throw badJson("pos must be a string");
  const rawTimeout = query.get("timeout") ?? body["timeout"] ?? 0;
  const timeout = typeof rawTimeout === "string" ? Number(rawTimeout) : rawTimeout;
  if (typeof timeout !== "number" || !Number.isFinite(timeout) || timeout < 0) throw invalid("timeout must be a non-negative number of milliseconds");

  const lists = new Map<string, ListConfig>();
  const rawLists = body["lists"] ?? {};
  if (!isObject(rawLists)) throw badJson("lists must be an object");
  if (Object.keys(rawLists).length > MAX_LISTS) throw invalid(`At most ${MAX_LISTS} lists`);
  for (const [name, l] of Object.entries(rawLists)) {
    if (name.length === 0 || name.length > MAX_ID_LENGTH) throw invalid("List names must have 1 to 255 characters");
    if (!isObject(l)) throw badJson(`lists.${name} must be an object`);
    lists.set(name, { ...parseRoomConfig(l, `lists.${name}`), ranges: parseRanges(l["ranges"] ?? l["range"], `lists.${name}.ranges`), filters: parseFilters(l["filters"], `lists.${name}.filters`) });
  }

  const subscriptions = new Map<string, RoomConfig>();
  const rawSubs = body["room_subscriptions"] ?? {};
  if (!isObject(rawSubs)) throw badJson("room_subscriptions must be an object");
  if (Object.keys(rawSubs).length > MAX_SUBSCRIPTIONS) throw invalid(`At most ${MAX_SUBSCRIPTIONS} room subscriptions`);
  for (const [roomId, s] of Object.entries(rawSubs)) {
    if (!isRoomId(roomId)) throw invalid(`room_subscriptions key ${roomId.slice(0, 80)} is not a room ID`);
    if (!isObject(s)) throw badJson(`room_subscriptions.${roomId} must be an object`);
    subscriptions.set(roomId, parseRoomConfig(s, `room_subscriptions.${roomId}`));
  }
  return {
    connId,
    ...(typeof txnId === "string" ? { txnId } : {}),
    ...(typeof pos === "string" && pos !== "" ? { pos } : {}),
    timeoutMs: Math.min(timeout, MAX_TIMEOUT_MS),
    lists,
    subscriptions,
    extensions: parseExtensions(body["extensions"]),
  };
}
