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

function heroesOf(state: RoomState, userId: string): Hero[] {
  const entries = [...state.members("join"), ...state.members("invite"), ...state.members("leave")].filter((e) => e.pdu.state_key !== userId).slice(0, 5);
  return entries.map((e) => {
    const c = e.pdu.content;
    return {
      user_id: e.pdu.state_key as string,
      ...(typeof c["displayname"] === "string" ? { displayname: c["displayname"] } : {}),
      ...(typeof c["avatar_url"] === "string" ? { avatar_url: c["avatar_url"] } : {}),
    };
  });
}

export function slidingRoomView(store: RoomStorage, state: RoomState, forClients: <T extends { eventId: string; json: string }>(rows: T[]) => T[], args: SlidingRoomArgs): SlidingRoomView {
  const fresh = args.fromPos === null || args.expandTimeline;
  const slice = syncSlice(store, { fromPos: fresh ? null : args.fromPos, toPos: args.toPos, limit: args.config.timelineLimit, fullState: false });
  const numLive = args.fromPos === null ? 0 : slice.events.filter((e) => e.pos > (args.fromPos as number)).length;
  const timelinePdus = slice.events.map((e) => JSON.parse(e.json) as Pdu);
  const sel = { userId: args.userId, lazyUsers: lazyUsersOf(timelinePdus) };
  const from = args.fromPos ?? -1;
  const current = store.currentState();
  const changedIds = new Set(current.filter((e) => e.pos !== null && e.pos > from).map((e) => e.eventId));
  const required = current.filter((e) => {
    const pdu = JSON.parse(e.json) as Pdu;
    if (!stateWanted(args.config, pdu.type, pdu.state_key ?? "", sel)) return false;
    if (args.fullState) return true;
    // Lazy members come with the timeline that needs them; other state only when it changed.
    return changedIds.has(e.eventId) || (pdu.type === "m.room.member" && sel.lazyUsers.has(pdu.state_key ?? ""));
  });
  const name = state.get("m.room.name", "");
  const avatar = state.get("m.room.avatar", "");
  const send = args.fullState || args.fromPos === null;
  const changed = (type: string) => send || changedIds.has(state.eventIdOf(type, "") ?? "");
  const facts = roomFacts(state);
  const membership = state.membership(args.userId);
  return {
    timeline: forClients(slice.events.map((e) => ({ eventId: e.eventId, json: e.json }))),
    limited: slice.limited,
    prevBatch: slice.prevBatch,
    numLive,
    requiredState: forClients(required.map((e) => ({ eventId: e.eventId, json: e.json }))),
    ...(name && changed("m.room.name") ? { name: stringOrNull(name.content["name"]) } : {}),
    ...(avatar && changed("m.room.avatar") ? { avatar: stringOrNull(avatar.content["url"]) } : {}),
    ...(name === undefined || stringOrNull(name.content["name"]) === null ? { heroes: heroesOf(state, args.userId) } : {}),
    joinedCount: state.members("join").length,
    invitedCount: state.members("invite").length,
    bumpStamp: bumpStamp(store, args.toPos),
    ...(membership !== undefined ? { membership } : {}),
    ...facts,
  };
}
