// GET /sync and filters. The user's stream (UserStream DO) says which rooms changed since the token
// and long-polls; each changed room then answers its own slice (Room.syncView).

import { toClientEvent } from "../shared/client-event.js";
import { badJson, forbidden, MatrixError } from "../shared/errors.js";
import type { Pdu } from "../shared/event.js";
import { isUserId } from "../shared/ids.js";
import { parseStrictJson } from "../shared/strict-json.js";
import { parseSyncFilter, roomIncluded, typeAllowed, type SyncFilter } from "../shared/sync-filter.js";
import type { RoomChange } from "../durable-objects/user-stream.js";
import type { RouteTable, SbRequest } from "./app.js";
import { authenticate, chargeRequest, requireUser } from "./client-auth.js";
import { CLIENT_PREFIXES, param, userStream } from "./client-common.js";
import { bundleThreads } from "./client-relations.js";
import { json, readJsonBody } from "./http.js";
import { listAccountData } from "./storage/account-data.js";
import { getFilter, insertFilter } from "./storage/filters.js";
import { e2eeSyncFields, syncMembershipNews } from "./sync-e2ee.js";
import { fillSyncEphemeral } from "./sync-ephemeral.js";
import { mountSlidingSync } from "./sliding-sync.js";
import { presenceSyncEvents } from "./client-presence.js";

const PREFIXES = CLIENT_PREFIXES;
const MAX_TIMEOUT_MS = 60_000;

function parseSince(raw: string | null): number {
  if (raw === null || raw === "") return 0;
  const m = /^s(\d+)$/.exec(raw);
  if (!m) throw new MatrixError(400, "M_INVALID_PARAM", "Unknown since token");
  return Number(m[1]);
}

/** Stored filters this isolate has read. A filter never changes once stored, so entries need no invalidation. */
const storedFilters = new Map<string, SyncFilter>();
const MAX_STORED_FILTERS = 1_000;

/** The request's filter when it needs no D1 read: none, inline JSON, or a stored one read before. */
function knownFilter(userId: string, raw: string | null): SyncFilter | undefined {
  if (raw === null || raw === "") return parseSyncFilter({});
  if (raw.trim().startsWith("{")) return parseSyncFilter(parseStrictJson(raw));
  return storedFilters.get(`${userId}\u0000${raw}`);
}

async function loadStoredFilter(env: Env, userId: string, filterId: string): Promise<SyncFilter> {
  const stored = await getFilter(env.DB, userId, filterId);
  if (stored === null) throw new MatrixError(400, "M_INVALID_PARAM", `Unknown filter ${filterId}`);
  const filter = parseSyncFilter(JSON.parse(stored));
  if (storedFilters.size >= MAX_STORED_FILTERS) storedFilters.delete(storedFilters.keys().next().value as string);
  storedFilters.set(`${userId}\u0000${filterId}`, filter);
  return filter;
}

function clientEvents(list: Array<{ eventId: string; json: string }>, roomId: string, now: number) {
  return list.map((e) => toClientEvent(JSON.parse(e.json) as Pdu, e.eventId, roomId, now));
}

async function roomSection(env: Env, userId: string, change: RoomChange, filter: SyncFilter, fullState: boolean, now: number) {
  const room = env.ROOM.get(env.ROOM.idFromName(change.roomId));
  const view = await room.syncView({
    userId,
    fromPos: fullState ? null : change.fromPos,
    toPos: change.toPos,
    limit: filter.timelineLimit,
    ...(filter.timelineTypes ? { types: filter.timelineTypes } : {}),
    ...(filter.timelineNotTypes ? { notTypes: filter.timelineNotTypes } : {}),
    fullState,
  });
  const state = view.state.filter((e) => typeAllowed((JSON.parse(e.json) as Pdu).type, filter.stateTypes, filter.stateNotTypes));
  const events = clientEvents(view.events, change.roomId, now);
  // Thread roots carry their summary, as in /messages; a room left is shown as of the leave, so not there.
  if (change.membership === "join") await bundleThreads(room, userId, change.roomId, events);
  return {
    timeline: { events, limited: view.limited, prev_batch: view.prevBatch },
    state: { events: clientEvents(state, change.roomId, now) },
    summary: view.summary,
    ephemeral: { events: [] },
    account_data: { events: [] },
    unread_notifications: { highlight_count: 0, notification_count: 0 },
  };
}

async function sync(req: SbRequest, env: Env): Promise<Response> {
  const auth = await authenticate(req, env);
  const { userId, deviceId } = auth;
  const q = new URL(req.url).searchParams;
  const since = parseSince(q.get("since"));
  const timeoutRaw = Number(q.get("timeout") ?? "0");
  if (!Number.isFinite(timeoutRaw) || timeoutRaw < 0) throw new MatrixError(400, "M_INVALID_PARAM", "timeout must be a non-negative number");
  const fullState = q.get("full_state") === "true";
  // The rate-limit charge rides on the stream's changes() call, unless the filter must first be
  // read from D1: that read is charged beforehand, like any other request's work.
  const rawFilter = q.get("filter");
  const known = knownFilter(userId, rawFilter);
  if (known === undefined) await chargeRequest(env, auth, "read");
  const filter = known ?? (await loadStoredFilter(env, userId, rawFilter as string));
  const changes = await userStream(env, userId).changes(since, fullState ? 0 : Math.min(timeoutRaw, MAX_TIMEOUT_MS), deviceId, known === undefined ? undefined : auth.tokenHash);
  const now = Date.now();
  const join: Record<string, unknown> = {};
  const invite: Record<string, unknown> = {};
  const leave: Record<string, unknown> = {};
  const knock: Record<string, unknown> = {};
  await Promise.all(
    changes.rooms
      .filter((c) => roomIncluded(filter, c.roomId))
      .map(async (c) => {
        if (c.membership === "invite") {
          invite[c.roomId] = { invite_state: { events: c.inviteStateJson ? JSON.parse(c.inviteStateJson) : [] } };
          return;
        }
        if (c.membership === "knock") {
          knock[c.roomId] = { knock_state: { events: [] } };
          return;
        }
        try {
          const section = await roomSection(env, userId, c, filter, fullState, now);
          if (c.membership === "join") join[c.roomId] = section;
          else leave[c.roomId] = { timeline: section.timeline, state: section.state, account_data: section.account_data };
        } catch (e) {
          // A room we were invited to but never joined has no replica: show the leave alone.
          if (c.membership !== "join") leave[c.roomId] = { timeline: { events: [], limited: false }, state: { events: [] } };
          else throw e;
        }
      }),
  );
  await fillSyncEphemeral(env, userId, join, since === 0 ? undefined : changes.ephemeral, () => userStream(env, userId).joinedRooms());
  const e2ee = await e2eeSyncFields(env, userId, deviceId, changes, Boolean(q.get("since")), () => syncMembershipNews(userId, { join, leave }));
  const accountData = await accountDataSection(env, userId, since === 0 ? undefined : changes.accountData, join, filter);
  return json({
    next_batch: `s${changes.next}`,
    rooms: { join, invite, leave, knock },
    presence: { events: await presenceSyncEvents(env, req.config.serverName, userId, since === 0 ? undefined : changes.presence) },
    account_data: { events: accountData },
    ...e2ee,
  });
}

/**
 * Account data for the response: everything on an initial sync, else the entries the stream says
 * changed. Global entries are returned; room entries go into that room's `join` section (created if
 * the room has nothing else to report).
 */
async function accountDataSection(
  env: Env,
  userId: string,
  changed: Array<{ roomId: string; type: string }> | undefined,
  join: Record<string, unknown>,
  filter: SyncFilter,
): Promise<Array<{ type: string; content: unknown }>> {
  if (changed !== undefined && changed.length === 0) return [];
  const wanted = changed && new Set(changed.map((c) => `${c.roomId}\u0000${c.type}`));
  const rows = (await listAccountData(env.DB, userId)).filter((r) => !wanted || wanted.has(`${r.room_id}\u0000${r.type}`));
  const global: Array<{ type: string; content: unknown }> = [];
  const needsMembership = rows.some((r) => r.room_id !== "" && !(r.room_id in join));
  const joined = needsMembership ? new Set(await userStream(env, userId).joinedRooms()) : undefined;
  for (const r of rows) {
    const event = { type: r.type, content: JSON.parse(r.content) as unknown };
    if (r.room_id === "") {
      global.push(event);
      continue;
    }
    if (!roomIncluded(filter, r.room_id) || (!(r.room_id in join) && !joined?.has(r.room_id))) continue;
    const section = (join[r.room_id] ??= {
      timeline: { events: [], limited: false },
      state: { events: [] },
      ephemeral: { events: [] },
      account_data: { events: [] },
    }) as { account_data?: { events: unknown[] } };
    (section.account_data ??= { events: [] }).events.push(event);
  }
  return global;
}

async function postFilter(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  const target = param(req, "userId");
  if (!isUserId(target)) throw new MatrixError(400, "M_INVALID_PARAM", "Invalid user ID");
  if (target !== userId) throw forbidden("Cannot create filters for other users");
  const { body } = await readJsonBody(req, { maxBytes: 64 * 1024 });
  parseSyncFilter(body);
  const filterId = Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => b.toString(16).padStart(2, "0")).join("");
  await insertFilter(env.DB, userId, filterId, JSON.stringify(body), Date.now()).run();
  return json({ filter_id: filterId });
}

async function getFilterRoute(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  const target = param(req, "userId");
  if (target !== userId) throw forbidden("Cannot read other users' filters");
  const stored = await getFilter(env.DB, userId, param(req, "filterId"));
  if (stored === null) throw new MatrixError(404, "M_NOT_FOUND", "No such filter");
  return new Response(stored, { headers: { "content-type": "application/json" } });
}

async function joinedRooms(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  return json({ joined_rooms: await userStream(env, userId).joinedRooms() });
}

async function forget(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  const roomId = param(req, "roomId");
  await readJsonBody(req, { maxBytes: 4096, allowEmpty: true });
  const memberships = await userStream(env, userId).memberships();
  const m = memberships.find((r) => r.roomId === roomId);
  if (m && (m.membership === "join" || m.membership === "invite")) throw badJson("Leave the room before forgetting it");
  await userStream(env, userId).forget(roomId);
  return json({});
}

export function mountClientSync(t: RouteTable): void {
  mountSlidingSync(t);
  for (const p of PREFIXES) {
    t.add("get", `${p}/sync`, sync);
    t.add("post", `${p}/user/:userId/filter`, postFilter);
    t.add("get", `${p}/user/:userId/filter/:filterId`, getFilterRoute);
    t.add("get", `${p}/joined_rooms`, joinedRooms);
    t.add("post", `${p}/rooms/:roomId/forget`, forget);
  }
}
