// Where an event of a full-mesh room ends up once judged: on the timeline (a position through
// RoomCore.commit, new forward extremities, current state resolved over them), or stored off it
// (soft-failed, rejected, outlier) with its place in the graph but no position.

import type { Pdu } from "../../shared/event.js";
import type { DagStatus } from "../room-dag-storage.js";
import type { RoomStore } from "./ports.js";
import type { RoomCore } from "./core.js";
import { extremitiesAfter } from "./dag-extremities.js";
import type { DagGraph } from "./dag-graph.js";
import type { Writer } from "./writer.js";

export interface Judged {
  eventId: string;
  pdu: Pdu;
  depth: number;
  /** State group before the event, when its parents' state is known. */
  before: number | null;
}

export class DagPlacer {
  constructor(
    private readonly core: RoomCore,
    private readonly graph: DagGraph,
    private readonly transaction: (fn: () => void) => void,
  ) {}

  /** Accepted: the next position, the extremities moved, current state resolved over them. */
  onTimeline(w: Writer, e: Judged & { before: number }, destinations: readonly string[]): void {
    const { eventId, pdu } = e;
    const after = this.graph.groupAfter(e.before, eventId, pdu, "timeline");
    const known = this.graph.row(eventId);
    const current = this.graph.extremities();
    const next = extremitiesAfter(current, eventId, pdu.prev_events);
    this.graph.remember(eventId, pdu);
    // The new event's own state is not stored yet, so resolution reads it through the fast path or the cache.
    const resolvedState = next.size === 1 ? this.graph.groups.get(after) : this.graph.resolve([...next].map((id) => (id === eventId ? this.graph.groups.get(after) : this.graph.stateAfter(id) ?? new Map())));
    const removed = [...current].filter((id) => !next.has(id));
    this.core.commit(w, {
      eventId,
      pdu,
      destinations,
      resolvedState,
      placeOutlier: known !== undefined && this.core.store.getEvent(eventId) !== undefined,
      alsoStore: () => {
        this.graph.store.putDagEvent({ eventId, depth: e.depth, status: "timeline", before: e.before, after });
        this.graph.store.setExtremities(removed, [eventId]);
      },
    });
    this.graph.extremitiesChanged(next);
  }

  /** Soft-failed, rejected or outlier: stored with no position; never an extremity. */
  offTimeline(e: Judged, status: Exclude<DagStatus, "timeline">): void {
    const { eventId, pdu } = e;
    const after = e.before === null ? null : this.graph.groupAfter(e.before, eventId, pdu, status);
    const stored = this.core.store.getEvent(eventId) !== undefined;
    this.transaction(() => {
      if (!stored) this.core.store.insertEvent(rowOf(eventId, pdu));
      this.graph.store.putDagEvent({ eventId, depth: e.depth, status, before: e.before, after });
    });
    if (status !== "rejected") this.graph.remember(eventId, pdu);
  }

  /** An outlier whose state after it is known (a gap's parent, fetched with the state at it). */
  outlierWithState(eventId: string, pdu: Pdu, depth: number, before: number): void {
    this.offTimeline({ eventId, pdu, depth, before }, "outlier");
  }
}

export function rowOf(eventId: string, pdu: Pdu): Parameters<RoomStore["insertEvent"]>[0] {
  const row: Parameters<RoomStore["insertEvent"]>[0] = { eventId, pos: null, type: pdu.type, sender: pdu.sender, json: JSON.stringify(pdu) };
  if (pdu.state_key !== undefined) row.stateKey = pdu.state_key;
  return row;
}
