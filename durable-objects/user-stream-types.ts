// The shapes the UserStream object answers over RPC (user-stream.ts), apart so that file stays short.

import type { SentRoom } from "./sliding-sync-storage.js";

export type StreamMembership = "join" | "invite" | "leave" | "ban" | "knock";

export interface RoomChange {
  roomId: string;
  membership: StreamMembership;
  /** Room position the client had seen at the `since` token; null when new to the client. */
  fromPos: number | null;
  /** Room position as of the returned token. */
  toPos: number;
  /** Stripped state for invites, as JSON. */
  inviteStateJson?: string;
}

/** The one-time key counts and unused fallback key algorithms /sync shows a device. */
export interface DeviceKeyCounts {
  oneTime: Record<string, number>;
  unusedFallback: string[];
}

export interface StreamChanges {
  next: number;
  rooms: RoomChange[];
  /** To-device messages for the syncing device, oldest first (empty without a device). */
  toDevice: ToDeviceMessage[];
  /** Users whose devices changed (or who no longer share a room) after `since` (a client shows none on an initial sync). */
  deviceLists: { changed: string[]; left: string[] };
  /** Account data entries set after `since` ('' = global); empty on an initial sync, which reads them all. */
  accountData: Array<{ roomId: string; type: string }>;
  /** Rooms whose typing or receipts changed after `since` (empty on an initial sync). */
  ephemeral: string[];
  /** Users whose presence changed after `since` (kept in memory: presence is ephemeral). */
  presence: string[];
  /** The syncing device's key counts, when this stream holds them (else /sync reads D1 and hands them back). */
  keyCounts?: DeviceKeyCounts;
  /** Pass back to rememberKeyCounts with counts read after this answer. */
  keyEpoch: number;
}

/** What a sliding sync request starts from: its connection, and the user's rooms and news since its pos. */
export interface SlidingSnapshot extends Omit<StreamChanges, "next" | "rooms" | "toDevice" | "presence"> {
  pos: number;
  since: number;
  /** The token this answer stands for. */
  counter: number;
  rooms: Array<{ roomId: string; membership: StreamMembership; roomPos: number; activity: number; inviteStateJson?: string }>;
  /** Rooms that changed after `since`, with their positions then and now (none for a new connection, which has no news). */
  roomChanges: RoomChange[];
  sent: SentRoom[];
}

/** A to-device message as /sync shows it; content stays JSON text (RPC typing cannot carry `unknown`). */
export interface ToDeviceMessage {
  sender: string;
  type: string;
  contentJson: string;
}

/** A to-device message for one of this user's devices. */
export interface ToDeviceDelivery {
  deviceId: string;
  /** Unique per message and sender: a repeated delivery of the same ID is ignored while it is kept. */
  messageId: string;
  sender: string;
  type: string;
  /** The content as JSON text. */
  contentJson: string;
}
