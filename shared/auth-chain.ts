// The check a joining server runs on the state and auth chain a resident server (for LM, the hub)
// hands it: every event must pass its room version's auth rules against the events its own
// auth_events name, and those must be in the same answer. Without it a hub could seed a joining
// server's replica with state its own rules would never have admitted.

import { MapState, type Pdu } from "./event.js";
import type { RoomVersion } from "./room-version.js";

export interface AuthChainFailure {
  eventId: string;
  rule: string;
  reason: string;
}

// Draft -04's auth-events selection names m.room.join_rules for joins and invites but not for knocks,
// although its knock rule reads the join rule. A knock's join-rule condition therefore cannot be
// judged from its auth events; it is taken as met, and every other rule is still checked.
const KNOCK_RULE = { type: "m.room.join_rules", state_key: "", sender: "", content: { join_rule: "knock" } } as unknown as Pdu;

function isLmKnockWithoutJoinRules(event: Pdu, state: MapState): boolean {
  const membership = (event.content as { membership?: unknown } | undefined)?.membership;
  return event.type === "m.room.member" && membership === "knock" && state.get("m.room.join_rules", "") === undefined;
}

/** The first event of `events` (ID → event) that fails, or undefined when all of them pass. */
export function checkAuthChain(version: RoomVersion, events: ReadonlyMap<string, Pdu>): AuthChainFailure | undefined {
  let create: Pdu | undefined;
  for (const e of events.values()) if (e.type === "m.room.create" && e.state_key === "") create = e;
  if (!create) return { eventId: "", rule: "create", reason: "no m.room.create event in the state and auth chain" };
  for (const [eventId, event] of events) {
    const authEvents: Pdu[] = [];
    for (const id of Array.isArray(event.auth_events) ? event.auth_events : []) {
      const a = events.get(id);
      if (!a) return { eventId, rule: "auth_events", reason: `auth event ${String(id).slice(0, 100)} is not in the state or auth chain` };
      authEvents.push(a);
    }
    const isCreate = event === create;
    const state = isCreate ? new MapState() : MapState.of(authEvents);
    if (version.linearized && isLmKnockWithoutJoinRules(event, state)) state.set(KNOCK_RULE);
    const prev = Array.isArray(event.prev_events) ? event.prev_events[0] : undefined;
    const prevEvent = typeof prev === "string" ? events.get(prev) : undefined;
    const result = version.checkAuth({
      event,
      state,
      authEvents,
      ...(isCreate ? {} : { createEvent: create }),
      ...(prevEvent ? { prevEvent } : {}),
    });
    if (!result.allowed) return { eventId, rule: result.rule, reason: result.reason };
  }
  return undefined;
}
