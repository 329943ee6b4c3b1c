// Client-server server-side key backup: room_keys/version (create, read, update auth_data, delete)
// and room_keys/keys for all rooms, one room, or one session (store, read, delete). Keys go only into
// the newest version; an upload to an older one is 403 M_WRONG_ROOM_KEYS_VERSION. Each write answers
// the version's key count and etag, which changes whenever the stored keys do.

import { badJson, invalidParam, MatrixError, notFound } from "../shared/errors.js";
import { isRoomId } from "../shared/ids.js";
import { parseKeyBackupData, replacesBackedUpKey } from "../shared/key-backup.js";
import type { RouteTable, SbRequest } from "./app.js";
import { requireUser } from "./client-auth.js";
import { CLIENT_PREFIXES, param } from "./client-common.js";
import { json, readJsonBody } from "./http.js";
import {
  bumpEtag,
  countKeys,
  createVersion,
  deleteKeys,
  getVersion,
  latestVersion,
  listKeys,
  markVersionDeleted,
  putKey,
  updateAuthData,
  type BackupVersion,
  type StoredRoomKey,
} from "./storage/key-backup.js";

const BODY = { maxBytes: 1024 * 1024 };
const MAX_KEYS_PER_UPLOAD = 1_000;
const MAX_AUTH_DATA = 16 * 1024;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function parseVersion(raw: string | null): number {
  if (raw === null || raw === "") throw new MatrixError(400, "M_MISSING_PARAM", "version is required");
  if (!/^[1-9]\d{0,15}$/.test(raw)) throw notFound("Unknown backup version");
  return Number(raw);
}

async function requireVersion(env: Env, userId: string, version: number): Promise<BackupVersion> {
  const found = await getVersion(env.DB, userId, version);
  if (!found) throw notFound("Unknown backup version");
  return found;
}

async function versionInfo(env: Env, userId: string, v: BackupVersion) {
  return { algorithm: v.algorithm, auth_data: JSON.parse(v.authData) as unknown, count: await countKeys(env.DB, userId, v.version), etag: String(v.etag), version: String(v.version) };
}

function parseAlgorithmAndAuth(body: Record<string, unknown>): { algorithm: string; authData: string } {
  const algorithm = body["algorithm"];
  if (typeof algorithm !== "string" || algorithm === "" || algorithm.length > 255) throw badJson("algorithm must be a string");
  const auth = body["auth_data"];
  if (!isObject(auth)) throw badJson("auth_data must be an object");
  const authData = JSON.stringify(auth);
  if (authData.length > MAX_AUTH_DATA) throw badJson("auth_data is too large");
  return { algorithm, authData };
}

// --------------------------------------------------------------------------------------------
// Versions
// --------------------------------------------------------------------------------------------

async function createVersionRoute(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  const { body } = await readJsonBody(req, BODY);
  const { algorithm, authData } = parseAlgorithmAndAuth(body);
  return json({ version: String(await createVersion(env.DB, userId, algorithm, authData)) });
}

async function getLatest(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  const v = await latestVersion(env.DB, userId);
  if (!v) throw notFound("No current backup version");
  return json(await versionInfo(env, userId, v));
}

async function getOne(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  const v = await requireVersion(env, userId, parseVersion(param(req, "version")));
  return json(await versionInfo(env, userId, v));
}

async function updateVersion(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  const version = parseVersion(param(req, "version"));
  const { body } = await readJsonBody(req, BODY);
  const { algorithm, authData } = parseAlgorithmAndAuth(body);
  const named = body["version"];
  if (named !== undefined && named !== String(version)) throw invalidParam("version in the body does not match the path");
  const v = await requireVersion(env, userId, version);
  if (v.algorithm !== algorithm) throw invalidParam("A backup version's algorithm cannot change");
  await updateAuthData(env.DB, userId, version, authData).run();
  return json({});
}

async function deleteVersion(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  const version = parseVersion(param(req, "version"));
  await requireVersion(env, userId, version);
  await env.DB.batch(markVersionDeleted(env.DB, userId, version));
  return json({});
}

// --------------------------------------------------------------------------------------------
// Keys
// --------------------------------------------------------------------------------------------

function roomParam(req: SbRequest): string | undefined {
  if ((req.params as Record<string, string | undefined>)["roomId"] === undefined) return undefined;
  const roomId = param(req, "roomId");
  if (!isRoomId(roomId)) throw invalidParam("Invalid room ID");
  return roomId;
}

function sessionParam(req: SbRequest): string | undefined {
  if ((req.params as Record<string, string | undefined>)["sessionId"] === undefined) return undefined;
  const sessionId = param(req, "sessionId");
  if (sessionId === "" || sessionId.length > 255) throw invalidParam("Invalid session ID");
  return sessionId;
}

/** The keys an upload carries, whatever the path's level. */
function uploadedKeys(body: Record<string, unknown>, roomId: string | undefined, sessionId: string | undefined): StoredRoomKey[] {
  const out: StoredRoomKey[] = [];
  const sessionsOf = (rid: string, sessions: unknown) => {
    if (!isObject(sessions)) throw badJson(`rooms.${rid}.sessions must be an object`);
    for (const [sid, data] of Object.entries(sessions)) {
      if (sid === "" || sid.length > 255) throw invalidParam("Invalid session ID");
      out.push({ roomId: rid, sessionId: sid, ...parseKeyBackupData(data, `sessions.${sid}`) });
      if (out.length > MAX_KEYS_PER_UPLOAD) throw invalidParam(`At most ${MAX_KEYS_PER_UPLOAD} keys per upload`);
    }
  };
  if (roomId !== undefined && sessionId !== undefined) return [{ roomId, sessionId, ...parseKeyBackupData(body, "body") }];
  if (roomId !== undefined) {
    sessionsOf(roomId, body["sessions"]);
    return out;
  }
  const rooms = body["rooms"];
  if (!isObject(rooms)) throw badJson("rooms must be an object");
  for (const [rid, room] of Object.entries(rooms)) {
    if (!isRoomId(rid)) throw invalidParam(`Invalid room ID ${rid.slice(0, 100)}`);
    if (!isObject(room)) throw badJson(`rooms.${rid} must be an object`);
    sessionsOf(rid, room["sessions"]);
  }
  return out;
}

async function putKeys(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  const version = parseVersion(new URL(req.url).searchParams.get("version"));
  const roomId = roomParam(req);
  const sessionId = sessionParam(req);
  const { body } = await readJsonBody(req, BODY);
  const keys = uploadedKeys(body, roomId, sessionId);
  const current = await latestVersion(env.DB, userId);
  if (!current || current.version !== version) {
    if (!(await getVersion(env.DB, userId, version))) throw notFound("Unknown backup version");
    throw new MatrixError(403, "M_WRONG_ROOM_KEYS_VERSION", "Keys go only into the current backup version", { current_version: current ? String(current.version) : undefined });
  }
  const existing = new Map((await listKeys(env.DB, userId, version, roomId, sessionId)).map((k) => [`${k.roomId}|${k.sessionId}`, k]));
  const changed = keys.filter((k) => {
    const old = existing.get(`${k.roomId}|${k.sessionId}`);
    return old === undefined || replacesBackedUpKey(old, k);
  });
  if (changed.length > 0) await env.DB.batch([...changed.map((k) => putKey(env.DB, userId, version, k)), bumpEtag(env.DB, userId, version)]);
  const after = await requireVersion(env, userId, version);
  return json({ count: await countKeys(env.DB, userId, version), etag: String(after.etag) });
}

async function getKeys(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  const version = parseVersion(new URL(req.url).searchParams.get("version"));
  const roomId = roomParam(req);
  const sessionId = sessionParam(req);
  await requireVersion(env, userId, version);
  const keys = await listKeys(env.DB, userId, version, roomId, sessionId);
  const data = ({ roomId: _r, sessionId: _s, ...rest }: StoredRoomKey) => rest;
  if (sessionId !== undefined) {
    const [one] = keys;
    if (!one) throw notFound("No such session in the backup");
    return json(data(one));
  }
  const sessions = (list: StoredRoomKey[]) => Object.fromEntries(list.map((k) => [k.sessionId, data(k)]));
  if (roomId !== undefined) return json({ sessions: sessions(keys) });
  const rooms: Record<string, { sessions: Record<string, unknown> }> = {};
  for (const rid of new Set(keys.map((k) => k.roomId))) rooms[rid] = { sessions: sessions(keys.filter((k) => k.roomId === rid)) };
  return json({ rooms });
}

async function deleteKeysRoute(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  const version = parseVersion(new URL(req.url).searchParams.get("version"));
  const roomId = roomParam(req);
  const sessionId = sessionParam(req);
  await requireVersion(env, userId, version);
  await env.DB.batch([deleteKeys(env.DB, userId, version, roomId, sessionId), bumpEtag(env.DB, userId, version)]);
  const after = await requireVersion(env, userId, version);
  return json({ count: await countKeys(env.DB, userId, version), etag: String(after.etag) });
}

export function mountClientKeyBackup(t: RouteTable): void {
  for (const p of CLIENT_PREFIXES) {
    t.add("post", `${p}/room_keys/version`, createVersionRoute);
    t.add("get", `${p}/room_keys/version`, getLatest);
    t.add("get", `${p}/room_keys/version/:version`, getOne);
    t.add("put", `${p}/room_keys/version/:version`, updateVersion);
    t.add("delete", `${p}/room_keys/version/:version`, deleteVersion);
    t.add("put", `${p}/room_keys/keys`, putKeys);
    t.add("get", `${p}/room_keys/keys`, getKeys);
    t.add("delete", `${p}/room_keys/keys`, deleteKeysRoute);
    t.add("put", `${p}/room_keys/keys/:roomId`, putKeys);
    t.add("get", `${p}/room_keys/keys/:roomId`, getKeys);
    t.add("delete", `${p}/room_keys/keys/:roomId`, deleteKeysRoute);
    t.add("put", `${p}/room_keys/keys/:roomId/:sessionId`, putKeys);
    t.add("get", `${p}/room_keys/keys/:roomId/:sessionId`, getKeys);
    t.add("delete", `${p}/room_keys/keys/:roomId/:sessionId`, deleteKeysRoute);
  }
}
