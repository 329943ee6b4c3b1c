// Read-side queries over a room's stored history: auth chains (federation /state, send_join),
// backfill windows, and the timeline slice /sync shows. Plain functions over RoomStorage; the Room
// object keeps its state machine, these only read.

import type { Pdu } from "../shared/event.js";
import { typeAllowed } from "../shared/sync-filter.js";
import type { RoomStorage, StoredEvent } from "./room-storage.js";

/** The auth events of `events`, recursively, minus `events` themselves, oldest first. */
export function authChainOf(store: Pick<RoomStorage, "getEvent">, events: StoredEvent[]): StoredEvent[] {
  const seen = new Set(events.map((e) => e.eventId));
  const out: StoredEvent[] = [];
  const queue: string[] = [];
  for (const e of events) queue.push(...((JSON.parse(e.json) as Pdu).auth_events ?? []));
  const inChain = new Set<string>();
  while (queue.length > 0) {
    const id = queue.pop() as string;
    if (inChain.has(id)) continue;
    inChain.add(id);
    const e = store.getEvent(id);
    if (!e) continue;
    if (!seen.has(id)) out.push(e);
    queue.push(...((JSON.parse(e.json) as Pdu).auth_events ?? []));
  }
  return out.sort((a, b) => (a.pos ?? -1) - (b.pos ?? -1));
}

/** Events up to and including the newest of `from` that is on the timeline, oldest first; undefined when none is. */
export function backfillFrom(store: RoomStorage, from: string[], limit: number): StoredEvent[] | undefined {
  let newest = -1;
  for (const id of from) {
    const e = store.getEvent(id);
    if (e && e.pos !== null) newest = Math.max(newest, e.pos);
  }
  if (newest < 0) return undefined;
  return store.eventsBefore(newest + 1, limit).reverse();
}

export interface SyncSliceArgs {
  fromPos: number | null;
  toPos: number;
  limit: number;
  types?: string[];
  notTypes?: string[];
  fullState: boolean;
}

export interface SyncSlice {
  events: Array<{ eventId: string; json: string; pos: number }>;
  limited: boolean;
  prevBatch: string;
  state: Array<{ eventId: string; json: string }>;
}

/**
 * Timeline events in (fromPos, toPos]: the newest `limit` of them that pass the type filter,
 * whether older ones were left out, and the state at the start of the timeline when the client
 * needs it (new to the client, a gap, or full_state).
 */
export function syncSlice(store: RoomStorage, args: SyncSliceArgs): SyncSlice {
  const limit = Math.max(0, Math.min(args.limit, 500));
  const from = args.fromPos ?? 0;
  const picked: StoredEvent[] = [];
  let cursor = args.toPos + 1;
  let scanned = 0;
  // Newest first, until `limit` matching events or the start of the window. The window's start
  // bounds the query: an incremental sync with one new event reads one row, not a page of old ones.
  while (picked.length < limit && scanned < 5_000) {
    const rows = store.eventsBefore(cursor, 200, from);
    if (rows.length === 0) break;
    for (const r of rows) {
      scanned++;
      if (picked.length >= limit) break;
      if (typeAllowed((JSON.parse(r.json) as Pdu).type, args.types, args.notTypes)) picked.push(r);
    }
    cursor = rows[rows.length - 1]?.pos as number;
  }
  picked.reverse();
  const firstPos = picked[0]?.pos ?? args.toPos + 1;
  const limited = store.eventsBefore(firstPos, 1, from).length > 0;
  const needState = args.fromPos === null || limited || args.fullState;
  const state = needState ? store.getEvents(store.stateIdsBefore(firstPos)) : [];
  return {
    events: picked.map((e) => ({ eventId: e.eventId, json: e.json, pos: e.pos as number })),
    limited,
    prevBatch: `p${Math.max(0, firstPos - 1)}`,
    state: state.map((e) => ({ eventId: e.eventId, json: e.json })),
  };
}
