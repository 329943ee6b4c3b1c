// /messages over one order: the live timeline (positions 1, 2, ...) and, on a participant, the
// history fetched from the hub below it (0, -1, ...; room-backfill-storage.ts). Pages skip what
// the user may not see (shared/history-visibility.ts); a participant fetches older history from
// the hub when a page runs out of it, or when the visibility of an event depends on state older
// than what it holds.

import type { Pdu } from "../shared/event.js";
import { visibleToJoinedUser, type StateBefore } from "../shared/history-visibility.js";
import type { BackfillOutcome } from "./room-backfill.js";
import type { BackfillStore } from "./room-backfill-storage.js";
import type { RoomStorage, StoredEvent } from "./room-storage.js";

/** Rows read per step. */
const STEP = 100;
/** Events looked at per request: a long stretch the user may not see ends a page early, with a token to go on. */
const MAX_SCANNED = 2_000;
/** Pages asked of the hub per request. */
const MAX_BACKFILLS = 10;

export interface MessagesArgs {
  userId: string;
  dir: "b" | "f";
  /** Backwards: events at or before this position; forwards: after it. Undefined: from the newest (b) or the oldest (f). */
  from?: number;
  /** Backwards: stop at or before this position; forwards: stop after it. */
  to?: number;
  limit: number;
}

export interface MessagesPage {
  events: Array<{ pos: number; eventId: string; json: string }>;
  /** Where the next page starts; undefined when there is nothing further in this direction. */
  end?: number;
  /** Where this page started. */
  start: number;
}

export interface MessagesDeps {
  store: RoomStorage;
  history: BackfillStore;
  /** A participant's fetch of older history; undefined on the hub, which holds it all. */
  backfill?: () => Promise<BackfillOutcome>;
}

/** One (type, state_key)'s events in the combined order, and the entry the replica joined with. */
interface KeyHistory {
  events: Array<{ pos: number; content: unknown }>;
  joined: { content: unknown } | undefined;
}

const contentOf = (e: StoredEvent): unknown => (JSON.parse(e.json) as Pdu).content;

function keyHistory(d: MessagesDeps, type: string, stateKey: string): KeyHistory {
  const rows = [...d.history.stateEvents(type, stateKey), ...d.store.stateEventsOf(type, stateKey)];
  const joined = d.store.joinStateEvent(type, stateKey);
  return { events: rows.map((r) => ({ pos: r.pos as number, content: contentOf(r) })), joined: joined && { content: contentOf(joined) } };
}

/**
 * The state before position `pos`. On the live timeline: the newest event before it, else the state
 * the replica joined with. In fetched history, held contiguously from 0 down: the newest held event
 * before it; failing that, the joined-with entry if nothing between `pos` and the live timeline
 * changed it; failing that, nothing if the history reaches the create event, else unknown.
 */
function stateBefore(k: KeyHistory, pos: number, complete: boolean): StateBefore {
  let latest: { pos: number; content: unknown } | undefined;
  let changedSince = false;
  for (const e of k.events) {
    if (e.pos < pos) latest = e;
    else if (e.pos <= 0) changedSince = true;
  }
  if (pos >= 1) return latest && latest.pos >= 1 ? { known: true, content: latest.content } : { known: true, content: k.joined?.content };
  if (latest) return { known: true, content: latest.content };
  if (!changedSince) return { known: true, content: k.joined?.content };
  return complete ? { known: true, content: undefined } : { known: false };
}

class Visibility {
  private hv!: KeyHistory;
  private member!: KeyHistory;
  private complete = true;
  constructor(
    private readonly d: MessagesDeps,
    private readonly userId: string,
  ) {
    this.reload();
  }

  reload(): void {
    this.hv = keyHistory(this.d, "m.room.history_visibility", "");
    this.member = keyHistory(this.d, "m.room.member", this.userId);
    this.complete = this.d.backfill === undefined || this.d.history.complete();
  }

  of(e: StoredEvent): boolean | undefined {
    const pdu = JSON.parse(e.json) as Pdu;
    const pos = e.pos as number;
    return visibleToJoinedUser({
      event: pdu,
      userId: this.userId,
      visibility: stateBefore(this.hv, pos, this.complete),
      membership: stateBefore(this.member, pos, this.complete),
    });
  }
}

/** Live events then fetched history, newest first, below `before`. */
function rowsBefore(d: MessagesDeps, before: number): StoredEvent[] {
  const live = before > 1 ? d.store.eventsBefore(before, STEP, 0) : [];
  return live.length > 0 ? live : d.history.before(Math.min(before, 1), STEP);
}

/** Fetched history then live events, oldest first, above `after`. */
function rowsAfter(d: MessagesDeps, after: number): StoredEvent[] {
  const old = after < 0 ? d.history.after(after, STEP) : [];
  return old.length > 0 ? old : d.store.eventsAfter(Math.max(after, 0), STEP);
}

export async function pageMessages(d: MessagesDeps, args: MessagesArgs): Promise<MessagesPage> {
  const limit = Math.max(1, Math.min(args.limit, 1000));
  const vis = new Visibility(d, args.userId);
  let backfills = 0;
  /** Fetches older history when there is some to fetch (and budget left); false otherwise. */
  const fetchOlder = async (): Promise<boolean | "failed"> => {
    if (!d.backfill || d.history.complete() || backfills >= MAX_BACKFILLS) return false;
    backfills++;
    const outcome = await d.backfill();
    vis.reload();
    return outcome === "failed" ? "failed" : true;
  };

  if (args.dir === "f" && args.from === undefined) {
    // "From the start" means the create event: fetch history down to it first, as far as the budget goes.
    while ((await fetchOlder()) === true);
  }
  const start = args.from ?? (args.dir === "b" ? (d.store.lastEvent()?.pos ?? 0) : (d.history.oldest()?.pos ?? 1) - 1);
  const events: MessagesPage["events"] = [];
  let cursor = start;
  let scanned = 0;
  let exhausted = false;
  scan: while (events.length < limit && scanned < MAX_SCANNED) {
    const rows = args.dir === "b" ? rowsBefore(d, cursor + 1) : rowsAfter(d, cursor);
    if (rows.length === 0) {
      const more = args.dir === "b" ? await fetchOlder() : false;
      if (more === true) continue;
      // A failed fetch leaves a token, so the client can try again later.
      exhausted = more !== "failed";
      break;
    }
    for (const r of rows) {
      const pos = r.pos as number;
      if (args.to !== undefined && (args.dir === "b" ? pos <= args.to : pos > args.to)) {
        exhausted = true;
        break scan;
      }
      let visible = vis.of(r);
      if (visible === undefined) {
        // Its visibility hangs on older state: fetch more history, then look at this event again.
        if ((await fetchOlder()) === true) continue scan;
        visible = false;
      }
      scanned++;
      cursor = args.dir === "b" ? pos - 1 : pos;
      if (visible) events.push({ pos, eventId: r.eventId, json: r.json });
      if (events.length >= limit) break;
    }
  }
  const page: MessagesPage = { events, start };
  if (!exhausted || (args.dir === "f" && cursor !== start)) page.end = cursor;
  return page;
}
