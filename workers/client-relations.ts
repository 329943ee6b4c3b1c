// Client-server relations and threads: GET /rooms/{roomId}/relations/{eventId}[/{relType}[/{eventType}]]
// (an event's children, paginated), GET /rooms/{roomId}/threads (thread roots by latest activity), and
// the thread summary bundled into a root's `unsigned.m.relations.m.thread`, which clients read to show
// a thread without fetching it. The caller must be joined to the room.

import type { ClientEvent } from "../shared/client-event.js";
import { MatrixError } from "../shared/errors.js";
import { isEventId } from "../shared/ids.js";
import type { RouteTable, SbRequest } from "./app.js";
import { requireUser } from "./client-auth.js";
import { clientEventOf, param, requireJoined, roomIdParam, type RoomStub } from "./client-common.js";
import { json } from "./http.js";

const DEFAULT_LIMIT = 20;
const MAX_LIMIT = 100;

/** Adds the thread summaries of those events that are thread roots (they are changed in place). */
export async function bundleThreads(stub: RoomStub, userId: string, roomId: string, events: ClientEvent[]): Promise<ClientEvent[]> {
  if (events.length === 0) return events;
  const summaries = await stub.threadSummaries(events.map((e) => e.event_id), userId);
  const now = Date.now();
  for (const e of events) {
    const s = summaries[e.event_id];
    if (!s) continue;
    const relations = (e.unsigned["m.relations"] as Record<string, unknown> | undefined) ?? {};
    e.unsigned["m.relations"] = { ...relations, "m.thread": { latest_event: clientEventOf(s.latest.json, s.latest.eventId, roomId, now), count: s.count, current_user_participated: s.participated } };
  }
  return events;
}

function limitParam(q: URLSearchParams): number {
  const raw = q.get("limit");
  if (raw === null) return DEFAULT_LIMIT;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) throw new MatrixError(400, "M_INVALID_PARAM", "limit must be a non-negative integer");
  return Math.max(1, Math.min(n, MAX_LIMIT));
}

/** Pagination tokens of these endpoints: a letter and a timeline position. */
function tokenParam(q: URLSearchParams, name: string, letter: string): number | undefined {
  const raw = q.get(name);
  if (raw === null || raw === "") return undefined;
  const m = new RegExp(`^${letter}(\\d{1,15})$`).exec(raw);
  if (!m) throw new MatrixError(400, "M_INVALID_PARAM", `${name} is not a token of this endpoint`);
  return Number(m[1]);
}

async function relations(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  const roomId = roomIdParam(req);
  const parentId = param(req, "eventId");
  if (!isEventId(parentId)) throw new MatrixError(400, "M_INVALID_PARAM", "Invalid event ID");
  const params = req.params as Record<string, string | undefined>;
  const relType = params["relType"] === undefined ? undefined : param(req, "relType");
  const eventType = params["eventType"] === undefined ? undefined : param(req, "eventType");
  const q = new URL(req.url).searchParams;
  const dir = q.get("dir") ?? "b";
  if (dir !== "b" && dir !== "f") throw new MatrixError(400, "M_INVALID_PARAM", "dir must be b or f");
  const limit = limitParam(q);
  const from = tokenParam(q, "from", "r");
  const to = tokenParam(q, "to", "r");
  const stub = await requireJoined(env, roomId, userId);
  const page = await stub.relations({ parentId, dir, limit, ...(relType !== undefined ? { relType } : {}), ...(eventType !== undefined ? { eventType } : {}), ...(from !== undefined ? { from } : {}), ...(to !== undefined ? { to } : {}) });
  const now = Date.now();
  const chunk = await bundleThreads(stub, userId, roomId, page.map((e) => clientEventOf(e.json, e.eventId, roomId, now)));
  const last = page[page.length - 1];
  const out: Record<string, unknown> = { chunk };
  if (page.length === limit && last) out["next_batch"] = `r${last.pos}`;
  if (q.get("from")) out["prev_batch"] = q.get("from");
  return json(out);
}

async function threads(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  const roomId = roomIdParam(req);
  const q = new URL(req.url).searchParams;
  const include = q.get("include") ?? "all";
  if (include !== "all" && include !== "participated") throw new MatrixError(400, "M_INVALID_PARAM", "include must be all or participated");
  const limit = limitParam(q);
  const before = tokenParam(q, "from", "t");
  const stub = await requireJoined(env, roomId, userId);
  const page = await stub.threadRoots({ limit, ...(before !== undefined ? { before } : {}), ...(include === "participated" ? { participant: userId } : {}) });
  const now = Date.now();
  const chunk = await bundleThreads(stub, userId, roomId, page.events.map((e) => clientEventOf(e.json, e.eventId, roomId, now)));
  return json(page.next !== undefined ? { chunk, next_batch: `t${page.next}` } : { chunk });
}

// Literal paths: the fuzz test reads routes from source, and `V1` there names the federation prefix.
export function mountClientRelations(t: RouteTable): void {
  t.add("get", `/_matrix/client/v1/rooms/:roomId/relations/:eventId`, relations);
  t.add("get", `/_matrix/client/v1/rooms/:roomId/relations/:eventId/:relType`, relations);
  t.add("get", `/_matrix/client/v1/rooms/:roomId/relations/:eventId/:relType/:eventType`, relations);
  t.add("get", `/_matrix/client/v1/rooms/:roomId/threads`, threads);
}
