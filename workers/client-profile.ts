// Profiles: displayname and avatar_url. Local profiles live in D1 (users table); a change is also
// published as a new m.room.member join event in every room the user is joined to, because that is
// where other users (and other servers) read display names from. Remote users' profiles come from a
// member event we already hold, else from their server's federation profile query.
//
// Custom profile fields (Matrix 1.14+) are not supported: we advertise versions up to v1.11.

import { canonicalJson, type JsonObject } from "../shared/canonical-json.js";
import { badJson, MatrixError, notFound } from "../shared/errors.js";
import type { Pdu } from "../shared/event.js";
import { isUserId, serverNameOf } from "../shared/ids.js";
import type { RouteTable, SbRequest } from "./app.js";
import { CLIENT_PREFIXES, param, requireSelf, roomStub, userIdParam, userStream } from "./client-common.js";
import { requireUser } from "./client-auth.js";
import { authenticateFederationRequest } from "./federation-auth.js";
import { FEDERATION_V1 } from "../shared/federation-paths.js";
import { federationRequest } from "./federation-request.js";
import { json, readJsonBody } from "./http.js";
import { remoteKeyStore } from "./remote-keys.js";
import { getProfile, updateProfile, type Profile } from "./storage/profiles.js";

type Field = keyof Profile;
const FIELDS: readonly Field[] = ["displayname", "avatar_url"];
const BODY = { maxBytes: 64 * 1024 };
/** Limits as other servers apply them, so a name set here is accepted wherever it travels. */
const MAX_DISPLAYNAME = 256;
const MAX_AVATAR_URL = 1000;
const MXC = /^mxc:\/\/[A-Za-z0-9.:\-[\]]+\/[A-Za-z0-9_-]+$/;
/** Rooms searched for a remote user's member event; enough for any real client, bounded for us. */
const MAX_ROOMS_SEARCHED = 100;
const PROFILE_QUERY_TIMEOUT_MS = 10_000;

const isField = (k: string): k is Field => (FIELDS as readonly string[]).includes(k);

/** Only the fields that are set, as the spec's GET answers omit unset ones. */
function present(p: Partial<Profile>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of FIELDS) {
    const v = p[f];
    if (typeof v === "string") out[f] = v;
  }
  return out;
}

/** A field's new value from a request body; "" and null both clear it. */
function fieldValue(field: Field, raw: unknown): string | null {
  if (raw === null || raw === "") return null;
  if (typeof raw !== "string") throw badJson(`${field} must be a string`);
  if (field === "displayname" && raw.length > MAX_DISPLAYNAME) throw badJson(`displayname is longer than ${MAX_DISPLAYNAME} characters`);
  if (field === "avatar_url") {
    if (raw.length > MAX_AVATAR_URL) throw badJson(`avatar_url is longer than ${MAX_AVATAR_URL} characters`);
    if (!MXC.test(raw)) throw new MatrixError(400, "M_INVALID_PARAM", "avatar_url must be an mxc:// URI");
  }
  return raw;
}

// --------------------------------------------------------------------------------------------
// Reading
// --------------------------------------------------------------------------------------------

/** A remote user's profile from their member event in one of the asker's rooms. */
async function profileFromRooms(env: Env, asker: string, target: string): Promise<Partial<Profile> | undefined> {
  const rooms = (await userStream(env, asker).joinedRooms()).slice(0, MAX_ROOMS_SEARCHED);
  const found = await Promise.all(
    rooms.map(async (roomId) => {
      const e = await roomStub(env, roomId).stateEvent("m.room.member", target);
      if (!e) return undefined;
      const content = (JSON.parse(e.json) as Pdu).content;
      if (content["membership"] !== "join" && content["membership"] !== "invite") return undefined;
      return {
        displayname: typeof content["displayname"] === "string" ? content["displayname"] : null,
        avatar_url: typeof content["avatar_url"] === "string" ? content["avatar_url"] : null,
      };
    }),
  );
  return found.find((p) => p !== undefined);
}

async function profileFromServer(req: SbRequest, target: string): Promise<Partial<Profile> | undefined> {
  const path = `${FEDERATION_V1}/query/profile?user_id=${encodeURIComponent(target)}`;
  const res = await federationRequest(req.config, undefined, serverNameOf(target), "GET", path, undefined, PROFILE_QUERY_TIMEOUT_MS);
  if (res.status !== 200 || typeof res.body !== "object" || res.body === null || Array.isArray(res.body)) return undefined;
  const body = res.body as Record<string, unknown>;
  return {
    displayname: typeof body["displayname"] === "string" ? body["displayname"] : null,
    avatar_url: typeof body["avatar_url"] === "string" ? body["avatar_url"] : null,
  };
}

async function loadProfile(req: SbRequest, env: Env, target: string): Promise<Partial<Profile>> {
  if (serverNameOf(target) === req.config.serverName) {
    const p = await getProfile(env.DB, target);
    if (!p) throw notFound("Profile not found");
    return p;
  }
  // Remote lookups cost us federation traffic, so only our own users may trigger them.
  const { userId } = await requireUser(req, env);
  const p = (await profileFromRooms(env, userId, target)) ?? (await profileFromServer(req, target));
  if (!p) throw notFound("Profile not found");
  return p;
}

async function getWholeProfile(req: SbRequest, env: Env): Promise<Response> {
  return json(present(await loadProfile(req, env, userIdParam(req))));
}

async function getProfileField(req: SbRequest, env: Env): Promise<Response> {
  const target = userIdParam(req);
  const key = param(req, "keyName");
  if (!isField(key)) throw notFound(`No profile field ${key}`);
  const value = (await loadProfile(req, env, target))[key];
  if (typeof value !== "string") throw notFound(`${key} is not set`);
  return json({ [key]: value });
}

// --------------------------------------------------------------------------------------------
// Writing
// --------------------------------------------------------------------------------------------

/**
 * Publishes the change as a new join event in each joined room, keeping the rest of the member
 * content. One room failing (a hub that is down) does not undo the others or the stored profile.
 */
async function publishToRooms(env: Env, userId: string, change: Partial<Profile>): Promise<void> {
  const rooms = await userStream(env, userId).joinedRooms();
  const results = await Promise.allSettled(
    rooms.map(async (roomId) => {
      const stub = roomStub(env, roomId);
      const current = await stub.stateEvent("m.room.member", userId);
      if (!current) return;
      const old = (JSON.parse(current.json) as Pdu).content as JsonObject;
      if (old["membership"] !== "join") return;
      const content: JsonObject = { ...old };
      for (const f of FIELDS) {
        const v = change[f];
        if (v === undefined) continue;
        if (v === null) delete content[f];
        else content[f] = v;
      }
      if (canonicalJson(content) === canonicalJson(old)) return;
      await stub.send(userId, { type: "m.room.member", state_key: userId, content });
    }),
  );
  results.forEach((r, i) => {
    if (r.status === "rejected") console.error("profile change not published", rooms[i], r.reason);
  });
}

async function applyChange(req: SbRequest, env: Env, target: string, change: Partial<Profile>): Promise<Response> {
  await env.DB.batch([updateProfile(env.DB, target, change)]);
  await publishToRooms(env, target, change);
  return json({});
}

/** Auth and ownership checks shared by every write; answers the target user ID. */
async function writableTarget(req: SbRequest, env: Env): Promise<string> {
  const { userId } = await requireUser(req, env);
  const target = userIdParam(req);
  requireSelf(userId, target, "change the profile");
  return target;
}

async function putWholeProfile(req: SbRequest, env: Env): Promise<Response> {
  const target = await writableTarget(req, env);
  const { body } = await readJsonBody(req, BODY);
  const change: Partial<Profile> = {};
  for (const [k, v] of Object.entries(body)) {
    if (!isField(k)) throw new MatrixError(400, "M_INVALID_PARAM", `Custom profile field ${k} is not supported`);
    change[k] = fieldValue(k, v);
  }
  if (Object.keys(change).length === 0) throw badJson("Give displayname and/or avatar_url");
  return applyChange(req, env, target, change);
}

async function putProfileField(req: SbRequest, env: Env): Promise<Response> {
  const target = await writableTarget(req, env);
  const key = param(req, "keyName");
  if (!isField(key)) throw new MatrixError(400, "M_INVALID_PARAM", `Custom profile field ${key} is not supported`);
  const { body } = await readJsonBody(req, BODY);
  if (!(key in body)) throw new MatrixError(400, "M_MISSING_PARAM", `${key} is required`);
  return applyChange(req, env, target, { [key]: fieldValue(key, body[key]) });
}

async function deleteProfileField(req: SbRequest, env: Env): Promise<Response> {
  const target = await writableTarget(req, env);
  const key = param(req, "keyName");
  if (!isField(key)) throw new MatrixError(400, "M_INVALID_PARAM", `Custom profile field ${key} is not supported`);
  return applyChange(req, env, target, { [key]: null });
}

// --------------------------------------------------------------------------------------------
// Federation: GET /_matrix/federation/v1/query/profile
// --------------------------------------------------------------------------------------------

async function federationProfileQuery(req: SbRequest, env: Env): Promise<Response> {
  await authenticateFederationRequest(req, undefined, req.config, remoteKeyStore(env, req.config));
  const q = new URL(req.url).searchParams;
  const target = q.get("user_id");
  if (!isUserId(target)) throw new MatrixError(400, "M_INVALID_PARAM", "user_id is missing or invalid");
  const field = q.get("field");
  if (field !== null && !isField(field)) throw new MatrixError(400, "M_INVALID_PARAM", "field must be displayname or avatar_url");
  if (serverNameOf(target) !== req.config.serverName) throw new MatrixError(400, "M_INVALID_PARAM", "Not a user of this server");
  const p = await getProfile(env.DB, target);
  if (!p) throw notFound("Profile not found");
  const out = present(p);
  return json(field === null ? out : field in out ? { [field]: out[field] } : {});
}

export function mountClientProfile(t: RouteTable): void {
  for (const p of CLIENT_PREFIXES) {
    t.add("get", `${p}/profile/:userId`, getWholeProfile);
    t.add("put", `${p}/profile/:userId`, putWholeProfile);
    t.add("get", `${p}/profile/:userId/:keyName`, getProfileField);
    t.add("put", `${p}/profile/:userId/:keyName`, putProfileField);
    t.add("delete", `${p}/profile/:userId/:keyName`, deleteProfileField);
  }
  t.add("get", `${FEDERATION_V1}/query/profile`, federationProfileQuery);
}
