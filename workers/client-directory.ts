// Room aliases: GET/PUT/DELETE /directory/room/{roomAlias} for clients, and the federation alias
// query other servers use to resolve our aliases. Aliases on other servers are resolved through
// that server's federation query.

import { badJson, forbidden, MatrixError, notFound } from "../shared/errors.js";
import { isRoomAlias, isRoomId, isServerName, serverNameOf } from "../shared/ids.js";
import { sendLevel } from "../shared/power-levels.js";
import type { RouteTable, SbRequest } from "./app.js";
import { CLIENT_PREFIXES, param, requireJoined, roomPower, roomStub } from "./client-common.js";
import { requireUser } from "./client-auth.js";
import { authenticateFederationRequest } from "./federation-auth.js";
import { FEDERATION_V1 } from "../shared/federation-paths.js";
import { federationRequest } from "./federation-request.js";
import { json, readJsonBody } from "./http.js";
import { remoteKeyStore } from "./remote-keys.js";
import { deleteAlias, getAlias, insertAlias } from "./storage/rooms.js";

const ALIAS_QUERY_TIMEOUT_MS = 10_000;

function aliasParam(req: SbRequest): string {
  const alias = param(req, "roomAlias");
  if (!isRoomAlias(alias)) throw new MatrixError(400, "M_INVALID_PARAM", "Room alias invalid");
  return alias;
}

const aliasNotFound = (alias: string) => notFound(`Room alias ${alias} not found`);

/** Servers to offer for joining: ours, and the room's hub when that is elsewhere. */
async function serversFor(env: Env, roomId: string, us: string): Promise<string[]> {
  const info = await roomStub(env, roomId).info();
  return info && info.hub !== us ? [us, info.hub] : [us];
}

async function resolveRemote(req: SbRequest, alias: string): Promise<Response> {
  const path = `${FEDERATION_V1}/query/directory?room_alias=${encodeURIComponent(alias)}`;
  const res = await federationRequest(req.config, undefined, serverNameOf(alias), "GET", path, undefined, ALIAS_QUERY_TIMEOUT_MS);
  const body = (typeof res.body === "object" && res.body !== null && !Array.isArray(res.body) ? res.body : {}) as Record<string, unknown>;
  if (res.status !== 200 || !isRoomId(body["room_id"])) throw aliasNotFound(alias);
  const servers = Array.isArray(body["servers"]) ? body["servers"].filter(isServerName) : [];
  return json({ room_id: body["room_id"], servers: servers.length > 0 ? servers : [serverNameOf(alias)] });
}

async function getRoomAlias(req: SbRequest, env: Env): Promise<Response> {
  const alias = aliasParam(req);
  const us = req.config.serverName;
  if (serverNameOf(alias) !== us) {
    // Only our own users may make us send federation queries.
    await requireUser(req, env);
    return resolveRemote(req, alias);
  }
  const row = await getAlias(env.DB, alias);
  if (!row) throw aliasNotFound(alias);
  return json({ room_id: row.room_id, servers: await serversFor(env, row.room_id, us) });
}

async function putRoomAlias(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  const alias = aliasParam(req);
  if (serverNameOf(alias) !== req.config.serverName) throw new MatrixError(400, "M_INVALID_PARAM", "Aliases can only be created on this server's domain");
  const { body } = await readJsonBody(req, { maxBytes: 4096 });
  const roomId = body["room_id"];
  if (roomId === undefined) throw new MatrixError(400, "M_MISSING_PARAM", "room_id is required");
  if (!isRoomId(roomId)) throw badJson("room_id must be a room ID");
  // Pointing an alias at a room is only offered to its members, so nobody squats names for rooms they cannot see.
  await requireJoined(env, roomId, userId);
  if (await getAlias(env.DB, alias)) throw aliasTaken(alias);
  try {
    await insertAlias(env.DB, alias, roomId, userId, Date.now()).run();
  } catch (err) {
    if (err instanceof Error && /UNIQUE constraint failed/.test(err.message)) throw aliasTaken(alias); // lost a race
    throw err;
  }
  return json({});
}

/** The spec's answer to a taken alias is 409 with M_UNKNOWN (not M_ROOM_IN_USE, which createRoom uses). */
const aliasTaken = (alias: string) => new MatrixError(409, "M_UNKNOWN", `Room alias ${alias} already exists`);

async function deleteRoomAlias(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  const alias = aliasParam(req);
  if (serverNameOf(alias) !== req.config.serverName) throw aliasNotFound(alias);
  const row = await getAlias(env.DB, alias);
  if (!row) throw aliasNotFound(alias);
  if (row.creator !== userId && !(await mayManageAliases(env, row.room_id, userId))) {
    throw forbidden("Only the alias's creator or a room moderator may delete it");
  }
  await deleteAlias(env.DB, alias).run();
  return json({});
}

/** A joined member who could change the room's canonical alias may also remove its aliases. */
async function mayManageAliases(env: Env, roomId: string, userId: string): Promise<boolean> {
  const stub = roomStub(env, roomId);
  if ((await stub.membership(userId)) !== "join") return false;
  const { level, levels } = await roomPower(stub, userId);
  return level >= sendLevel(levels, "m.room.canonical_alias", true);
}

/** GET /_matrix/federation/v1/query/directory: resolves one of our aliases for another server. */
async function federationDirectoryQuery(req: SbRequest, env: Env): Promise<Response> {
  await authenticateFederationRequest(req, undefined, req.config, remoteKeyStore(env, req.config));
  const alias = new URL(req.url).searchParams.get("room_alias");
  if (!isRoomAlias(alias)) throw new MatrixError(400, "M_INVALID_PARAM", "room_alias is missing or invalid");
  if (serverNameOf(alias) !== req.config.serverName) throw aliasNotFound(alias);
  const row = await getAlias(env.DB, alias);
  if (!row) throw aliasNotFound(alias);
  return json({ room_id: row.room_id, servers: await serversFor(env, row.room_id, req.config.serverName) });
}

export function mountClientDirectory(t: RouteTable): void {
  for (const p of CLIENT_PREFIXES) {
    t.add("get", `${p}/directory/room/:roomAlias`, getRoomAlias);
    t.add("put", `${p}/directory/room/:roomAlias`, putRoomAlias);
    t.add("delete", `${p}/directory/room/:roomAlias`, deleteRoomAlias);
  }
  t.add("get", `${FEDERATION_V1}/query/directory`, federationDirectoryQuery);
}
