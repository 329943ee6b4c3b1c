// Which events state resolution has to replay: the unconflicted state map and conflicted state set,
// the auth difference, and (v2.1, MSC4297) the conflicted state subgraph.

import type { EventGraph } from "./event-graph.js";

export type StateSet = ReadonlyMap<string, string>;

export interface Split {
  unconflicted: Map<string, string>;
  /** Key → the distinct event IDs the state sets hold there. A key some set lacks is conflicted. */
  conflicted: Map<string, Set<string>>;
}

export function splitStateSets(stateSets: readonly StateSet[]): Split {
  const unconflicted = new Map<string, string>();
  const conflicted = new Map<string, Set<string>>();
  const [first, ...rest] = stateSets;
  if (!first) return { unconflicted, conflicted };
  const valuesAt = (k: string): Set<string> => {
    const ids = new Set<string>();
    for (const s of stateSets) {
      const id = s.get(k);
      if (id !== undefined) ids.add(id);
    }
    return ids;
  };
  for (const [k, v] of first) {
    if (rest.every((s) => s.get(k) === v)) unconflicted.set(k, v);
    else conflicted.set(k, valuesAt(k));
  }
  for (const s of rest) for (const k of s.keys()) if (!first.has(k) && !conflicted.has(k)) conflicted.set(k, valuesAt(k));
  return { unconflicted, conflicted };
}

/**
 * ∪Cᵢ − ∩Cᵢ, where Cᵢ is the auth chains of state set i's events (the events included, as Synapse
 * and ruma count them). Cᵢ = U ∪ Dᵢ with U the closure of the unconflicted events, common to every
 * set, so the difference is ∪Dᵢ − ∩Dᵢ with U taken out: each set's walk starts from its conflicted
 * entries only and stops where U begins, and the room's unconflicted history is walked once.
 */
export function authDifference(graph: EventGraph, stateSets: readonly StateSet[], split: Split): Set<string> {
  const common = graph.closure(split.unconflicted.values());
  const perSet = stateSets.map((s) => {
    const starts: string[] = [];
    for (const k of split.conflicted.keys()) {
      const id = s.get(k);
      if (id !== undefined) starts.push(id);
    }
    return graph.closure(starts, common);
  });
  const diff = new Set<string>();
  for (const d of perSet) for (const id of d) if (!perSet.every((o) => o.has(id))) diff.add(id);
  return diff;
}

/**
 * Every event on an auth_events path from one conflicted event to another, endpoints included: the
 * events both reachable from a conflicted event and reaching one. Walks the conflicted events' auth
 * chains once, remembering the edges backwards, then walks those back from the conflicted events.
 */
export function conflictedSubgraph(graph: EventGraph, conflictedIds: ReadonlySet<string>): Set<string> {
  const ancestors = new Set<string>();
  const children = new Map<string, string[]>();
  const visited = new Set<string>(conflictedIds);
  const stack = [...conflictedIds];
  while (stack.length > 0) {
    const id = stack.pop() as string;
    for (const a of graph.authIds(id)) {
      const list = children.get(a);
      if (list) list.push(id);
      else children.set(a, [id]);
      ancestors.add(a);
      if (!visited.has(a)) {
        visited.add(a);
        stack.push(a);
      }
    }
  }
  const sub = new Set<string>(conflictedIds);
  const back = [...conflictedIds];
  while (back.length > 0) {
    for (const c of children.get(back.pop() as string) ?? []) {
      if (sub.has(c) || !ancestors.has(c)) continue;
      sub.add(c);
      back.push(c);
    }
  }
  return sub;
}
