// Read side of the relations index: an event's children (/relations), thread roots by latest reply
// (/threads), and the thread summaries bundled into a root's `unsigned.m.relations`. Events are
// served as clients see them (redactions applied).

import type { Pdu } from "../../shared/event.js";
import type { RelationsStore } from "../room-relations-storage.js";
import type { RoomReads, TimelineEvent } from "./reads.js";

export interface ThreadSummary {
  count: number;
  latest: { eventId: string; json: string };
  participated: boolean;
}

export class RelationReads {
  constructor(
    private readonly index: RelationsStore,
    private readonly reads: RoomReads,
  ) {}

  private events(ids: Array<{ eventId: string; pos: number }>): TimelineEvent[] {
    const out: TimelineEvent[] = [];
    for (const { eventId, pos } of ids) {
      const e = this.reads.eventJson(eventId, "client");
      if (e) out.push({ eventId, pos, json: e.json });
    }
    return out;
  }

  children(args: { parentId: string; relType?: string; eventType?: string; from?: number; to?: number; dir: "b" | "f"; limit: number }): TimelineEvent[] {
    return this.events(this.index.children(args));
  }

  threadSummaries(rootIds: readonly string[], userId: string): Record<string, ThreadSummary> {
    const senders = new Map<string, string>();
    for (const id of rootIds) {
      const e = this.reads.eventJson(id, "federation");
      if (e) senders.set(id, (JSON.parse(e.json) as Pdu).sender);
    }
    const out: Record<string, ThreadSummary> = {};
    for (const s of this.index.threadSummaries(rootIds, userId, senders)) {
      const latest = this.reads.eventJson(s.latestEventId, "client");
      if (latest) out[s.rootId] = { count: s.count, latest: { eventId: s.latestEventId, json: latest.json }, participated: s.participated };
    }
    return out;
  }

  /** Roots of threads, newest activity first; `next` is the position to continue below. */
  threadRoots(args: { before?: number; limit: number; participant?: string }): { events: TimelineEvent[]; next?: number } {
    const roots = this.index.threadRoots(args);
    const events: TimelineEvent[] = [];
    for (const r of roots) {
      const e = this.reads.eventJson(r.rootId, "client");
      if (e && e.pos !== null) events.push({ eventId: r.rootId, pos: e.pos, json: e.json });
    }
    const last = roots[roots.length - 1];
    return roots.length === args.limit && last ? { events, next: last.latestPos } : { events };
  }
}
