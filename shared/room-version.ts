// The seam between the generic event pipeline and a room version's algorithms (the draft's "Room
// Versions" list: event format, redaction, hashing, auth-events selection, auth rules). Each version
// is one object implementing this; see room-versions.ts for the registry.

import type { Pdu, StateMap } from "./event.js";

export type AuthResult = { allowed: true } | { allowed: false; rule: string; reason: string };

export interface AuthInput {
  event: Pdu;
  /**
   * The state the rules read: for the LM version the room's current state before the event; for
   * Matrix versions the state formed by the event's auth_events (and current state for soft-fail checks).
   */
  state: StateMap;
  /** The events named in `event.auth_events`, as far as the caller could resolve them. */
  authEvents: readonly Pdu[];
  /** The room's m.room.create event; needed by v12, whose auth_events leave it out. Undefined when checking the create event itself. */
  createEvent?: Pdu;
  /** LM only: the event named in `prev_events[0]` (rule 5.2.1 looks at it). */
  prevEvent?: Pdu;
}

export interface RoomVersion {
  readonly id: string;
  /** True for the Linearized Matrix version: hub_server, LPDUs, one prev_event. */
  readonly linearized: boolean;
  /** Room v12: the room ID is derived from the create event, which carries no room_id. */
  readonly roomIdFromCreateEvent: boolean;
  /** Strips an event to what survives redaction under this version. Never mutates its input. */
  redact<T extends object>(event: T): Partial<T>;
  /** Schema and size checks that do not depend on content type; throws MatrixError (M_BAD_JSON / M_TOO_LARGE). */
  checkFormat(event: unknown): asserts event is Pdu;
  /** The (type, state_key) pairs whose current state events go into `auth_events`. */
  authEventKeys(event: Pick<Pdu, "type" | "sender" | "state_key" | "content">): Array<[type: string, stateKey: string]>;
  /** The authorization rules of this version. Pure: signatures are checked separately. */
  checkAuth(input: AuthInput): AuthResult;
}
