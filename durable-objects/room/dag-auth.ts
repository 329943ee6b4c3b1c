// Auth in a full-mesh room: which state events a new event cites as auth_events, and the auth rules
// run against a given state (the event's own auth events, the state before it, or current state).

import { stateKeyOf, type Pdu, type StateMap } from "../../shared/event.js";
import type { RoomVersion } from "../../shared/room-version.js";
import type { StateIds } from "./dag-state.js";

/** auth_events for `event` chosen from `state` (spec "Auth events selection"; v12 leaves out the create event). */
export function authEventIdsFor(version: Pick<RoomVersion, "authEventKeys">, state: StateIds, event: Pick<Pdu, "type" | "sender" | "state_key" | "content">): string[] {
  if (event.type === "m.room.create") return [];
  const out: string[] = [];
  for (const [type, key] of version.authEventKeys(event)) {
    const id = state.get(stateKeyOf(type, key));
    if (id !== undefined && !out.includes(id)) out.push(id);
  }
  return out;
}

/** A StateMap over state IDs, reading events through `getEvent`. */
export function stateMapOf(state: StateIds, getEvent: (id: string) => Pdu | undefined): StateMap {
  return { get: (type, key) => {
    const id = state.get(stateKeyOf(type, key));
    return id === undefined ? undefined : getEvent(id);
  } };
}

export type AuthOutcome = { ok: true } | { ok: false; rule: string; reason: string };

/**
 * The version's auth rules for `event` against `state`, with `authEventIds` as its auth events
 * (the event's own, or those `state` would give it for the soft-fail check).
 */
export function authAgainst(
  version: RoomVersion,
  event: Pdu,
  state: StateIds,
  authEventIds: readonly string[],
  getEvent: (id: string) => Pdu | undefined,
  roomCreate?: Pdu,
): AuthOutcome {
  const authEvents = authEventIds.map(getEvent).filter((e): e is Pdu => e !== undefined);
  const createId = state.get(stateKeyOf("m.room.create", ""));
  // v12 auth events leave the create event out: the room's own is the one its ID derives from.
  const createEvent = (createId === undefined ? undefined : getEvent(createId)) ?? authEvents.find((e) => e.type === "m.room.create") ?? roomCreate;
  const prev = event.prev_events.length === 1 ? getEvent(event.prev_events[0] as string) : undefined;
  const result = version.checkAuth({
    event,
    state: stateMapOf(state, getEvent),
    authEvents,
    ...(createEvent && event.type !== "m.room.create" ? { createEvent } : {}),
    ...(prev ? { prevEvent: prev } : {}),
  });
  return result.allowed ? { ok: true } : { ok: false, rule: result.rule, reason: result.reason };
}
