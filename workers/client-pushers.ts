// Client-server pushers: GET /pushers and POST /pushers/set (create, update, or delete with kind
// null). Pushers are stored and listed so clients see what they set; no push gateway is called yet.

import { badJson, MatrixError } from "../shared/errors.js";
import type { RouteTable, SbRequest } from "./app.js";
import { requireUser } from "./client-auth.js";
import { CLIENT_PREFIXES } from "./client-common.js";
import { json, readJsonBody } from "./http.js";
import { deletePusher, deletePushersOfOthers, listPushers, putPusher } from "./storage/pushers.js";

const BODY = { maxBytes: 64 * 1024 };
const MAX_PUSHERS = 100;

function str(body: Record<string, unknown>, key: string, max: number, required: boolean): string | undefined {
  const v = body[key];
  if (v === undefined || v === null) {
    if (required) throw new MatrixError(400, "M_MISSING_PARAM", `${key} is required`);
    return undefined;
  }
  if (typeof v !== "string" || v.length > max || (required && v === "")) throw badJson(`${key} must be a string of at most ${max} characters`);
  return v;
}

async function list(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  return json({ pushers: (await listPushers(env.DB, userId)).map((p) => JSON.parse(p.json) as unknown) });
}

async function set(req: SbRequest, env: Env): Promise<Response> {
  const { userId, deviceId } = await requireUser(req, env);
  const { body } = await readJsonBody(req, BODY);
  const pushkey = str(body, "pushkey", 512, true) as string;
  const appId = str(body, "app_id", 64, true) as string;
  const kind = body["kind"];
  if (kind === null) {
    await deletePusher(env.DB, userId, appId, pushkey).run();
    return json({});
  }
  if (typeof kind !== "string" || kind === "" || kind.length > 64) throw badJson("kind must be a string, or null to delete the pusher");
  const data = body["data"];
  if (typeof data !== "object" || data === null || Array.isArray(data)) throw new MatrixError(400, "M_MISSING_PARAM", "data must be an object");
  const url = (data as Record<string, unknown>)["url"];
  if (kind === "http") {
    if (typeof url !== "string" || !/^https?:\/\/[^\s]+\/_matrix\/push\/v1\/notify$/.test(url)) throw new MatrixError(400, "M_INVALID_PARAM", "data.url must be an http(s) URL ending in /_matrix/push/v1/notify");
  }
  const format = (data as Record<string, unknown>)["format"];
  if (format !== undefined && typeof format !== "string") throw badJson("data.format must be a string");
  const append = body["append"];
  if (append !== undefined && typeof append !== "boolean") throw badJson("append must be a boolean");
  const pusher = {
    pushkey,
    kind,
    app_id: appId,
    app_display_name: str(body, "app_display_name", 255, true),
    device_display_name: str(body, "device_display_name", 255, true),
    profile_tag: str(body, "profile_tag", 255, false),
    lang: str(body, "lang", 64, true),
    data: { ...(url !== undefined ? { url } : {}), ...(format !== undefined ? { format } : {}) },
  };
  const existing = await listPushers(env.DB, userId);
  if (existing.length >= MAX_PUSHERS && !existing.some((p) => p.appId === appId && p.pushkey === pushkey)) throw new MatrixError(400, "M_LIMIT_EXCEEDED", `At most ${MAX_PUSHERS} pushers per user`);
  const statements = [putPusher(env.DB, userId, { appId, pushkey, deviceId, json: JSON.stringify(pusher) }, Date.now())];
  // Spec: without append, this pusher replaces any other user's with the same app ID and push key.
  if (append !== true) statements.unshift(deletePushersOfOthers(env.DB, userId, appId, pushkey));
  await env.DB.batch(statements);
  return json({});
}

export function mountClientPushers(t: RouteTable): void {
  for (const p of CLIENT_PREFIXES) {
    t.add("get", `${p}/pushers`, list);
    t.add("post", `${p}/pushers/set`, set);
  }
}
