// The seam between the generic event pipeline and a room version's algorithms (the draft's "Room
// Versions" list: event format, redaction, hashing, auth-events selection, auth rules). Each version
// is one object implementing this; see room-versions.ts for the registry.

import type { Pdu, StateMap } from "./event.js";
import type { RulesVersion } from "./power-levels.js";

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

/** Which redaction algorithm `redact` implements: the LM draft's lists, or Matrix v11's (kept by v12). */
export type RedactionAlgorithm = "lm" | "v11";

/**
 * How a room settles on its current state: `linear` when one hub orders every event (LM), Matrix
 * state resolution v2 (v11) or v2.1 (v12) when servers extend a DAG concurrently.
 */
export type StateResolution = "linear" | "v2" | "v2.1";

/**
 * A room version: rule flags that code outside the algorithms branches on, and the algorithms.
 * Code asks these flags what a room does instead of comparing version IDs.
 */
export interface RoomVersion {
  readonly id: string;
  /** Advertised in /capabilities; the LM version is an Internet-Draft's, hence unstable in Matrix's sense. */
  readonly stable: boolean;
  /** True for the Linearized Matrix version: hub_server, LPDUs, one prev_event. */
  readonly linearized: boolean;
  /** Room v12: the room ID is derived from the create event, which carries no room_id. */
  readonly roomIdFromCreateEvent: boolean;
  /** The authorization rule set (and so its rule numbering) that `checkAuth`, power levels and redaction checks follow. */
  readonly authRules: RulesVersion;
  /** Room v12: the create event's sender and `additional_creators` outrank every power level and are never listed in `users`. */
  readonly creatorsPrivileged: boolean;
  readonly redaction: RedactionAlgorithm;
  readonly stateResolution: StateResolution;
  /** Strips an event to what survives redaction under this version. Never mutates its input. */
  redact<T extends object>(event: T): Partial<T>;
  /** Schema and size checks that do not depend on content type; throws MatrixError (M_BAD_JSON / M_TOO_LARGE). */
  checkFormat(event: unknown): asserts event is Pdu;
  /** The (type, state_key) pairs whose current state events go into `auth_events`. */
  authEventKeys(event: Pick<Pdu, "type" | "sender" | "state_key" | "content">): Array<[type: string, stateKey: string]>;
  /** The authorization rules of this version. Pure: signatures are checked separately. */
  checkAuth(input: AuthInput): AuthResult;
}
