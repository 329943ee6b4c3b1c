// What the room engine (core and protocols) needs from its host, as interfaces. The Durable Object
// facade fills them with SQLite, RPC stubs and the Worker's services; unit tests fill them with
// in-memory fakes, so nothing under the engine touches Cloudflare APIs directly.

import type { Pdu } from "../../shared/event.js";
import type { StrippedStateEvent } from "../../shared/room-state.js";
import type { SigningKey } from "../../shared/signing-key.js";
import type { MlsEffect } from "../room-mls.js";
import type { RoomStorage } from "../room-storage.js";

/** The room's tables as the engine uses them (room-storage.ts is the real one). */
export type RoomStore = Pick<
  RoomStorage,
  | "getMeta"
  | "setMeta"
  | "getEvent"
  | "getEvents"
  | "insertEvent"
  | "setCurrentState"
  | "deleteCurrentState"
  | "setEventPos"
  | "currentState"
  | "lastEvent"
  | "putRedaction"
  | "redactionsOf"
  | "getEventIdByLpduHash"
  | "getPendingClientTxn"
  | "putPendingClientTxn"
  | "deletePendingClientTxns"
  | "bufferPdu"
  | "takeBufferedPdus"
  | "putJoinState"
>;

/** The MLS checks (room-mls.ts): a hub refuses by throwing, a participant only observes. */
export interface MlsGate {
  vetAsHub(pdu: Pdu, roomId: string): Promise<MlsEffect | undefined>;
  observeAsParticipant(pdu: Pdu, roomId: string, eventId: string): Promise<MlsEffect | undefined>;
}

export type InviteAnswer = { ok: true; pdu: Record<string, unknown> } | { ok: false; status: number; error: string };
export type BackfillAnswer = { ok: true; pdus: Array<Record<string, unknown>> } | { ok: false; error: string };

/** Other servers, reached through the Worker (verification included) and the destination queues. */
export interface FederationPort {
  request(server: string, method: string, path: string, body: unknown): Promise<{ status: number; body: unknown }>;
  inviteAndVerify(target: string, eventId: string, pdu: Record<string, unknown>, roomVersion: string, stripped: StrippedStateEvent[]): Promise<InviteAnswer>;
  backfillVerified(hub: string, roomId: string, upTo: string, limit: number, roomVersion: string): Promise<BackfillAnswer>;
  /** A federation request whose answer holds PDUs (`events`, `pdus`, or one bare event), each verified for `roomVersion`. */
  fetchVerified(server: string, method: string, path: string, body: unknown, roomVersion: string): Promise<BackfillAnswer>;
  /** Hands items to the destination queue of `server`. */
  enqueue(server: string, items: Array<{ roomId: string; id: string; json: string; lpduHash?: string }>): Promise<void>;
}

export interface EnginePorts {
  readonly serverName: string;
  signingKey(): Promise<SigningKey>;
  /** Runs `fn` as one storage transaction (all or nothing). */
  transaction(fn: () => void): void;
  readonly mls: MlsGate;
  readonly federation: FederationPort;
}
