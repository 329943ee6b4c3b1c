// The pairing of two rooms, recorded in each of them as an `io.switchboard.pair` state event whose
// state key is the peer room. Its content names the peer's room version and the servers whose
// converters may write into the room: events carrying provenance are accepted only from those.
// Empty content (as after an unpairing) means "not paired", as an emptied state event does in Matrix.

import type { JsonObject } from "../canonical-json.js";
import { isRoomId, isServerName } from "../ids.js";
import { getRoomVersion } from "../room-versions.js";

export const PAIR_EVENT = "io.switchboard.pair";

/** More converters than this on one pairing buys nothing and lets the list grow without bound. */
export const MAX_CONVERTERS = 8;

export interface Pairing {
  peerRoomId: string;
  peerRoomVersion: string;
  /** Server names whose converters write into this room. */
  converters: string[];
}

export type PairingParse = { paired: true; pairing: Pairing } | { paired: false } | { error: string };

/** The content of a pair event naming `pairing`'s peer version and converters. */
export function pairContent(pairing: Omit<Pairing, "peerRoomId">): JsonObject {
  return { peer_room_version: pairing.peerRoomVersion, converters: [...pairing.converters] };
}

/** Reads (and validates) a pair event; an error says what is wrong with it. */
export function parsePairing(stateKey: string, content: Record<string, unknown>): PairingParse {
  if (!isRoomId(stateKey)) return { error: `the state key of ${PAIR_EVENT} must be the peer room's ID` };
  if (Object.keys(content).length === 0) return { paired: false };
  const version = content.peer_room_version;
  if (typeof version !== "string" || !getRoomVersion(version)) return { error: "peer_room_version must name a supported room version" };
  const converters = content.converters;
  if (!Array.isArray(converters) || converters.length === 0 || converters.length > MAX_CONVERTERS) {
    return { error: `converters must list 1 to ${MAX_CONVERTERS} server names` };
  }
  if (!converters.every(isServerName)) return { error: "converters must be server names" };
  if (new Set(converters).size !== converters.length) return { error: "converters must not repeat" };
  return { paired: true, pairing: { peerRoomId: stateKey, peerRoomVersion: version, converters: [...converters] } };
}

/** Whether `server` may write provenance-carrying events into a room with these pairings. */
export function isNamedConverter(pairings: readonly Pairing[], server: string): boolean {
  return pairings.some((p) => p.converters.includes(server));
}
