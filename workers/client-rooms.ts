// Client-server room actions that drive rooms: create, join, invite, leave, kick/ban, knock, send,
// state, messages, event, members. Served under v3 and r0.

import type { JsonObject } from "../shared/canonical-json.js";
import { planCreateRoom } from "../shared/create-room.js";
import { toClientEvent } from "../shared/client-event.js";
import { badJson, forbidden, MatrixError, notFound, toMatrixError } from "../shared/errors.js";
import type { Pdu } from "../shared/event.js";
import { isEventId, isRoomAlias, isRoomId, isServerName, isUserId, serverNameOf } from "../shared/ids.js";
import { CREATABLE_ROOM_VERSION_IDS, getRoomVersion } from "../shared/room-versions.js";
import { buildLocalPdu } from "../shared/local-event.js";
import { roomIdFromCreateEvent } from "../shared/hashes.js";
import type { RouteTable, SbRequest } from "./app.js";
import { requireUser } from "./client-auth.js";
import { parsePaginationToken, roomToken } from "../shared/pagination-token.js";
import { CLIENT_PREFIXES, checkFilterParam, param, requireJoined, roomIdParam, roomStub, userStream, type RoomStub } from "./client-common.js";
import { json, readJsonBody } from "./http.js";
import { joinRemoteRoom, knockRemoteRoom, leaveRemoteRoom } from "./remote-membership.js";
import { getAlias, insertAlias, insertRoom } from "./storage/rooms.js";
import { bundleThreads } from "./client-relations.js";
import { publishRoom } from "./storage/room-directory.js";

const PREFIXES = CLIENT_PREFIXES;
const SMALL_BODY = { maxBytes: 64 * 1024 };
/** Membership actions whose fields are all optional or checked after: clients may send no body at all. */
const MEMBERSHIP_BODY = { ...SMALL_BODY, allowEmpty: true };
/** Room events are capped at 64 KiB by the room; the body may carry a little more before that check. */
const EVENT_BODY = { maxBytes: 96 * 1024 };

type Stub = RoomStub;

function userIdField(body: Record<string, unknown>): string {
  const u = body["user_id"];
  if (!isUserId(u)) throw badJson("user_id must be a valid user ID");
  return u;
}

function optReason(body: Record<string, unknown>): string | undefined {
  const r = body["reason"];
  if (r === undefined || r === null) return undefined;
  if (typeof r !== "string") throw badJson("reason must be a string");
  return r;
}

function contentBody(body: Record<string, unknown>): JsonObject {
  return body as JsonObject;
}

function clientEvent(json: string, eventId: string, roomId: string): ReturnType<typeof toClientEvent> {
  return toClientEvent(JSON.parse(json) as Pdu, eventId, roomId, Date.now());
}

// --------------------------------------------------------------------------------------------

async function createRoom(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  const { body } = await readJsonBody(req, SMALL_BODY);
  const plan = planCreateRoom(body, userId, new Set(CREATABLE_ROOM_VERSION_IDS), req.config.defaultRoomVersion.id);
  const server = req.config.serverName;
  let alias: string | undefined;
  if (plan.alias !== undefined) {
    alias = `#${plan.alias}:${server}`;
    if (!isRoomAlias(alias)) throw new MatrixError(400, "M_INVALID_PARAM", "Invalid room_alias_name");
    if (await getAlias(env.DB, alias)) throw new MatrixError(400, "M_ROOM_IN_USE", "Room alias already taken");
    plan.events.push({ type: "m.room.canonical_alias", state_key: "", content: { alias } });
  }
  const { roomId, createTs } = await newRoomId(plan, userId, req);
  const stub = roomStub(env, roomId);
  await stub.create(roomId, plan.roomVersion, userId, plan.events, createTs);
  const now = Date.now();
  const writes = [insertRoom(env.DB, { room_id: roomId, room_version: plan.roomVersion, hub_server: server, creator: userId, created_ts: now })];
  if (alias !== undefined) writes.push(insertAlias(env.DB, alias, roomId, userId, now));
  if (plan.visibility === "public") writes.push(publishRoom(env.DB, roomId, now));
  await env.DB.batch(writes);
  for (const target of plan.invites) {
    await stub.inviteRemote({ sender: userId, target, content: plan.isDirect ? { is_direct: true } : {} });
  }
  return json({ room_id: roomId });
}

/**
 * A new room's ID: random on this server, or for v12 the create event's reference hash, so the
 * create event is built here first (the Room builds the same one from the same timestamp).
 */
async function newRoomId(plan: ReturnType<typeof planCreateRoom>, creator: string, req: SbRequest): Promise<{ roomId: string; createTs?: number }> {
  const server = req.config.serverName;
  const version = getRoomVersion(plan.roomVersion);
  const create = plan.events[0];
  if (version?.roomIdFromCreateEvent && create?.type === "m.room.create") {
    const createTs = Date.now();
    const fields = { room_id: "", type: create.type, state_key: "", sender: creator, origin_server_ts: createTs, content: create.content };
    const pdu = await buildLocalPdu(fields, { authEvents: [], prevEvents: [], depth: 1 }, server, req.config.signingKey, version);
    return { roomId: await roomIdFromCreateEvent(pdu), createTs };
  }
  const localpart = Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => "abcdefghijklmnopqrstuvwxyzABCDEF"[b & 31]).join("");
  return { roomId: `!${localpart}:${server}` };
}

/** Room ID from a room ID or a local alias, plus the servers to try for a remote room. */
async function resolveRoom(env: Env, idOrAlias: string, req: SbRequest): Promise<{ roomId: string; via: string[] }> {
  const url = new URL(req.url);
  const via = [...url.searchParams.getAll("server_name"), ...url.searchParams.getAll("via")].filter(isServerName);
  if (isRoomId(idOrAlias)) return { roomId: idOrAlias, via };
  if (isRoomAlias(idOrAlias)) {
    const row = await getAlias(env.DB, idOrAlias);
    if (!row) throw notFound(`Room alias ${idOrAlias} not found`);
    return { roomId: row.room_id, via };
  }
  throw new MatrixError(400, "M_INVALID_PARAM", "Not a room ID or alias");
}

/** Where to send make_join for a room we do not participate in: invite origin, via, then the room ID's server. */
async function hubCandidates(stub: Stub, roomId: string, userId: string, via: string[]): Promise<string[]> {
  const out: string[] = [];
  const invite = await stub.pendingInvite(userId);
  if (invite) out.push(invite.hub);
  out.push(...via);
  const colon = roomId.indexOf(":");
  if (colon > 0) out.push(roomId.slice(colon + 1));
  return [...new Set(out)];
}

async function join(req: SbRequest, env: Env, idOrAlias: string): Promise<Response> {
  const { userId, deviceId } = await requireUser(req, env);
  const { body } = await readJsonBody(req, MEMBERSHIP_BODY);
  const { roomId, via } = await resolveRoom(env, idOrAlias, req);
  const stub = roomStub(env, roomId);
  const info = await stub.info();
  const reason = optReason(body);
  const content: JsonObject = { membership: "join", ...(reason !== undefined ? { reason } : {}) };
  // A full-mesh room none of our users is in any more is not sent to us: our copy may be stale, so
  // the join goes through a resident server, as a first join does.
  const local = info && (getRoomVersion(info.version)?.linearized !== false || (await stub.joinedMembers()).some((u) => serverNameOf(u) === req.config.serverName));
  let residents: string[] = [];
  let localRefusal: unknown;
  if (info && local) {
    if ((await stub.membership(userId)) === "join") return json({ room_id: roomId });
    try {
      await stub.joinLocal(userId, content);
      return json({ room_id: roomId });
    } catch (e) {
      // A restricted room the user may join, but none of our users may vouch: another resident server may.
      if (toMatrixError(e).errcode !== "M_UNABLE_TO_GRANT_JOIN") throw e;
      localRefusal = e;
      residents = [...new Set((await stub.joinedMembers()).map(serverNameOf))];
    }
  }
  const candidates = [...new Set([...(await hubCandidates(stub, roomId, userId, via)), ...residents])].filter((s) => s !== req.config.serverName);
  if (candidates.length === 0) throw localRefusal ?? notFound("No server to join this room through");
  let lastError: unknown;
  for (const hub of candidates) {
    try {
      await joinRemoteRoom(env, req.config, userId, roomId, hub, reason !== undefined ? { reason } : {});
      await stub.forgetInvite(userId);
      void deviceId;
      return json({ room_id: roomId });
    } catch (e) {
      lastError = e;
      if (e instanceof MatrixError && e.status === 403) throw e;
    }
  }
  throw lastError;
}

async function leave(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  const { body } = await readJsonBody(req, MEMBERSHIP_BODY);
  const roomId = roomIdParam(req);
  const stub = roomStub(env, roomId);
  const reason = optReason(body);
  if (await stub.info()) {
    const m = await stub.membership(userId);
    if (m === undefined || m === "leave") throw forbidden(`${userId} is not in room ${roomId}`);
    await stub.send(userId, { type: "m.room.member", state_key: userId, content: { membership: "leave", ...(reason !== undefined ? { reason } : {}) } });
    return json({});
  }
  // A room we take no part in: rejecting an invite kept here, or withdrawing a knock, which is not
  // kept here; the hub's make_leave refuses a user who has nothing to leave.
  const hub = (await hubCandidates(stub, roomId, userId, [])).find((s) => s !== req.config.serverName);
  if (hub === undefined) throw forbidden(`${userId} is not in room ${roomId}`);
  await leaveRemoteRoom(env, req.config, userId, roomId, hub);
  return json({});
}

async function knock(req: SbRequest, env: Env, idOrAlias: string): Promise<Response> {
  const { userId } = await requireUser(req, env);
  const { body } = await readJsonBody(req, SMALL_BODY);
  const { roomId, via } = await resolveRoom(env, idOrAlias, req);
  const stub = roomStub(env, roomId);
  const reason = optReason(body);
  if (await stub.info()) {
    await stub.send(userId, { type: "m.room.member", state_key: userId, content: { membership: "knock", ...(reason !== undefined ? { reason } : {}) } });
    return json({ room_id: roomId });
  }
  const candidates = (await hubCandidates(stub, roomId, userId, via)).filter((s) => s !== req.config.serverName);
  if (candidates.length === 0) throw notFound("No server to knock through");
  await knockRemoteRoom(env, req.config, userId, roomId, candidates[0] as string, reason);
  return json({ room_id: roomId });
}

async function invite(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  const { body } = await readJsonBody(req, MEMBERSHIP_BODY);
  const roomId = roomIdParam(req);
  const target = userIdField(body);
  const reason = optReason(body);
  const stub = await requireJoined(env, roomId, userId);
  await stub.invite(userId, target, reason === undefined ? {} : { reason });
  return json({});
}

function moderation(membership: "leave" | "ban", requireCurrent?: "ban") {
  return async (req: SbRequest, env: Env): Promise<Response> => {
    const { userId } = await requireUser(req, env);
    const { body } = await readJsonBody(req, MEMBERSHIP_BODY);
    const roomId = roomIdParam(req);
    const target = userIdField(body);
    const reason = optReason(body);
    const stub = await requireJoined(env, roomId, userId);
    if (requireCurrent && (await stub.membership(target)) !== requireCurrent) throw forbidden(`${target} is not banned`);
    await stub.send(userId, { type: "m.room.member", state_key: target, content: { membership, ...(reason !== undefined ? { reason } : {}) } });
    return json({});
  };
}

async function sendMessage(req: SbRequest, env: Env): Promise<Response> {
  const { userId, deviceId } = await requireUser(req, env);
  const { body } = await readJsonBody(req, EVENT_BODY);
  const roomId = roomIdParam(req);
  const type = param(req, "eventType");
  const txnId = param(req, "txnId");
  const { eventId } = await roomStub(env, roomId).send(userId, { type, content: contentBody(body) }, { deviceId, txnId }, true);
  return json({ event_id: eventId });
}

async function putState(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  const { body } = await readJsonBody(req, EVENT_BODY);
  const roomId = roomIdParam(req);
  const type = param(req, "eventType");
  const stateKey = (req.params as Record<string, string | undefined>)["stateKey"] === undefined ? "" : param(req, "stateKey");
  const stub = roomStub(env, roomId);
  // Membership changes of others go through the auth rules like any state event; the sender's
  // own membership may be changed without being joined (e.g. leaving after an invite).
  const mustBeJoined = !(type === "m.room.member" && stateKey === userId);
  if (type === "m.room.member" && body["membership"] === "invite") {
    if (mustBeJoined) await requireJoined(env, roomId, userId);
    if (!isUserId(stateKey)) throw badJson("state_key must be a user ID");
    await stub.invite(userId, stateKey, body as Record<string, unknown>);
    const e = await stub.stateEvent(type, stateKey);
    return json({ event_id: e?.eventId });
  }
  const { eventId } = await stub.send(userId, { type, state_key: stateKey, content: contentBody(body) }, undefined, mustBeJoined);
  return json({ event_id: eventId });
}

async function getState(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  const roomId = roomIdParam(req);
  const stub = await requireJoined(env, roomId, userId);
  const all = await stub.currentStateJson("client");
  return json(all.map((e) => clientEvent(e.json, e.eventId, roomId)));
}

async function getStateEvent(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  const roomId = roomIdParam(req);
  const type = param(req, "eventType");
  const stateKey = (req.params as Record<string, string | undefined>)["stateKey"] === undefined ? "" : param(req, "stateKey");
  const stub = await requireJoined(env, roomId, userId);
  const e = await stub.stateEvent(type, stateKey, "client");
  if (!e) throw notFound("State event not found");
  const format = new URL(req.url).searchParams.get("format");
  if (format === "event") return json(clientEvent(e.json, e.eventId, roomId));
  return json((JSON.parse(e.json) as Pdu).content);
}

/**
 * A /messages token as a room position: room tokens carry it; a sync token (next_batch) is mapped
 * by the user's stream to the position that sync had delivered.
 */
async function roomPosition(env: Env, userId: string, roomId: string, raw: string | null, name: string): Promise<number | undefined> {
  const token = parsePaginationToken(raw, name);
  if (token === undefined || token.kind === "room") return token?.pos;
  const pos = await userStream(env, userId).roomPositionAt(roomId, token.stream);
  if (pos === "invalid") throw new MatrixError(400, "M_INVALID_PARAM", `Unknown sync token in ${name}`);
  return pos === "unknown" ? undefined : pos;
}

async function messages(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  const roomId = roomIdParam(req);
  const stub = await requireJoined(env, roomId, userId);
  const q = new URL(req.url).searchParams;
  checkFilterParam(q);
  const dir = q.get("dir") ?? "b";
  if (dir !== "b" && dir !== "f") throw new MatrixError(400, "M_INVALID_PARAM", "dir must be b or f");
  const limitRaw = Number(q.get("limit") ?? "10");
  if (!Number.isSafeInteger(limitRaw) || limitRaw < 0) throw new MatrixError(400, "M_INVALID_PARAM", "limit must be a non-negative integer");
  const limit = Math.min(Math.max(limitRaw, 1), 1000);
  const [from, to] = await Promise.all([roomPosition(env, userId, roomId, q.get("from"), "from"), roomPosition(env, userId, roomId, q.get("to"), "to")]);
  const page = await stub.messages({ userId, dir, limit, ...(from === undefined ? {} : { from }), ...(to === undefined ? {} : { to }) });
  const chunk = await bundleThreads(stub, userId, roomId, page.events.map((e) => clientEvent(e.json, e.eventId, roomId)));
  const out: Record<string, unknown> = { chunk, start: q.get("from") || roomToken(page.start) };
  if (page.end !== undefined) out["end"] = roomToken(page.end);
  return json(out);
}

async function getEvent(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  const roomId = roomIdParam(req);
  const eventId = param(req, "eventId");
  if (!isEventId(eventId)) throw new MatrixError(400, "M_INVALID_PARAM", "Invalid event ID");
  const stub = await requireJoined(env, roomId, userId);
  const e = await stub.getEventJson(eventId, "client");
  if (!e || e.pos === null) throw notFound("Event not found");
  const [bundled] = await bundleThreads(stub, userId, roomId, [clientEvent(e.json, eventId, roomId)]);
  return json(bundled);
}

async function members(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  const roomId = roomIdParam(req);
  const stub = await requireJoined(env, roomId, userId);
  const q = new URL(req.url).searchParams;
  const only = q.get("membership");
  const not = q.get("not_membership");
  const all = await stub.currentStateJson("client");
  const chunk = all
    .map((e) => ({ e, pdu: JSON.parse(e.json) as Pdu }))
    .filter(({ pdu }) => pdu.type === "m.room.member")
    .filter(({ pdu }) => (only === null || pdu.content["membership"] === only) && (not === null || pdu.content["membership"] !== not))
    .map(({ e }) => clientEvent(e.json, e.eventId, roomId));
  return json({ chunk });
}

async function joinedMembers(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  const roomId = roomIdParam(req);
  const stub = await requireJoined(env, roomId, userId);
  const joined: Record<string, unknown> = {};
  for (const e of await stub.currentStateJson()) {
    const pdu = JSON.parse(e.json) as Pdu;
    if (pdu.type !== "m.room.member" || pdu.content["membership"] !== "join" || pdu.state_key === undefined) continue;
    joined[pdu.state_key] = { display_name: pdu.content["displayname"] ?? null, avatar_url: pdu.content["avatar_url"] ?? null };
  }
  return json({ joined });
}

export function mountClientRooms(t: RouteTable): void {
  for (const p of PREFIXES) {
    t.add("post", `${p}/createRoom`, createRoom);
    t.add("post", `${p}/join/:roomIdOrAlias`, (req, env) => join(req, env, param(req, "roomIdOrAlias")));
    t.add("post", `${p}/rooms/:roomId/join`, (req, env) => join(req, env, roomIdParam(req)));
    t.add("post", `${p}/knock/:roomIdOrAlias`, (req, env) => knock(req, env, param(req, "roomIdOrAlias")));
    t.add("post", `${p}/rooms/:roomId/leave`, leave);
    t.add("post", `${p}/rooms/:roomId/invite`, invite);
    t.add("post", `${p}/rooms/:roomId/kick`, moderation("leave"));
    t.add("post", `${p}/rooms/:roomId/ban`, moderation("ban"));
    t.add("post", `${p}/rooms/:roomId/unban`, moderation("leave", "ban"));
    t.add("put", `${p}/rooms/:roomId/send/:eventType/:txnId`, sendMessage);
    t.add("get", `${p}/rooms/:roomId/state`, getState);
    t.add("get", `${p}/rooms/:roomId/state/:eventType`, getStateEvent);
    t.add("get", `${p}/rooms/:roomId/state/:eventType/:stateKey`, getStateEvent);
    t.add("put", `${p}/rooms/:roomId/state/:eventType`, putState);
    t.add("put", `${p}/rooms/:roomId/state/:eventType/:stateKey`, putState);
    t.add("get", `${p}/rooms/:roomId/messages`, messages);
    t.add("get", `${p}/rooms/:roomId/event/:eventId`, getEvent);
    t.add("get", `${p}/rooms/:roomId/members`, members);
    t.add("get", `${p}/rooms/:roomId/joined_members`, joinedMembers);
  }
}

