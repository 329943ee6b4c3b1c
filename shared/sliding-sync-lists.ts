// Sliding sync's room lists and room configs (MSC4186 "Lists and subscriptions", "Combining room
// configs", "Changing room configs"): filtering and ordering the user's rooms, the windows a list's
// ranges pick, and which state a combined config selects. Pure: the caller supplies the rooms.

import type { ListConfig, ListFilters, RequiredState, RoomConfig, StateMatch } from "./sliding-sync-request.js";

export interface ListRoom {
  roomId: string;
  membership: string;
  /** Higher is more recent activity (the user's stream token of the room's latest change). */
  activity: number;
  isDm?: boolean;
  isEncrypted?: boolean;
  /** The create event's `type`; null when it has none, undefined when not known. */
  roomType?: string | null;
}

/** Several matching rules' configs at once: the longest timeline, and state any of them selects. */
export interface CombinedConfig {
  timelineLimit: number;
  requiredStates: RequiredState[];
}

export function filtersNeedRoomFacts(f: ListFilters): boolean {
  return f.isEncrypted !== undefined || f.roomTypes !== undefined || f.notRoomTypes !== undefined;
}

export function matchesFilters(r: ListRoom, f: ListFilters): boolean {
  if (f.isDm !== undefined && (r.isDm ?? false) !== f.isDm) return false;
  if (f.isInvite !== undefined && (r.membership === "invite") !== f.isInvite) return false;
  if (f.isEncrypted !== undefined && (r.isEncrypted ?? false) !== f.isEncrypted) return false;
  const type = r.roomType ?? null;
  // not_room_types wins over room_types (MSC4186 SlidingRoomFilter).
  if (f.notRoomTypes !== undefined && f.notRoomTypes.includes(type)) return false;
  if (f.roomTypes !== undefined && !f.roomTypes.includes(type)) return false;
  return true;
}

/** Most recent first; ties broken by room ID so the order is stable. */
export function byActivity(rooms: readonly ListRoom[]): ListRoom[] {
  return [...rooms].sort((a, b) => b.activity - a.activity || (a.roomId < b.roomId ? -1 : a.roomId > b.roomId ? 1 : 0));
}

/** Room IDs inside any of the inclusive ranges (no ranges: all of them), in list order. */
export function inRanges(sorted: readonly ListRoom[], ranges: ReadonlyArray<readonly [number, number]>): string[] {
  if (ranges.length === 0) return sorted.map((r) => r.roomId);
  return sorted.filter((_, i) => ranges.some(([start, end]) => i >= start && i <= end)).map((r) => r.roomId);
}

export interface ListOutcome {
  count: number;
  roomIds: string[];
}

/** A list's count (filters only) and the rooms its ranges pick. */
export function evaluateList(rooms: readonly ListRoom[], list: ListConfig): ListOutcome {
  const sorted = byActivity(rooms.filter((r) => matchesFilters(r, list.filters)));
  return { count: sorted.length, roomIds: inRanges(sorted, list.ranges) };
}

export function combineConfigs(configs: readonly RoomConfig[]): CombinedConfig {
  return { timelineLimit: Math.max(0, ...configs.map((c) => c.timelineLimit)), requiredStates: configs.map((c) => c.requiredState) };
}

/** A stable text form, to tell whether a room's config changed between requests. */
export function requiredStateKey(c: CombinedConfig): string {
  const one = (rs: RequiredState) => JSON.stringify([rs.lazyMembers, rs.include.map(matchKey).sort(), rs.exclude.map(matchKey).sort()]);
  return JSON.stringify([...new Set(c.requiredStates.map(one))].sort());
}

const matchKey = (m: StateMatch) => `${m.type ?? "*"}\u0000${m.stateKey ?? "*"}`;

function matches(m: StateMatch, type: string, stateKey: string, userId: string): boolean {
  if (m.type !== undefined && m.type !== type) return false;
  if (m.stateKey === undefined) return true;
  return (m.stateKey === "$ME" ? userId : m.stateKey) === stateKey;
}

export interface StateSelection {
  userId: string;
  /** Users whose membership lazy loading brings: the timeline's senders and membership targets. */
  lazyUsers: ReadonlySet<string>;
}

/** Whether any of the combined configs asks for this state entry. */
export function stateWanted(c: CombinedConfig, type: string, stateKey: string, sel: StateSelection): boolean {
  return c.requiredStates.some((rs) => {
    if (rs.lazyMembers && type === "m.room.member" && sel.lazyUsers.has(stateKey)) return true;
    if (!rs.include.some((m) => matches(m, type, stateKey, sel.userId))) return false;
    return !rs.exclude.some((m) => matches(m, type, stateKey, sel.userId));
  });
}

/** The users lazy members bring for a timeline: senders, and targets of membership events. */
export function lazyUsersOf(timeline: ReadonlyArray<{ sender?: unknown; type?: unknown; state_key?: unknown }>): Set<string> {
  const users = new Set<string>();
  for (const e of timeline) {
    if (typeof e.sender === "string") users.add(e.sender);
    if (e.type === "m.room.member" && typeof e.state_key === "string") users.add(e.state_key);
  }
  return users;
}
