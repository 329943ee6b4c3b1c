// The event (PDU) and Linearized PDU shapes as they travel between servers (draft -04 "Events",
// "Linearized PDU"; Matrix room versions 11 and 12). Fields are typed loosely enough to hold
// whatever a peer sent; room-version format checks decide what is acceptable.

import type { JsonObject } from "./canonical-json.js";
import type { Signatures } from "./signed-json.js";

export interface EventHashes {
  sha256?: string;
  /** Present on events completed by a hub from an LPDU. */
  lpdu?: { sha256: string };
}

export interface Pdu {
  /** Absent only on a room-v12 m.room.create, whose ID derives the room ID. */
  room_id?: string;
  type: string;
  state_key?: string;
  sender: string;
  origin_server_ts: number;
  content: JsonObject;
  hashes: EventHashes;
  signatures: Signatures;
  auth_events: string[];
  prev_events: string[];
  /** LM: the hub that completed this event from an LPDU. */
  hub_server?: string;
  /** Matrix room versions only. */
  depth?: number;
  origin?: string;
  /** Pre-v11 redaction target; v11+ puts it in content. Kept for peers that send both. */
  redacts?: string;
  unsigned?: JsonObject;
}

/** A participant's partial event: no auth_events, prev_events or top-level hash. */
export interface Lpdu {
  room_id: string;
  type: string;
  state_key?: string;
  sender: string;
  origin_server_ts: number;
  content: JsonObject;
  hub_server: string;
  hashes: { lpdu: { sha256: string } };
  signatures: Signatures;
  redacts?: string;
  unsigned?: JsonObject;
}

export const isStateEvent = (e: { state_key?: unknown }): boolean => typeof e.state_key === "string";

/** An LPDU is told from a PDU by the absence of auth_events (the reference implementation's rule). */
export const isLpdu = (e: object): boolean => !("auth_events" in e);

/** Lookup of state by (type, state_key); the form the auth rules read state through. */
export interface StateMap {
  get(type: string, stateKey: string): Pdu | undefined;
}

export function stateKeyOf(type: string, stateKey: string): string {
  return `${type}\u0000${stateKey}`;
}

/** A StateMap over a plain Map keyed with stateKeyOf. */
export class MapState implements StateMap {
  constructor(readonly map: Map<string, Pdu> = new Map()) {}
  get(type: string, stateKey: string): Pdu | undefined {
    return this.map.get(stateKeyOf(type, stateKey));
  }
  set(e: Pdu): void {
    if (typeof e.state_key === "string") this.map.set(stateKeyOf(e.type, e.state_key), e);
  }
  static of(events: Iterable<Pdu>): MapState {
    const s = new MapState();
    for (const e of events) s.set(e);
    return s;
  }
}
