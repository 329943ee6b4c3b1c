// The iterative auth checks (spec "Iterative auth checks"): each event in order is checked with the
// room version's auth rules against the state built so far, and applied to it when allowed. A key
// the rules need that the state lacks comes from the event's own auth events.

import type { Pdu } from "../event.js";
import { MapState, stateKeyOf } from "../event.js";
import type { RoomVersion } from "../room-version.js";
import { keyOfEvent, type EventGraph } from "./event-graph.js";
import { createEventFor } from "./power-order.js";

/** Applies the events of `order` that pass to `state` (key → event ID), in place. */
export function iterativeAuthChecks(graph: EventGraph, version: RoomVersion, order: readonly string[], state: Map<string, string>): void {
  for (const id of order) {
    const event = graph.get(id);
    const key = event && keyOfEvent(event);
    if (!event || key === undefined) continue;

    const authEvents: Pdu[] = [];
    const view = new MapState();
    for (const a of graph.authIds(id)) {
      const e = graph.get(a);
      if (!e) continue;
      authEvents.push(e);
      view.set(e);
    }
    for (const [type, stateKey] of version.authEventKeys(event)) {
      const k = stateKeyOf(type, stateKey);
      const current = state.get(k);
      const e = current === undefined ? undefined : graph.get(current);
      if (e) view.map.set(k, e);
    }

    const isCreate = event.type === "m.room.create" && event.state_key === "";
    // v12's create event is in no auth_events; the rules take it on the side (AuthInput.createEvent).
    const createEvent = isCreate ? undefined : createEventFor(graph, version, id, event);
    const verdict = version.checkAuth({
      event,
      state: isCreate ? new MapState() : view,
      authEvents,
      ...(createEvent && version.roomIdFromCreateEvent ? { createEvent } : {}),
    });
    if (verdict.allowed) state.set(key, id);
  }
}
