// Federation endpoints that only full-mesh (DAG) rooms have, and the DAG forms of shared ones:
// get_missing_events, event_auth, the v2 send_join/send_leave/send_knock with a signed PDU, and the
// room version each PDU of a /send is checked under (the room's own, not the LM default).

import { badJson, forbidden, MatrixError, notFound } from "../shared/errors.js";
import type { Pdu } from "../shared/event.js";
import { FEDERATION_V1 } from "../shared/federation-paths.js";
import { isEventId, isRoomId } from "../shared/ids.js";
import type { RoomVersion } from "../shared/room-version.js";
import { getRoomVersion, LM_ROOM_VERSION } from "../shared/room-versions.js";
import type { RouteTable, SbRequest } from "./app.js";
import { checkInboundPdu } from "./event-checks.js";
import { pathParam } from "./http.js";
import { remoteKeyStore } from "./remote-keys.js";

function room(env: Env, roomId: string) {
  return env.ROOM.get(env.ROOM.idFromName(roomId));
}

type RoomStub = ReturnType<typeof room>;

const MAX_MISSING = 100;

/** The version each named room runs here (LM for rooms not known yet: their PDUs are only buffered). */
export async function roomVersionsOf(env: Env, roomIds: readonly string[]): Promise<Map<string, RoomVersion>> {
  const out = new Map<string, RoomVersion>();
  await Promise.all(
    roomIds.map(async (id) => {
      const info = await room(env, id).info();
      out.set(id, getRoomVersion(info?.version) ?? LM_ROOM_VERSION);
    }),
  );
  return out;
}

/** A known full-mesh room that `origin` may read (a server with a joined member now; 403 otherwise). */
async function dagRoom(env: Env, roomId: string, origin: string): Promise<{ stub: RoomStub; version: RoomVersion }> {
  if (!isRoomId(roomId)) throw new MatrixError(400, "M_INVALID_PARAM", "Invalid room ID");
  const stub = room(env, roomId);
  const version = getRoomVersion((await stub.info())?.version);
  if (!version) throw notFound("Unknown room");
  if (version.linearized) throw new MatrixError(400, "M_UNRECOGNIZED", "Not a full-mesh room");
  if (!(await stub.serverHasMembers(origin))) throw forbidden(`${origin} has no member in this room`);
  return { stub, version };
}

function idList(v: unknown, name: string): string[] {
  if (!Array.isArray(v) || v.length > MAX_MISSING || !v.every(isEventId)) throw badJson(`${name} must be a list of at most ${MAX_MISSING} event IDs`);
  return v;
}

/** POST /v1/get_missing_events/{roomId}: the events between what the caller has and what it wants. */
export function onGetMissingEvents(authed: (req: SbRequest, env: Env, maxBytes?: number) => Promise<{ origin: string; body: Record<string, unknown> }>) {
  return async (req: SbRequest, env: Env): Promise<Response> => {
    const { origin, body } = await authed(req, env, 64 * 1024);
    const { stub } = await dagRoom(env, pathParam(req, "roomId"), origin);
    const earliest = idList(body["earliest_events"] ?? [], "earliest_events");
    const latest = idList(body["latest_events"], "latest_events");
    const limit = body["limit"] ?? 10;
    const minDepth = body["min_depth"] ?? 0;
    if (!Number.isSafeInteger(limit) || (limit as number) < 0) throw badJson("limit must be a non-negative integer");
    if (!Number.isSafeInteger(minDepth)) throw badJson("min_depth must be an integer");
    const events = await stub.missingEvents(earliest, latest, Math.min(limit as number, MAX_MISSING), minDepth as number);
    return new Response(`{"events":[${events.map((e) => e.json).join(",")}]}`, { headers: { "content-type": "application/json" } });
  };
}

/** GET /v1/event_auth/{roomId}/{eventId}: the event's full auth chain. */
export function onEventAuth(authed: (req: SbRequest, env: Env) => Promise<{ origin: string }>) {
  return async (req: SbRequest, env: Env): Promise<Response> => {
    const { origin } = await authed(req, env);
    const { stub } = await dagRoom(env, pathParam(req, "roomId"), origin);
    const eventId = pathParam(req, "eventId");
    if (!isEventId(eventId)) throw new MatrixError(400, "M_INVALID_PARAM", "Invalid event ID");
    const chain = await stub.eventAuth(eventId);
    if (!chain) throw notFound("Event not found");
    return new Response(`{"auth_chain":[${chain.map((e) => e.json).join(",")}]}`, { headers: { "content-type": "application/json" } });
  };
}

/**
 * PUT /v2/send_{join,leave,knock}/{roomId}/{eventId} for a full-mesh room: the body is the joining
 * server's signed PDU, checked here like any received PDU, then judged by the room. Undefined when
 * the room is not a full-mesh room here (the LM handler answers).
 */
export async function dagSendMembership(req: SbRequest, env: Env, origin: string, body: Record<string, unknown>, membership: "join" | "leave" | "knock"): Promise<Response | undefined> {
  if ((req.params as Record<string, string | undefined>)["roomId"] === undefined) return undefined;
  const roomId = pathParam(req, "roomId");
  if (!isRoomId(roomId)) return undefined;
  const stub = room(env, roomId);
  const version = getRoomVersion((await stub.info())?.version);
  if (!version || version.linearized) return undefined;
  // A join this server is to authorise has no signature of ours yet: the room judges it and adds one.
  const pdu: Pdu = await checkInboundPdu(body, version, remoteKeyStore(env, req.config), undefined, membership === "join" ? req.config.serverName : undefined);
  if (pdu.room_id !== roomId) throw badJson("room_id does not match the path");
  const answer = await stub.sendMembershipPdu(origin, pdu, membership);
  // omit_members (MSC3706) is accepted; the full state is always sent, which is what it allows.
  return new Response(answer.body, { headers: { "content-type": "application/json" } });
}

/** GET /v1/event/{eventId} for a full-mesh room: Matrix's transaction form, outliers included. */
export async function dagEventResponse(req: SbRequest, stub: RoomStub, eventId: string): Promise<Response | undefined> {
  const info = await stub.info();
  if (!info || getRoomVersion(info.version)?.linearized !== false) return undefined;
  const e = await stub.servableEventJson(eventId);
  if (!e) throw notFound("Event not found");
  return new Response(`{"origin":${JSON.stringify(req.config.serverName)},"origin_server_ts":${Date.now()},"pdus":[${e.json}]}`, { headers: { "content-type": "application/json" } });
}

export function mountFederationDag(t: RouteTable, authed: (req: SbRequest, env: Env, maxBytes?: number) => Promise<{ origin: string; body: Record<string, unknown> }>): void {
  t.add("post", `${FEDERATION_V1}/get_missing_events/:roomId`, onGetMissingEvents(authed));
  t.add("get", `${FEDERATION_V1}/event_auth/:roomId/:eventId`, onEventAuth(authed));
}
