// Matrix state resolution: v2 (room versions up to 11, spec "State resolution" in the v2-state-res
// fragment) and v2.1 (room version 12, MSC4297), as one pure, synchronous function. The DAG room
// engine calls it with the states after an event's prev_events to get the state before the event.
// The steps live under state-res/, one file per concept of the spec text.

import type { Pdu } from "./event.js";
import type { RoomVersion } from "./room-version.js";
import { authDifference, conflictedSubgraph, splitStateSets } from "./state-res/conflicts.js";
import { EventGraph } from "./state-res/event-graph.js";
import { iterativeAuthChecks } from "./state-res/iterative-auth.js";
import { mainlineOrder } from "./state-res/mainline.js";
import { isPowerEvent, reverseTopologicalPowerOrder } from "./state-res/power-order.js";
import { stateKeyOf } from "./event.js";

/** Keyed with stateKeyOf(type, state_key) from shared/event.ts; values are event IDs. */
export type StateSet = ReadonlyMap<string, string>;

export interface ResolveInput {
  /** version.stateResolution is "v2" or "v2.1". */
  version: RoomVersion;
  stateSets: readonly StateSet[];
  /**
   * Synchronous lookup of any event by ID (state events and their auth chains); undefined if unknown.
   * Events rejected against their own auth events should not be offered (the spec keeps them out).
   */
  getEvent(eventId: string): Pdu | undefined;
}

const PL_KEY = stateKeyOf("m.room.power_levels", "");
const CREATE_KEY = stateKeyOf("m.room.create", "");

/**
 * Whether an event can be replayed: known, and of the room whose create event the sets agree on
 * (v12's create carries no room_id; its ID names the room). Another room's event would otherwise be
 * checked against its own room's create event, and pass.
 */
function replayable(graph: EventGraph, version: RoomVersion, createId: string | undefined): (id: string) => boolean {
  const create = createId === undefined ? undefined : graph.get(createId);
  if (createId === undefined || !create) return (id) => graph.get(id) !== undefined;
  const roomId = version.roomIdFromCreateEvent ? `!${createId.slice(1)}` : create.room_id;
  return (id) => id === createId || graph.get(id)?.room_id === roomId;
}

/**
 * The resolution of `stateSets`. When the sets agree on every key this is their common state and
 * no event is looked up. Events that cannot be found are left out of the replay, never thrown on;
 * another room's events are left out too. The result does not depend on the order of the sets.
 */
export function resolveState(input: ResolveInput): Map<string, string> {
  const { version, stateSets } = input;
  if (version.stateResolution !== "v2" && version.stateResolution !== "v2.1") {
    throw new TypeError(`room version ${version.id} does not resolve state by Matrix state resolution`);
  }
  const split = splitStateSets(stateSets);
  if (split.conflicted.size === 0) return split.unconflicted;

  const graph = new EventGraph((id) => input.getEvent(id));
  const conflictedIds = new Set<string>();
  for (const ids of split.conflicted.values()) for (const id of ids) conflictedIds.add(id);

  // The full conflicted set: conflicted events, the auth difference and (v2.1) the conflicted state subgraph.
  const full = new Set<string>(conflictedIds);
  for (const id of authDifference(graph, stateSets, split)) full.add(id);
  if (version.stateResolution === "v2.1") for (const id of conflictedSubgraph(graph, conflictedIds)) full.add(id);
  const keep = replayable(graph, version, split.unconflicted.get(CREATE_KEY));
  for (const id of full) if (!keep(id)) full.delete(id);

  // Step 1: power events and the events of the full conflicted set their auth events lead to through it.
  const powerSet = new Set<string>();
  const stack: string[] = [];
  for (const id of full) if (isPowerEvent(graph.get(id) as Pdu)) (powerSet.add(id), stack.push(id));
  while (stack.length > 0) {
    for (const a of graph.authIds(stack.pop() as string)) {
      if (full.has(a) && !powerSet.has(a)) (powerSet.add(a), stack.push(a));
    }
  }
  const powerOrder = reverseTopologicalPowerOrder(graph, version, powerSet);

  // Step 2: v2 replays them onto the unconflicted state, v2.1 onto the empty state.
  const state = new Map<string, string>(version.stateResolution === "v2" ? split.unconflicted : []);
  iterativeAuthChecks(graph, version, powerOrder, state);

  // Steps 3 and 4: the rest, by the mainline of the power levels resolved so far.
  const rest: string[] = [];
  for (const id of full) if (!powerSet.has(id)) rest.push(id);
  iterativeAuthChecks(graph, version, mainlineOrder(graph, rest, state.get(PL_KEY)), state);

  // Step 5: the unconflicted state map has the last word.
  for (const [k, id] of split.unconflicted) state.set(k, id);
  return state;
}
