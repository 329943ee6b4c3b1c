// Welcomes for users of a room's MIMI followers, relayed by an LM participant server to the room's hub.
// A MIMI provider speaks no Matrix to-device, so when a client of an LM participant sends the Welcome
// of its commit to such a user, its server hands the Welcome to the hub, which sends it to the
// provider by notify like any other Welcome (docs/mimi.md "Welcomes"). The body is JSON, signed with
// X-Matrix like every federation request.

import { decodeBase64 } from "./base64.js";
import { fanoutKindOf } from "./mimi/notify.js";
import { decodeMlsMessageField } from "./mimi/mls-fields.js";
import type { Pdu } from "./event.js";
import { isDeviceId, isEventId, isRoomId, isUserId, serverNameOf, type EventId, type UserId } from "./ids.js";
import { mimiProviderOf, takesPartOverLm, type MemberList } from "./mimi-vouched.js";

/** POST, signed: the hub takes the Welcome of an accepted commit for its followers' users. */
export const MIMI_FEDERATION_PREFIX = "/_matrix/federation/unstable/org.switchboard.mimi";
export const welcomeRelayPath = (roomId: string): string => `${MIMI_FEDERATION_PREFIX}/rooms/${encodeURIComponent(roomId)}/welcome`;

/** At most this many targets per relay (a commit adds at most a few hundred devices in practice). */
export const MAX_RELAY_TARGETS = 1_000;

export interface WelcomeTarget {
  userId: UserId;
  /** A device ID, or "*" for every device of the user the commit added. */
  deviceId: string;
}

export interface WelcomeRelay {
  commitEventId: EventId;
  /** The user whose client sent the Welcome (a user of the relaying server). */
  sender: UserId;
  /** The Welcome as an MLSMessage, exactly as the client sent it. */
  welcome: Uint8Array;
  targets: WelcomeTarget[];
}

/** The wire form of a relay. */
export function welcomeRelayJson(roomId: string, r: { commitEventId: string; sender: string; welcome: string; targets: ReadonlyArray<{ userId: string; deviceId: string }> }): Record<string, unknown> {
  return { room_id: roomId, commit_event_id: r.commitEventId, sender: r.sender, welcome: r.welcome, targets: r.targets.map((t) => ({ user_id: t.userId, device_id: t.deviceId })) };
}

/** The Welcome bytes of a base64 MLSMessage, or undefined unless it decodes as an MLS Welcome. */
export function welcomeBytes(base64: unknown): Uint8Array | undefined {
  if (typeof base64 !== "string") return undefined;
  let bytes: Uint8Array;
  try {
    bytes = decodeBase64(base64);
  } catch {
    return undefined;
  }
  const decoded = decodeMlsMessageField(bytes);
  return decoded.ok && fanoutKindOf(decoded.value) === "welcome" ? bytes : undefined;
}

/** A relay body for room `roomId` (from the path), or why it is malformed. */
export function parseWelcomeRelay(body: Record<string, unknown>, roomId: string): { ok: true; relay: WelcomeRelay } | { ok: false; reason: string } {
  if (!isRoomId(roomId) || (body["room_id"] !== undefined && body["room_id"] !== roomId)) return { ok: false, reason: "room_id must be the room of the path" };
  const commit = body["commit_event_id"];
  if (!isEventId(commit)) return { ok: false, reason: "commit_event_id must be an event ID" };
  const sender = body["sender"];
  if (!isUserId(sender)) return { ok: false, reason: "sender must be a user ID" };
  const welcome = welcomeBytes(body["welcome"]);
  if (!welcome) return { ok: false, reason: "welcome must be a base64 MLSMessage holding a Welcome" };
  const raw = body["targets"];
  if (!Array.isArray(raw) || raw.length === 0 || raw.length > MAX_RELAY_TARGETS) return { ok: false, reason: `targets must be a list of 1 to ${MAX_RELAY_TARGETS} {user_id, device_id}` };
  const targets: WelcomeTarget[] = [];
  for (const t of raw as unknown[]) {
    if (typeof t !== "object" || t === null || Array.isArray(t)) return { ok: false, reason: "each target must be {user_id, device_id}" };
    const { user_id: userId, device_id: deviceId } = t as Record<string, unknown>;
    if (!isUserId(userId) || (deviceId !== "*" && !isDeviceId(deviceId))) return { ok: false, reason: "each target needs a user_id and a device_id (or \"*\")" };
    targets.push({ userId, deviceId: deviceId as string });
  }
  return { ok: true, relay: { commitEventId: commit, sender, welcome, targets } };
}

/**
 * Whether an LM server can tell `userId` is a joined user of one of the room's MIMI providers: the
 * user's join names the user's own server as the provider that vouched for it, and that server takes
 * no part in the room over LM (shared/mimi-vouched.ts).
 */
export function isJoinedMimiUser(userId: string, member: Pick<Pdu, "content"> | undefined, state: MemberList): boolean {
  if (!member || member.content["membership"] !== "join") return false;
  const server = serverNameOf(userId);
  return mimiProviderOf(member.content) === server && !takesPartOverLm(server, state);
}
