// What sliding sync (MSC4186 "Room results") shows of one room: the timeline since the client's
// position (or the newest `timeline_limit` events when the room is new to the connection or its
// limit grew), the required state its combined config selects, and the room's name, avatar,
// heroes, counts and bump stamp. Read-only over the room's storage and current state.

import type { Pdu } from "../../shared/event.js";
import type { RoomState } from "../../shared/room-state.js";
import { lazyUsersOf, stateWanted, type CombinedConfig } from "../../shared/sliding-sync-lists.js";
import { syncSlice } from "../room-history.js";
import type { RoomStorage } from "../room-storage.js";

export interface SlidingRoomArgs {
  userId: string;
  /** The position the connection last showed; null when the room is new to it. */
  fromPos: number | null;
  toPos: number;
  config: CombinedConfig;
  /** Send all the required state (new to the connection, or its required_state grew). */
  fullState: boolean;
  /** The timeline limit grew: send the newest events even if some were seen. */
  expandTimeline: boolean;
}

export interface Hero {
  user_id: string;
  displayname?: string;
  avatar_url?: string;
}

export interface SlidingRoomView {
  timeline: Array<{ eventId: string; json: string }>;
  limited: boolean;
  prevBatch: string;
  numLive: number;
  requiredState: Array<{ eventId: string; json: string }>;
  /** undefined: no name event; null: a name event without a name. */
  name?: string | null;
  avatar?: string | null;
  heroes?: Hero[];
  joinedCount: number;
  invitedCount: number;
  bumpStamp: number;
  membership?: string;
  isEncrypted: boolean;
  roomType: string | null;
}

/** Event types that count as activity for bump_stamp (MSC4186 "Common fields"). */
const BUMP_TYPES = new Set(["m.room.create", "m.room.message", "m.room.encrypted", "m.sticker", "m.call.invite", "m.poll.start", "m.beacon_info"]);
const BUMP_SCAN = 100;

export interface RoomFacts {
  isEncrypted: boolean;
  roomType: string | null;
}

export function roomFacts(state: RoomState): RoomFacts {
  const type = state.get("m.room.create", "")?.content["type"];
  return { isEncrypted: state.get("m.room.encryption", "") !== undefined, roomType: typeof type === "string" ? type : null };
}

/** When the latest "proper" activity happened (origin_server_ts, comparable across rooms). */
function bumpStamp(store: RoomStorage, toPos: number): number {
  const recent = store.eventsBefore(toPos + 1, BUMP_SCAN);
  let fallback = 0;
  for (const e of recent) {
    const pdu = JSON.parse(e.json) as Pdu;
    fallback ||= pdu.origin_server_ts;
    if (BUMP_TYPES.has(pdu.type)) return pdu.origin_server_ts;
  }
  return fallback;
}

function stringOrNull(v: unknown): string | null {
  return typeof v === "string" && v !== "" ? v : null;
}

/** Up to five other members: joined first, then invited, then those who left (as /sync's m.heroes). */
function heroesOf(members: readonly Pdu[], userId: string): Hero[] {
  const rank = (m: unknown) => (m === "join" ? 0 : m === "invite" ? 1 : m === "leave" ? 2 : 3);
  const picked = members
    .filter((e) => e.state_key !== userId && rank(e.content["membership"]) < 3)
    .sort((a, b) => rank(a.content["membership"]) - rank(b.content["membership"]) || ((a.state_key ?? "") < (b.state_key ?? "") ? -1 : 1))
    .slice(0, 5);
  return picked.map((e) => ({
    user_id: e.state_key as string,
    ...(typeof e.content["displayname"] === "string" ? { displayname: e.content["displayname"] } : {}),
    ...(typeof e.content["avatar_url"] === "string" ? { avatar_url: e.content["avatar_url"] } : {}),
  }));
}

interface StateRow {
  eventId: string;
  pos: number | null;
  json: string;
  pdu: Pdu;
}

/** The state a response draws on: candidate rows for required_state, lookups, and the member events. */
interface StateView {
  rows: StateRow[];
  changed(eventId: string): boolean;
  get(type: string, stateKey?: string): { eventId: string; pdu: Pdu } | undefined;
  members(): Pdu[];
}

const parsed = (rows: ReadonlyArray<{ eventId: string; pos: number | null; json: string }>): StateRow[] => rows.map((e) => ({ ...e, pdu: JSON.parse(e.json) as Pdu }));

/**
 * A joined user sees the current state; an incremental response reads only the state that changed
 * after `from` plus the lazy members, and looks the rest up in memory, so a big room costs no full
 * state read per message. A user no longer joined sees the room as it was when they left.
 */
function stateView(store: RoomStorage, state: RoomState, args: SlidingRoomArgs, from: number, lazyUsers: ReadonlySet<string>): StateView {
  if (state.membership(args.userId) === "join") {
    const changedRows = args.fullState ? undefined : store.currentStateAfter(from);
    const changedIds = new Set((changedRows ?? []).map((e) => e.eventId));
    let rows: StateRow[];
    if (changedRows === undefined) rows = parsed(store.currentState());
    else {
      const lazyIds = [...lazyUsers].map((u) => state.eventIdOf("m.room.member", u)).filter((id): id is string => id !== undefined && !changedIds.has(id));
      rows = parsed([...changedRows, ...store.getEvents(lazyIds)]);
    }
    return {
      rows,
      // A full response sends everything whatever changed (only name and avatar ask, and they are sent).
      changed: (id) => changedIds.has(id),
      get: (type, stateKey = "") => state.entry(type, stateKey),
      members: () => state.members().map((e) => e.pdu),
    };
  }
  const rows = parsed(store.getEvents(store.stateIdsBefore(args.toPos + 1)));
  const byKey = new Map(rows.map((e) => [`${e.pdu.type}\u0000${e.pdu.state_key ?? ""}`, e]));
  return {
    rows,
    changed: (id) => rows.some((e) => e.eventId === id && e.pos !== null && e.pos > from),
    get: (type, stateKey = "") => byKey.get(`${type}\u0000${stateKey}`),
    members: () => rows.filter((e) => e.pdu.type === "m.room.member").map((e) => e.pdu),
  };
}

export function slidingRoomView(store: RoomStorage, state: RoomState, forClients: <T extends { eventId: string; json: string }>(rows: T[]) => T[], args: SlidingRoomArgs): SlidingRoomView {
  const fresh = args.fromPos === null || args.expandTimeline;
  const slice = syncSlice(store, { fromPos: fresh ? null : args.fromPos, toPos: args.toPos, limit: args.config.timelineLimit, fullState: false });
  const numLive = args.fromPos === null ? 0 : slice.events.filter((e) => e.pos > (args.fromPos as number)).length;
  const timelinePdus = slice.events.map((e) => JSON.parse(e.json) as Pdu);
  const sel = { userId: args.userId, lazyUsers: lazyUsersOf(timelinePdus) };
  const from = args.fromPos ?? -1;
  const view = stateView(store, state, args, from, sel.lazyUsers);
  const required = view.rows.filter(({ eventId, pdu }) => {
    if (!stateWanted(args.config, pdu.type, pdu.state_key ?? "", sel)) return false;
    if (args.fullState) return true;
    // Lazy members come with the timeline that needs them; other state only when it changed.
    return view.changed(eventId) || (pdu.type === "m.room.member" && sel.lazyUsers.has(pdu.state_key ?? ""));
  });
  const name = view.get("m.room.name");
  const avatar = view.get("m.room.avatar");
  const send = args.fullState || args.fromPos === null;
  const changed = (e: { eventId: string } | undefined) => e !== undefined && (send || view.changed(e.eventId));
  const members = view.members();
  const count = (m: string) => members.filter((e) => e.content["membership"] === m).length;
  const membership = view.get("m.room.member", args.userId)?.pdu.content["membership"];
  const roomType = view.get("m.room.create")?.pdu.content["type"];
  return {
    timeline: forClients(slice.events.map((e) => ({ eventId: e.eventId, json: e.json }))),
    limited: slice.limited,
    prevBatch: slice.prevBatch,
    numLive,
    requiredState: forClients(required.map((e) => ({ eventId: e.eventId, json: e.json }))),
    ...(changed(name) ? { name: stringOrNull(name?.pdu.content["name"]) } : {}),
    ...(changed(avatar) ? { avatar: stringOrNull(avatar?.pdu.content["url"]) } : {}),
    ...(stringOrNull(name?.pdu.content["name"]) === null ? { heroes: heroesOf(members, args.userId) } : {}),
    joinedCount: count("join"),
    invitedCount: count("invite"),
    bumpStamp: bumpStamp(store, args.toPos),
    ...(typeof membership === "string" ? { membership } : {}),
    isEncrypted: view.get("m.room.encryption") !== undefined,
    roomType: typeof roomType === "string" ? roomType : null,
  };
}
