// The state of a full-mesh room at each point of its graph, kept as state groups: a group is a delta
// on an older group, so events that change no state share their parent's group and a state event
// adds one small row. Chains are cut with a full snapshot every MAX_CHAIN groups, and recently read
// groups are kept in memory, so a lookup reads a bounded number of rows.

import type { DagStore, StateGroupRow } from "../room-dag-storage.js";

/** stateKeyOf(type, state_key) -> event ID (the shape state resolution takes and gives). */
export type StateIds = ReadonlyMap<string, string>;

const MAX_CHAIN = 32;
const CACHE_SIZE = 64;

export class DagStateGroups {
  private readonly cache = new Map<number, StateIds>();

  constructor(private readonly store: Pick<DagStore, "stateGroup" | "insertStateGroup">) {}

  /** The full state of a group. */
  get(group: number): StateIds {
    const hit = this.cache.get(group);
    if (hit) {
      // Most recently used last, so the oldest entry is the first evicted.
      this.cache.delete(group);
      this.cache.set(group, hit);
      return hit;
    }
    const chain: StateGroupRow[] = [];
    let base: StateIds | undefined;
    for (let id: number | null = group; id !== null; ) {
      const cached = this.cache.get(id);
      if (cached) {
        base = cached;
        break;
      }
      const row = this.store.stateGroup(id);
      if (!row) throw new Error(`state group ${id} is missing`);
      chain.push(row);
      id = row.prev;
    }
    const out = new Map(base ?? []);
    for (const row of chain.reverse()) for (const [k, v] of row.delta) v === null ? out.delete(k) : out.set(k, v);
    this.remember(group, out);
    return out;
  }

  /** Stores `state` as a group, as a delta on `base` when given (and the chain is not too long). */
  save(state: StateIds, base?: number): number {
    let row: StateGroupRow;
    const baseRow = base === undefined ? undefined : this.store.stateGroup(base);
    if (base !== undefined && baseRow && baseRow.chain < MAX_CHAIN) {
      row = { prev: base, chain: baseRow.chain + 1, delta: diff(this.get(base), state) };
    } else {
      row = { prev: null, chain: 0, delta: [...state] };
    }
    const id = this.store.insertStateGroup(row);
    this.remember(id, new Map(state));
    return id;
  }

  /** `base` plus one state event: the same group when the event changes nothing. */
  withEvent(base: number, key: string, eventId: string): number {
    if (this.get(base).get(key) === eventId) return base;
    const next = new Map(this.get(base));
    next.set(key, eventId);
    return this.save(next, base);
  }

  private remember(id: number, state: StateIds): void {
    this.cache.set(id, state);
    if (this.cache.size > CACHE_SIZE) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
  }
}

/** The changes that turn `from` into `to` (null removes a key). */
export function diff(from: StateIds, to: StateIds): Array<[string, string | null]> {
  const out: Array<[string, string | null]> = [];
  for (const [k, v] of to) if (from.get(k) !== v) out.push([k, v]);
  for (const k of from.keys()) if (!to.has(k)) out.push([k, null]);
  return out;
}
