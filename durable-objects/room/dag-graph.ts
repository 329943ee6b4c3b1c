// A full-mesh room's graph as the engine reads it: each event's depth, status and state groups, the
// forward extremities, the state before an event (state resolution over its parents' states) and
// the room's current state (resolution over the extremities' states).

import { stateKeyOf, type Pdu } from "../../shared/event.js";
import type { DagEventRow, DagStatus, DagStore } from "../room-dag-storage.js";
import type { RoomCore } from "./core.js";
import type { Extremity } from "./dag-extremities.js";
import { DagStateGroups, type StateIds } from "./dag-state.js";

/** Resolves several state sets into one (shared/state-resolution.ts behind the room's version). */
export type StateResolver = (stateSets: readonly StateIds[], getEvent: (id: string) => Pdu | undefined) => Map<string, string>;

const EVENT_CACHE = 4_000;

export class DagGraph {
  readonly groups: DagStateGroups;
  private extremityIds: Set<string> | undefined;
  private readonly events = new Map<string, Pdu>();

  constructor(
    private readonly core: RoomCore,
    readonly store: DagStore,
    private readonly resolver: StateResolver,
  ) {
    this.groups = new DagStateGroups(store);
  }

  /** Any stored event of the room but rejected ones, cached (state resolution reads the same events many times). */
  readonly getEvent = (id: string): Pdu | undefined => {
    let e = this.events.get(id);
    if (e) return e;
    if (this.row(id)?.status === "rejected") return undefined;
    e = this.core.eventById(id);
    if (e) {
      if (this.events.size >= EVENT_CACHE) this.events.clear();
      this.events.set(id, e);
    }
    return e;
  };

  row(eventId: string): DagEventRow | undefined {
    return this.store.getDagEvent(eventId);
  }

  /** Known with a place in the graph (or at least with a known state after it): usable as a parent. */
  hasStateAfter(eventId: string): boolean {
    return this.row(eventId)?.after != null;
  }

  extremities(): Set<string> {
    return (this.extremityIds ??= new Set(this.store.extremities()));
  }

  extremitiesWithDepth(): Extremity[] {
    return [...this.extremities()].map((eventId) => ({ eventId, depth: this.row(eventId)?.depth ?? 0 }));
  }

  /** The state after an event, when known. */
  stateAfter(eventId: string): StateIds | undefined {
    const g = this.row(eventId)?.after;
    return g == null ? undefined : this.groups.get(g);
  }

  /** Resolution over `sets`; the fast path when they agree needs no resolver. */
  resolve(sets: readonly StateIds[]): StateIds {
    const first = sets[0];
    if (!first) return new Map();
    if (sets.every((s) => sameState(s, first))) return first;
    return this.resolver(sets, this.getEvent);
  }

  /**
   * The state before an event with these parents (those whose state is known), and a group holding
   * it: the parent's own group when there is one parent, a new group otherwise.
   */
  stateBefore(prevEvents: readonly string[]): { state: StateIds; group: number } {
    const groups = [...new Set(prevEvents.map((p) => this.row(p)?.after).filter((g): g is number => g != null))];
    if (groups.length === 1) {
      const g = groups[0] as number;
      return { state: this.groups.get(g), group: g };
    }
    const state = this.resolve(groups.map((g) => this.groups.get(g)));
    return { state, group: this.groups.save(state, groups[0]) };
  }

  /** The group after `pdu` given the group before it (state events add themselves; rejected ones do not). */
  groupAfter(before: number, eventId: string, pdu: Pdu, status: DagStatus): number {
    if (status === "rejected" || typeof pdu.state_key !== "string") return before;
    return this.groups.withEvent(before, stateKeyOf(pdu.type, pdu.state_key), eventId);
  }

  /** Current state when `extremities` are the forward extremities. */
  currentStateOf(extremities: ReadonlySet<string>): StateIds {
    return this.resolve([...extremities].map((id) => this.stateAfter(id)).filter((s): s is StateIds => s !== undefined));
  }

  /** Current state as held in memory by the core, as state IDs. */
  currentIds(): StateIds {
    const out = new Map<string, string>();
    for (const e of this.core.state.all()) if (typeof e.pdu.state_key === "string") out.set(stateKeyOf(e.pdu.type, e.pdu.state_key), e.eventId);
    return out;
  }

  /** After a commit's transaction: the new extremities as stored. */
  extremitiesChanged(next: Set<string>): void {
    this.extremityIds = next;
  }

  remember(eventId: string, pdu: Pdu): void {
    this.events.set(eventId, pdu);
  }
}

function sameState(a: StateIds, b: StateIds): boolean {
  if (a === b) return true;
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}
