// The links of a new event in a full-mesh room (server-server spec "PDUs"): its prev_events are the
// forward extremities (events with no known child), at most MAX_PREV_EVENTS of them, and its depth
// is one more than its deepest parent. Pure functions, unit-tested on their own.

/** Synapse's and the spec's habit: reference at most this many parents; the rest stay extremities. */
export const MAX_PREV_EVENTS = 20;

/** Depth is capped; canonical JSON carries integers up to 2^53 - 1 (the spec's cap is higher). */
export const MAX_DEPTH = Number.MAX_SAFE_INTEGER;

export interface Extremity {
  eventId: string;
  depth: number;
}

/** The prev_events of a new event: the deepest extremities first (ties by ID, so every call agrees). */
export function prevEventsFor(extremities: readonly Extremity[]): string[] {
  return [...extremities]
    .sort((a, b) => b.depth - a.depth || (a.eventId < b.eventId ? -1 : a.eventId > b.eventId ? 1 : 0))
    .slice(0, MAX_PREV_EVENTS)
    .map((e) => e.eventId);
}

/** One more than the deepest parent, capped; 1 for an event with no parents (the create event). */
export function depthAfter(prevDepths: readonly number[]): number {
  if (prevDepths.length === 0) return 1;
  return Math.min(Math.max(...prevDepths) + 1, MAX_DEPTH);
}

/**
 * The forward extremities once `eventId` joins the graph: its parents are no longer extremities, and
 * it becomes one unless an event already known names it as a parent (it arrived after a child).
 */
export function extremitiesAfter(current: ReadonlySet<string>, eventId: string, prevEvents: readonly string[], hasKnownChild = false): Set<string> {
  const next = new Set(current);
  for (const p of prevEvents) next.delete(p);
  if (!hasKnownChild) next.add(eventId);
  return next;
}
