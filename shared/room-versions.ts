// The room-version registry: each supported version's redaction, event format, auth-events
// selection and auth rules behind the RoomVersion seam. Signatures and hashes take a RoomVersion
// object (not an ID) so those modules never import this one and no import cycle can form.

import { authEventKeysLm, checkAuthLm } from "./auth-rules-lm.js";
import { authEventKeysMatrix, checkAuthMatrix } from "./auth-rules-matrix.js";
import { checkFormatLm, checkFormatV11, checkFormatV12 } from "./event-format.js";
import { redactLm, redactV11, redactV12 } from "./redaction.js";
import type { RoomVersion } from "./room-version.js";

export const LM_ROOM_VERSION_ID = "org.matrix.i-d.ralston-mimi-linearized-matrix.02";

export const LM_ROOM_VERSION: RoomVersion = {
  id: LM_ROOM_VERSION_ID,
  stable: false,
  linearized: true,
  roomIdFromCreateEvent: false,
  authRules: "lm",
  creatorsPrivileged: false,
  redaction: "lm",
  stateResolution: "linear",
  redact: redactLm,
  checkFormat: checkFormatLm,
  authEventKeys: authEventKeysLm,
  checkAuth: checkAuthLm,
};

export const ROOM_VERSION_11: RoomVersion = {
  id: "11",
  stable: true,
  linearized: false,
  roomIdFromCreateEvent: false,
  authRules: "11",
  creatorsPrivileged: false,
  redaction: "v11",
  stateResolution: "v2",
  redact: redactV11,
  checkFormat: checkFormatV11,
  authEventKeys: (event) => authEventKeysMatrix(event, "11"),
  checkAuth: (input) => checkAuthMatrix(input, "11"),
};

export const ROOM_VERSION_12: RoomVersion = {
  id: "12",
  stable: true,
  linearized: false,
  roomIdFromCreateEvent: true,
  authRules: "12",
  creatorsPrivileged: true,
  redaction: "v11",
  stateResolution: "v2.1",
  redact: redactV12,
  checkFormat: checkFormatV12,
  authEventKeys: (event) => authEventKeysMatrix(event, "12"),
  checkAuth: (input) => checkAuthMatrix(input, "12"),
};

/** In order of preference; the first is the default. */
export const SUPPORTED_ROOM_VERSIONS: readonly RoomVersion[] = Object.freeze([LM_ROOM_VERSION, ROOM_VERSION_11, ROOM_VERSION_12]);
export const SUPPORTED_ROOM_VERSION_IDS: readonly string[] = Object.freeze(SUPPORTED_ROOM_VERSIONS.map((v) => v.id));

/** The versions createRoom accepts, and so the ones /capabilities advertises. */
export const CREATABLE_ROOM_VERSIONS: readonly RoomVersion[] = SUPPORTED_ROOM_VERSIONS;
export const CREATABLE_ROOM_VERSION_IDS: readonly string[] = SUPPORTED_ROOM_VERSION_IDS;

/** The versions a room hosted elsewhere can be joined in: LM through its hub, 11 and 12 as full-mesh rooms. */
export const REMOTE_JOIN_ROOM_VERSION_IDS: readonly string[] = SUPPORTED_ROOM_VERSION_IDS;

/** Rooms are created in the Linearized Matrix version unless a client asks for another or DEFAULT_ROOM_VERSION says otherwise. */
export const DEFAULT_ROOM_VERSION: RoomVersion = LM_ROOM_VERSION;
export const DEFAULT_ROOM_VERSION_ID: string = LM_ROOM_VERSION_ID;

// A Map, so IDs such as "constructor" or "__proto__" from the wire find nothing.
const BY_ID: ReadonlyMap<string, RoomVersion> = new Map(SUPPORTED_ROOM_VERSIONS.map((v) => [v.id, v]));

/** The room version with this ID, or undefined when unsupported (or not a string at all). */
export function getRoomVersion(id: unknown): RoomVersion | undefined {
  return typeof id === "string" ? BY_ID.get(id) : undefined;
}
