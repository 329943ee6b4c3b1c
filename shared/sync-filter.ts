// The parts of a Matrix sync filter Switchboard applies: room inclusion, timeline limit and event
// types for the timeline and state. Unknown fields are kept by the client and ignored here, as the
// spec allows servers to do for fields they do not support.

import { badJson, MatrixError } from "./errors.js";
import { parseStrictJson } from "./strict-json.js";

export interface SyncFilter {
  rooms?: string[];
  notRooms?: string[];
  timelineLimit: number;
  timelineTypes?: string[];
  timelineNotTypes?: string[];
  stateTypes?: string[];
  stateNotTypes?: string[];
}

export const DEFAULT_TIMELINE_LIMIT = 10;
const MAX_TIMELINE_LIMIT = 500;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function strings(v: unknown, what: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) throw badJson(`${what} must be a list of strings`);
  return v as string[];
}

/** Validates and reduces a filter definition (client-server "Filtering"). */
export function parseSyncFilter(def: unknown): SyncFilter {
  if (!isObject(def)) throw badJson("A filter must be a JSON object");
  const room = def["room"] ?? {};
  if (!isObject(room)) throw badJson("filter.room must be an object");
  const timeline = room["timeline"] ?? {};
  const state = room["state"] ?? {};
  if (!isObject(timeline) || !isObject(state)) throw badJson("filter.room.timeline and filter.room.state must be objects");
  const limit = timeline["limit"];
  if (limit !== undefined && (typeof limit !== "number" || !Number.isSafeInteger(limit) || limit < 0)) {
    throw badJson("filter.room.timeline.limit must be a non-negative integer");
  }
  const f: SyncFilter = { timelineLimit: Math.min(typeof limit === "number" ? limit : DEFAULT_TIMELINE_LIMIT, MAX_TIMELINE_LIMIT) };
  const set = <K extends keyof SyncFilter>(k: K, v: SyncFilter[K] | undefined) => {
    if (v !== undefined) f[k] = v;
  };
  set("rooms", strings(room["rooms"], "filter.room.rooms"));
  set("notRooms", strings(room["not_rooms"], "filter.room.not_rooms"));
  set("timelineTypes", strings(timeline["types"], "filter.room.timeline.types"));
  set("timelineNotTypes", strings(timeline["not_types"], "filter.room.timeline.not_types"));
  set("stateTypes", strings(state["types"], "filter.room.state.types"));
  set("stateNotTypes", strings(state["not_types"], "filter.room.state.not_types"));
  return f;
}

const ROOM_EVENT_FILTER_LISTS = ["types", "not_types", "senders", "not_senders", "rooms", "not_rooms"] as const;
const ROOM_EVENT_FILTER_FLAGS = ["contains_url", "lazy_load_members", "include_redundant_members", "unread_thread_notifications"] as const;

/**
 * Checks a `filter` query parameter holding a RoomEventFilter (/messages, /context). Text that is not
 * a JSON object is 400 M_NOT_JSON, as Synapse answers; a known field of the wrong type is 400
 * M_BAD_JSON. Returns the filter object; its selectors are not applied yet.
 */
export function checkRoomEventFilterParam(raw: string): Record<string, unknown> {
  const def = parseStrictJson(raw);
  if (!isObject(def)) throw new MatrixError(400, "M_NOT_JSON", "The filter parameter must be a JSON object");
  const limit = def["limit"];
  if (limit !== undefined && (typeof limit !== "number" || !Number.isSafeInteger(limit) || limit < 0)) {
    throw badJson("filter.limit must be a non-negative integer");
  }
  for (const key of ROOM_EVENT_FILTER_LISTS) strings(def[key], `filter.${key}`);
  for (const key of ROOM_EVENT_FILTER_FLAGS) {
    if (def[key] !== undefined && typeof def[key] !== "boolean") throw badJson(`filter.${key} must be a boolean`);
  }
  return def;
}

export function roomIncluded(f: SyncFilter, roomId: string): boolean {
  if (f.rooms !== undefined && !f.rooms.includes(roomId)) return false;
  return !(f.notRooms ?? []).includes(roomId);
}

/** Matrix filter type patterns: exact names, or "*" as a wildcard anywhere. */
export function typeAllowed(type: string, types: string[] | undefined, notTypes: string[] | undefined): boolean {
  const match = (pattern: string) =>
    pattern.includes("*") ? new RegExp(`^${pattern.split("*").map((p) => p.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`).test(type) : pattern === type;
  return (types === undefined || types.some(match)) && !(notTypes ?? []).some(match);
}
