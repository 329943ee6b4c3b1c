// A participant fetches the room's history from before its replica began from the hub (or, in a
// full-mesh room joined elsewhere, from the server it joined through), one page at a time, when a
// user pages back that far. The hub's answer is verified by the Worker (hub and
// sender signatures, content hashes); here each event must be the one its successor names in
// prev_events (event IDs are reference hashes, so the chain from our own verified first event
// vouches for every link) and belong to this room. Accepted events are stored once, apart from the
// live order (room-backfill-storage.ts): no notification, no fan-out, no state change. Redactions
// already held are applied to them, and theirs to events held.

import type { Pdu } from "../shared/event.js";
import { eventIdOf } from "../shared/hashes.js";
import { redactionTargetOf } from "../shared/redaction-auth.js";
import type { RoomVersion } from "../shared/room-version.js";
import type { BackfillStore } from "./room-backfill-storage.js";
import type { RoomStorage } from "./room-storage.js";

/** Events asked of the hub per page. */
export const BACKFILL_PAGE = 100;

export interface BackfillDeps {
  roomId: string;
  version: RoomVersion;
  store: RoomStorage;
  history: BackfillStore;
  /** The hub's backfill up to and including `upTo`, verified; undefined when it failed. */
  fetch(upTo: string, limit: number): Promise<Pdu[] | undefined>;
  /** Runs `fn` as one storage transaction. */
  transaction(fn: () => void): void;
  /** Whether `redaction` strips `target` under the room's rules. */
  redactionApplies(redactionId: string, redaction: Pdu, targetId: string, target: Pdu): boolean;
}

export type BackfillOutcome = "progress" | "complete" | "failed";

/** Fetches and stores the page of history just older than what is held. */
export async function backfillOnce(d: BackfillDeps): Promise<BackfillOutcome> {
  if (d.history.complete()) return "complete";
  const oldest = d.history.oldest() ?? d.store.eventsAfter(0, 1)[0];
  const oldestJson = oldest && d.store.getEvent(oldest.eventId)?.json;
  if (!oldest || oldestJson === undefined) return "failed";
  const wanted = (JSON.parse(oldestJson) as Pdu).prev_events[0];
  if (wanted === undefined) {
    d.history.markComplete();
    return "complete";
  }
  const pdus = await d.fetch(wanted, BACKFILL_PAGE);
  if (!pdus) return "failed";
  const byId = new Map<string, Pdu>();
  for (const pdu of pdus) {
    try {
      d.version.checkFormat(pdu);
    } catch {
      continue;
    }
    const id = await eventIdOf(pdu, d.version);
    // A v12 create event names no room: the room ID is its reference hash.
    const ours = pdu.room_id === d.roomId || (d.version.roomIdFromCreateEvent && pdu.type === "m.room.create" && pdu.room_id === undefined && `!${id.slice(1)}` === d.roomId);
    if (ours) byId.set(id, pdu);
  }
  // Follow prev_events down from what we hold, deepest first (an LM room has one parent per event,
  // a full-mesh room may have several); anything not reached that way is ignored.
  const chain: Array<{ id: string; pdu: Pdu }> = [];
  let reachedCreate = false;
  const queue = [wanted];
  while (queue.length > 0) {
    queue.sort((a, b) => (byId.get(b)?.depth ?? 0) - (byId.get(a)?.depth ?? 0));
    const id = queue.shift() as string;
    const pdu = byId.get(id);
    if (!pdu) continue;
    chain.push({ id, pdu });
    byId.delete(id);
    if (pdu.prev_events.length === 0) reachedCreate ||= pdu.type === "m.room.create";
    for (const p of pdu.prev_events) if (byId.has(p) && !queue.includes(p)) queue.push(p);
  }
  if (chain.length === 0) return "failed";
  d.transaction(() => {
    // Another page may have been stored while this one was fetched.
    const now = d.history.oldest() ?? oldest;
    if (now.eventId !== oldest.eventId) return;
    for (const { id, pdu } of chain) {
      if (d.store.getEvent(id)) continue;
      const row: Parameters<RoomStorage["insertEvent"]>[0] = { eventId: id, pos: null, type: pdu.type, sender: pdu.sender, json: JSON.stringify(pdu) };
      if (pdu.state_key !== undefined) row.stateKey = pdu.state_key;
      d.store.insertEvent(row);
    }
    d.history.appendOlder(chain.map((c) => c.id));
    if (reachedCreate) d.history.markComplete();
    applyHeldRedactions(d, new Set(chain.map((c) => c.id)));
  });
  return reachedCreate ? "complete" : "progress";
}

/** Redactions whose target or which themselves just arrived: recorded when the rules let them strip it. */
function applyHeldRedactions(d: BackfillDeps, arrived: Set<string>): void {
  for (const r of d.store.redactionEvents()) {
    const redaction = JSON.parse(r.json) as Pdu;
    const targetId = redactionTargetOf(redaction);
    if (targetId === undefined || !(arrived.has(targetId) || arrived.has(r.eventId))) continue;
    const target = d.store.getEvent(targetId);
    if (!target) continue;
    if (d.redactionApplies(r.eventId, redaction, targetId, JSON.parse(target.json) as Pdu)) d.store.putRedaction(targetId, r.eventId, r.json);
  }
}
