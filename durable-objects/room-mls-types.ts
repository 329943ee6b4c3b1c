// The types the Room's MLS part shares with the engine core and the Worker (room-mls.ts holds the logic).

import type { Pdu } from "../shared/event.js";
import type { LeafChange, Roster } from "../shared/mls-roster.js";
import type { RoomState } from "../shared/room-state.js";
import type { CommitGroupInfo } from "../shared/mls-commit-group-info.js";
import type { HubEffect } from "./room-mls-hub.js";

/**
 * The Worker's answer about devices (Outbound.mlsDevices): user -> device -> the base64 MLS signature
 * key of its valid published credential, or null when the device is unknown, invalid or publishes no
 * MLS credential. Users whose server could not be asked are listed in `unreachable`.
 */
export interface MlsDeviceKeys {
  keys: Record<string, Record<string, string | null>>;
  unreachable: string[];
}

export interface MlsHost {
  readonly state: RoomState;
  readonly serverName: string;
  /** MIMI hub: how long a member's held proposal stays required (MIMI_PROPOSAL_GRACE_MS). */
  readonly memberProposalGraceMs?: number;
  /** MIMI hub: whether the room has followers (then every commit must carry its GroupInfo). */
  hasMimiFollowers?(): boolean;
  eventById(eventId: string): Pdu | undefined;
  lookupDevices(query: Record<string, string[]>): Promise<MlsDeviceKeys>;
}

/** What an accepted event does to the MLS records; applied inside the Room's commit transaction. */
export interface MlsEffect {
  /** An m.mls.commit: the epoch it was for and, when the roster is followed, the roster after it. */
  commit?: { epoch: number; result?: { roster: Roster; added: LeafChange[]; removed: LeafChange[] } };
  /** A participant stops following the roster. */
  untrack?: true;
  /** The hub's external-sender records (room-mls-hub.ts). */
  hub?: HubEffect;
  /** Hub: the checked GroupInfo the commit carried (room-mls-group-info.ts), kept for MIMI groupInfo. */
  groupInfo?: CommitGroupInfo;
}
