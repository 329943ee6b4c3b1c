// What a full-mesh room serves to other servers (federation /event, /state, /state_ids, /event_auth,
// /get_missing_events and /backfill): never a rejected event. Soft-failed events are served, as
// Synapse serves them: they are part of the graph other servers may need to fill a gap, only
// withheld from clients. Backfill walks the graph back from the events asked for, deepest first, as
// the spec describes, rather than this server's local order.

import type { DagGraph } from "./dag-graph.js";

/** Whether an event may be served to another server: held here and not rejected. */
export function servable(graph: DagGraph, eventId: string): boolean {
  const row = graph.row(eventId);
  return row !== undefined && row.status !== "rejected" && graph.getEvent(eventId) !== undefined;
}

/**
 * /backfill: the events asked for and their ancestors through prev_events, deepest first, at most
 * `limit`, returned oldest first; undefined when none of the events asked for is held here.
 */
export function backfillWalk(graph: DagGraph, from: readonly string[], limit: number): string[] | undefined {
  const starts = from.filter((id) => servable(graph, id));
  if (starts.length === 0) return undefined;
  const depthOf = (id: string) => graph.row(id)?.depth ?? 0;
  const queue = starts.map((id) => ({ id, depth: depthOf(id) }));
  const seen = new Set<string>();
  const out: Array<{ id: string; depth: number }> = [];
  while (queue.length > 0 && out.length < limit) {
    // Deepest first (ties by ID, so every call agrees); the queue stays small (<= limit x parents).
    queue.sort((a, b) => b.depth - a.depth || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const next = queue.shift() as { id: string; depth: number };
    if (seen.has(next.id)) continue;
    seen.add(next.id);
    const e = servable(graph, next.id) ? graph.getEvent(next.id) : undefined;
    if (!e) continue;
    out.push(next);
    for (const p of e.prev_events) if (!seen.has(p)) queue.push({ id: p, depth: depthOf(p) });
  }
  return out.sort((a, b) => a.depth - b.depth || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).map((e) => e.id);
}
