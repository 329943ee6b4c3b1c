// Commit listener: records each committed event that relates to another (content.m.relates_to with
// an event_id and a rel_type) in the relations index, in the commit's own transaction.

import type { RelationsStore } from "../room-relations-storage.js";
import type { CommitListener, Committed } from "./core.js";

const MAX_ID = 255;

export class RelationsListener implements CommitListener {
  constructor(private readonly store: RelationsStore) {}

  record(c: Committed): void {
    const rel = (c.pdu.content as Record<string, unknown> | undefined)?.["m.relates_to"];
    if (typeof rel !== "object" || rel === null || Array.isArray(rel)) return;
    const { event_id: parentId, rel_type: relType } = rel as Record<string, unknown>;
    if (typeof parentId !== "string" || typeof relType !== "string" || parentId.length > MAX_ID || relType.length > MAX_ID || parentId === c.eventId) return;
    this.store.record({ eventId: c.eventId, parentId, relType, type: c.pdu.type, sender: c.pdu.sender, pos: c.pos });
  }
}
