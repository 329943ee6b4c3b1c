// Client-server presence, kept simple: PUT/GET /presence/{userId}/status for local users, stored in
// D1, and `presence` in /sync: everyone sharing a room with the user on an initial sync, those whose
// presence changed since on an incremental one. Presence is not yet exchanged with other servers
// (no m.presence EDUs), and there is no idle timer: a user stays as they last set themselves.

import { badJson, MatrixError, notFound } from "../shared/errors.js";
import { serverNameOf } from "../shared/ids.js";
import type { RouteTable, SbRequest } from "./app.js";
import { requireUser } from "./client-auth.js";
import { CLIENT_PREFIXES, requireSelf, userIdParam, userStream } from "./client-common.js";
import { audienceOf } from "./device-list-updates.js";
import { json, readJsonBody } from "./http.js";
import { listPresence, putPresence, type PresenceRow } from "./storage/presence.js";
import { userExists } from "./storage/users.js";

const STATES = new Set(["online", "offline", "unavailable"]);
const MAX_STATUS = 1024;
/** "currently_active" means active within this long. */
const ACTIVE_MS = 5 * 60_000;
const MAX_SYNC_USERS = 1_000;

function contentOf(row: PresenceRow | undefined, now: number): Record<string, unknown> {
  if (!row) return { presence: "offline" };
  const ago = Math.max(0, now - row.lastActiveTs);
  return { presence: row.presence, last_active_ago: ago, currently_active: row.presence === "online" && ago < ACTIVE_MS, ...(row.statusMsg !== null ? { status_msg: row.statusMsg } : {}) };
}

async function setStatus(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  requireSelf(userId, userIdParam(req), "set presence");
  const { body } = await readJsonBody(req, { maxBytes: 8 * 1024 });
  const presence = body["presence"];
  if (typeof presence !== "string" || !STATES.has(presence)) throw new MatrixError(400, "M_INVALID_PARAM", "presence must be online, offline or unavailable");
  const status = body["status_msg"];
  if (status !== undefined && status !== null && (typeof status !== "string" || status.length > MAX_STATUS)) throw badJson(`status_msg must be a string of at most ${MAX_STATUS} characters`);
  await putPresence(env.DB, { userId, presence, statusMsg: typeof status === "string" ? status : null, lastActiveTs: Date.now() }).run();
  const { locals } = await audienceOf(env, req.config.serverName, userId);
  await Promise.all([...locals].map((u) => userStream(env, u).presenceChanged(userId).catch((e) => console.error("presence notification failed", u, e))));
  return json({});
}

async function getStatus(req: SbRequest, env: Env): Promise<Response> {
  await requireUser(req, env);
  const target = userIdParam(req);
  if (serverNameOf(target) !== req.config.serverName || !(await userExists(env.DB, target))) throw notFound("No presence known for this user");
  const [row] = await listPresence(env.DB, [target]);
  return json(contentOf(row, Date.now()));
}

/** The `presence.events` of a /sync: `changed` undefined means an initial sync (everyone sharing a room). */
export async function presenceSyncEvents(env: Env, serverName: string, userId: string, changed: string[] | undefined): Promise<Array<Record<string, unknown>>> {
  let users = changed;
  if (users === undefined) users = [...(await audienceOf(env, serverName, userId)).locals];
  if (users.length === 0) return [];
  const rows = await listPresence(env.DB, users.slice(0, MAX_SYNC_USERS));
  const now = Date.now();
  return rows.map((r) => ({ type: "m.presence", sender: r.userId, content: contentOf(r, now) }));
}

export function mountClientPresence(t: RouteTable): void {
  for (const p of CLIENT_PREFIXES) {
    t.add("put", `${p}/presence/:userId/status`, setStatus);
    t.add("get", `${p}/presence/:userId/status`, getStatus);
  }
}
