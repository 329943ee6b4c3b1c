// Request helpers shared by the client-server endpoints in client-misc.ts, client-profile.ts and
// client-directory.ts: path parameters, room stubs, the "must be joined" check, and a user's power
// in a room as the auth rules would compute it.

import { toClientEvent, type ClientEvent } from "../shared/client-event.js";
import { forbidden, MatrixError } from "../shared/errors.js";
import type { Pdu } from "../shared/event.js";
import { isRoomId, isUserId } from "../shared/ids.js";
import type { PowerLevels } from "../shared/power-levels.js";
import { isPowerLevelsProblem, parsePowerLevels, roomCreators, userLevel } from "../shared/power-levels.js";
import { DEFAULT_ROOM_VERSION, getRoomVersion } from "../shared/room-versions.js";
import { checkRoomEventFilterParam } from "../shared/sync-filter.js";
import type { SbRequest } from "./app.js";
import { pathParam } from "./http.js";

export const CLIENT_PREFIXES = ["/_matrix/client/v3", "/_matrix/client/r0"] as const;

export type RoomStub = DurableObjectStub<import("../durable-objects/room.js").Room>;

export function roomStub(env: Env, roomId: string): RoomStub {
  return env.ROOM.get(env.ROOM.idFromName(roomId));
}

export function userStream(env: Env, userId: string) {
  return env.USER_STREAM.get(env.USER_STREAM.idFromName(userId));
}

/**
 * Tells the user's stream that their one-time or fallback keys changed, so /sync reads the counts
 * again. Best-effort: the keys are already stored or handed out, and the stream re-reads within a minute.
 */
export async function noteKeysChanged(env: Env, userId: string): Promise<void> {
  await userStream(env, userId).keysChanged().catch(() => undefined);
}

/** Refuses a malformed `filter` query parameter (/messages, /context); none or an empty one is no filter. */
export function checkFilterParam(query: URLSearchParams): void {
  const raw = query.get("filter");
  if (raw !== null && raw !== "") checkRoomEventFilterParam(raw);
}

/** A percent-decoded path parameter. */
export const param = (req: SbRequest, name: string): string => pathParam(req, name);

export function roomIdParam(req: SbRequest): string {
  const roomId = param(req, "roomId");
  if (!isRoomId(roomId)) throw new MatrixError(400, "M_INVALID_PARAM", "Invalid room ID");
  return roomId;
}

export function userIdParam(req: SbRequest): string {
  const userId = param(req, "userId");
  if (!isUserId(userId)) throw new MatrixError(400, "M_INVALID_PARAM", "Invalid user ID");
  return userId;
}

/** Endpoints that act on "your own" data name the user in the path; anyone else's is refused. */
export function requireSelf(authUser: string, pathUser: string, what: string): void {
  if (authUser !== pathUser) throw forbidden(`Cannot ${what} for other users`);
}

/** The room must exist here and the user must be joined to it. */
export async function requireJoined(env: Env, roomId: string, userId: string): Promise<RoomStub> {
  const stub = roomStub(env, roomId);
  if ((await stub.membership(userId)) !== "join") throw forbidden(`${userId} is not in room ${roomId}`);
  return stub;
}

export function clientEventOf(json: string, eventId: string, roomId: string, now: number): ClientEvent {
  return toClientEvent(JSON.parse(json) as Pdu, eventId, roomId, now);
}

export interface RoomPower {
  /** The user's level (Infinity for v12 creators). */
  level: number;
  /** Parsed current m.room.power_levels, undefined when the room has none (or it is malformed). */
  levels: PowerLevels | undefined;
}

/**
 * A user's power in a room, read from its current create and power-levels events, so the Worker can
 * refuse a request the way the spec describes before the room's auth rules see an event.
 */
export async function roomPower(stub: RoomStub, userId: string): Promise<RoomPower> {
  const [info, create, pl] = await Promise.all([stub.info(), stub.stateEvent("m.room.create", ""), stub.stateEvent("m.room.power_levels", "")]);
  const version = (getRoomVersion(info?.version) ?? DEFAULT_ROOM_VERSION).authRules;
  const createPdu = create ? (JSON.parse(create.json) as Pdu) : undefined;
  const parsed = pl ? parsePowerLevels((JSON.parse(pl.json) as Pdu).content, version) : undefined;
  const levels = parsed === undefined || isPowerLevelsProblem(parsed) ? undefined : parsed;
  const ctx = { levels, creators: roomCreators(createPdu, version), version };
  return { level: userLevel(ctx, userId), levels };
}
