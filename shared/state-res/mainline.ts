// The mainline ordering (spec "Mainline ordering"): events sorted by how far back along the resolved
// power-levels event's chain of power-levels auth events their own chain joins it, then by
// origin_server_ts, then by event ID.

import type { EventGraph } from "./event-graph.js";
import { tsOf } from "./power-order.js";

const PL = "m.room.power_levels";

/** The ID of the power-levels event among an event's auth events, if one is known. */
const plAuthOf = (graph: EventGraph, id: string): string | undefined => graph.authEventAt(id, PL, "")?.[0];

/** Orders `ids` (all known to `graph`) by the mainline of `resolvedPl`, earliest first. */
export function mainlineOrder(graph: EventGraph, ids: readonly string[], resolvedPl: string | undefined): string[] {
  if (ids.length === 0) return [];
  // Position i of Pᵢ on the mainline; a cycle in hostile input ends the walk instead of looping.
  const position = new Map<string, number>();
  for (let p = resolvedPl, i = 0; p !== undefined && graph.get(p) && !position.has(p); p = plAuthOf(graph, p), i++) position.set(p, i);

  // An event's position is that of the first power-levels event up its chain that is on the mainline;
  // remembered for every power-levels event passed, so shared chains are walked once.
  const known = new Map<string, number>();
  const positionOf = (id: string): number => {
    const walked = new Set<string>();
    let found = Number.POSITIVE_INFINITY;
    for (let p = plAuthOf(graph, id); p !== undefined; p = plAuthOf(graph, p)) {
      const onMainline = position.get(p) ?? known.get(p);
      if (onMainline !== undefined) {
        found = onMainline;
        break;
      }
      if (walked.has(p)) break;
      walked.add(p);
    }
    for (const w of walked) known.set(w, found);
    return found;
  };

  const keyed = ids.flatMap((id) => {
    const e = graph.get(id);
    return e ? [{ id, pos: positionOf(id), ts: tsOf(e) }] : [];
  });
  keyed.sort((x, y) => (x.pos !== y.pos ? (x.pos > y.pos ? -1 : 1) : x.ts !== y.ts ? x.ts - y.ts : x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
  return keyed.map((k) => k.id);
}
