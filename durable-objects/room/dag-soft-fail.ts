// The soft-fail check (server-server spec "Checks performed on receipt of a PDU", step 6): an event
// that passed at its place in the graph is judged once more against the room's current state. Its
// own auth_events say nothing here: the auth events are those the selection algorithm picks from
// current state (create, power levels, the sender's membership and, for a membership event, the
// target's membership, join rules and third-party invite), and the rules see only those, as Synapse
// runs them. A failing event is kept but never shown nor used as a parent.

import { stateKeyOf, type Pdu } from "../../shared/event.js";
import type { RoomVersion } from "../../shared/room-version.js";
import { authAgainst, authEventIdsFor, type AuthOutcome } from "./dag-auth.js";
import type { StateIds } from "./dag-state.js";

/** The auth events `pdu` would have if it were sent now: chosen from `current`, as state IDs. */
export function authStateFromCurrent(version: RoomVersion, current: StateIds, pdu: Pick<Pdu, "type" | "sender" | "state_key" | "content">): Map<string, string> {
  const selected = new Map<string, string>();
  const ids = new Set(authEventIdsFor(version, current, pdu));
  for (const [key, id] of current) if (ids.has(id)) selected.set(key, id);
  // v12 selection leaves the create event out; the rules still read it (the room's own).
  const create = current.get(stateKeyOf("m.room.create", ""));
  if (create !== undefined) selected.set(stateKeyOf("m.room.create", ""), create);
  return selected;
}

/** Whether `pdu` is allowed by the auth events current state gives it. */
export function softFailCheck(version: RoomVersion, pdu: Pdu, current: StateIds, getEvent: (id: string) => Pdu | undefined, roomCreate?: Pdu): AuthOutcome {
  const state = authStateFromCurrent(version, current, pdu);
  const authIds = authEventIdsFor(version, state, pdu);
  // The event as if it cited those auth events, so the rules' auth-event checks read them, not its own.
  const asIfNow: Pdu = { ...pdu, auth_events: authIds };
  return authAgainst(version, asIfNow, state, authIds, getEvent, roomCreate);
}
