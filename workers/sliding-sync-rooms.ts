// Sliding sync's rooms: which of the user's rooms the request's lists and subscriptions match
// (MSC4186 "Lists and subscriptions"), which of them the response must carry (new to the
// connection, changed since, or asked for with a larger config), and each room's result.

import { toClientEvent } from "../shared/client-event.js";
import type { Pdu } from "../shared/event.js";
import { combineConfigs, evaluateList, filtersNeedRoomFacts, requiredStateKey, type CombinedConfig, type ListRoom } from "../shared/sliding-sync-lists.js";
import type { RoomConfig, SlidingRequest } from "../shared/sliding-sync-request.js";
import type { SlidingSnapshot } from "../durable-objects/user-stream.js";
import type { RoomFacts } from "../durable-objects/room.js";
import type { SentRoom } from "../durable-objects/sliding-sync-storage.js";
import { bundleThreads } from "./client-relations.js";
import { getAccountData } from "./storage/account-data.js";

/** Rooms asked at once for their facts or results. */
const CONCURRENCY = 16;

export interface MatchedRoom {
  roomId: string;
  config: CombinedConfig;
  /** The lists that matched it (empty: a subscription only). */
  lists: string[];
}

export interface RoomsOutcome {
  lists: Record<string, { count: number }>;
  matched: Map<string, MatchedRoom>;
  rooms: Record<string, Record<string, unknown>>;
  /** What the connection records as sent with this response. */
  sent: SentRoom[];
  /** Rooms the response carries as new to the connection. */
  initial: Set<string>;
}

async function mapLimit<T, R>(items: readonly T[], f: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) out[i] = await f(items[i] as T);
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, items.length) }, worker));
  return out;
}

/** Room IDs in the user's m.direct account data. */
async function directRooms(env: Env, userId: string): Promise<Set<string>> {
  const stored = await getAccountData(env.DB, userId, undefined, "m.direct");
  const out = new Set<string>();
  if (stored === null) return out;
  const content = JSON.parse(stored) as unknown;
  if (typeof content !== "object" || content === null) return out;
  for (const ids of Object.values(content)) if (Array.isArray(ids)) for (const id of ids) if (typeof id === "string") out.add(id);
  return out;
}

/**
 * The rooms a list may show: joined, invited, knocked and banned ones; rooms the user left only if
 * this connection has sent them before (the client knows it left the others).
 */
async function listRooms(env: Env, userId: string, req: SlidingRequest, snap: SlidingSnapshot, sent: Map<string, SentRoom>): Promise<ListRoom[]> {
  const rooms: ListRoom[] = snap.rooms
    .filter((r) => r.membership !== "leave" || sent.has(r.roomId))
    .map((r) => ({ roomId: r.roomId, membership: r.membership, activity: r.activity }));
  const filters = [...req.lists.values()].map((l) => l.filters);
  if (filters.some((f) => f.isDm !== undefined)) {
    const dms = await directRooms(env, userId);
    for (const r of rooms) r.isDm = dms.has(r.roomId);
  }
  if (filters.some(filtersNeedRoomFacts)) {
    const needEncryption = filters.some((f) => f.isEncrypted !== undefined);
    const facts = await mapLimit(rooms, (r) => roomFacts(env, r.roomId, needEncryption));
    rooms.forEach((r, i) => {
      const f = facts[i];
      if (f) Object.assign(r, f);
    });
  }
  return rooms;
}

/**
 * Room facts this isolate has read. A room's type (its create event) never changes and encryption,
 * once on, stays on, so only "not encrypted" needs asking again, and only when a filter asks.
 */
const knownFacts = new Map<string, RoomFacts>();
const MAX_KNOWN_FACTS = 10_000;

async function roomFacts(env: Env, roomId: string, needEncryption: boolean): Promise<RoomFacts | undefined> {
  const known = knownFacts.get(roomId);
  if (known && (!needEncryption || known.isEncrypted)) return known;
  const facts = await env.ROOM.get(env.ROOM.idFromName(roomId))
    .roomFacts()
    .catch(() => undefined);
  if (facts) {
    if (knownFacts.size >= MAX_KNOWN_FACTS) knownFacts.clear();
    knownFacts.set(roomId, facts);
  }
  return facts;
}

/** Which rooms match which rules, with their combined configs (MSC4186 "Combining room configs"). */
async function matchRooms(env: Env, userId: string, req: SlidingRequest, snap: SlidingSnapshot, sent: Map<string, SentRoom>) {
  const configs = new Map<string, { configs: RoomConfig[]; lists: string[] }>();
  const add = (roomId: string, config: RoomConfig, list?: string) => {
    const entry = configs.get(roomId) ?? { configs: [], lists: [] };
    entry.configs.push(config);
    if (list !== undefined) entry.lists.push(list);
    configs.set(roomId, entry);
  };
  const lists: Record<string, { count: number }> = {};
  if (req.lists.size > 0) {
    const rooms = await listRooms(env, userId, req, snap, sent);
    for (const [name, list] of req.lists) {
      const { count, roomIds } = evaluateList(rooms, list);
      lists[name] = { count };
      for (const id of roomIds) add(id, list, name);
    }
  }
  // Subscriptions to rooms the user has no membership in are ignored, as the MSC asks.
  const known = new Set(snap.rooms.map((r) => r.roomId));
  for (const [roomId, config] of req.subscriptions) if (known.has(roomId)) add(roomId, config);
  const matched = new Map<string, MatchedRoom>();
  for (const [roomId, c] of configs) matched.set(roomId, { roomId, config: combineConfigs(c.configs), lists: c.lists });
  return { lists, matched };
}

function clientEvents(rows: Array<{ eventId: string; json: string }>, roomId: string, now: number) {
  return rows.map((e) => toClientEvent(JSON.parse(e.json) as Pdu, e.eventId, roomId, now));
}

export async function slidingRooms(env: Env, userId: string, req: SlidingRequest, snap: SlidingSnapshot): Promise<RoomsOutcome> {
  const sentBefore = new Map(snap.sent.map((s) => [s.roomId, s]));
  const { lists, matched } = await matchRooms(env, userId, req, snap, sentBefore);
  const byId = new Map(snap.rooms.map((r) => [r.roomId, r]));
  const rooms: Record<string, Record<string, unknown>> = {};
  const sent: SentRoom[] = [];
  const initial = new Set<string>();
  const now = Date.now();
  await mapLimit([...matched.values()], async (m) => {
    const r = byId.get(m.roomId);
    if (!r) return;
    const sentAs = sentBefore.get(m.roomId);
    // A room the client saw only as an invite or knock (stripped state) starts afresh once joined or left.
    const prev = sentAs && (sentAs.membership === r.membership || (sentAs.membership !== "invite" && sentAs.membership !== "knock")) ? sentAs : undefined;
    const stateKey = requiredStateKey(m.config);
    const expandTimeline = prev !== undefined && m.config.timelineLimit > prev.timelineLimit;
    const stateGrew = prev !== undefined && stateKey !== prev.stateKey;
    // A membership change can come without a new position (an invite to a remote room, rejected).
    if (prev && r.roomPos <= prev.roomPos && r.membership === prev.membership && !expandTimeline && !stateGrew) return;
    const lists = m.lists.length > 0 ? { lists: m.lists } : {};
    if (!prev) initial.add(m.roomId);
    const record: SentRoom = { roomId: m.roomId, roomPos: r.roomPos, membership: r.membership, timelineLimit: m.config.timelineLimit, stateKey };
    if (r.membership === "invite" || r.membership === "knock") {
      // ruma reads `invite_state`; the MSC's text names it `stripped_state`: both are sent.
      const stripped = r.inviteStateJson ? (JSON.parse(r.inviteStateJson) as unknown[]) : [];
      // Other rooms' bump_stamp is a timestamp; an invite bumps as of when it is shown.
      rooms[m.roomId] = { initial: true, membership: r.membership, invite_state: stripped, stripped_state: stripped, bump_stamp: now, ...lists };
      sent.push(record);
      return;
    }
    try {
      const stub = env.ROOM.get(env.ROOM.idFromName(m.roomId));
      const view = await stub.slidingRoom({
        userId,
        fromPos: prev ? prev.roomPos : null,
        toPos: r.roomPos,
        config: m.config,
        fullState: !prev || stateGrew,
        expandTimeline,
      });
      const timeline = clientEvents(view.timeline, m.roomId, now);
      // Thread roots carry their summary, as in /messages; a room left is shown as of the leave, so not there.
      if (r.membership === "join") await bundleThreads(stub, userId, m.roomId, timeline);
      rooms[m.roomId] = {
        ...(prev ? {} : { initial: true }),
        ...(expandTimeline ? { expanded_timeline: true } : {}),
        ...(view.name !== undefined ? { name: view.name } : {}),
        ...(view.avatar !== undefined ? { avatar: view.avatar } : {}),
        ...(view.heroes !== undefined ? { heroes: view.heroes } : {}),
        required_state: clientEvents(view.requiredState, m.roomId, now),
        timeline,
        prev_batch: view.prevBatch,
        limited: view.limited,
        num_live: view.numLive,
        joined_count: view.joinedCount,
        invited_count: view.invitedCount,
        bump_stamp: view.bumpStamp,
        ...(view.membership !== undefined ? { membership: view.membership } : {}),
        ...lists,
      };
      sent.push(record);
    } catch (e) {
      if (r.membership === "join") {
        console.error("sliding sync room view failed", m.roomId, e instanceof Error ? e.message : e);
        return;
      }
      // No replica here (an invite to a remote room, rejected): the membership is all there is to show.
      rooms[m.roomId] = { ...(prev ? {} : { initial: true }), membership: r.membership, required_state: [], timeline: [], bump_stamp: now, ...lists };
      sent.push(record);
    }
  });
  return { lists, matched, rooms, sent, initial };
}
