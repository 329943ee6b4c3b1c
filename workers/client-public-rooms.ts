// The public room directory: client GET/POST /publicRooms (this server's, or another server's over
// federation with `server`), federation GET/POST /_matrix/federation/v1/publicRooms, and a room's
// listing through GET/PUT /directory/list/room/{roomId}. Rooms are ordered by joined members.

import { badJson, MatrixError, notFound, forbidden } from "../shared/errors.js";
import { FEDERATION_V1 } from "../shared/federation-paths.js";
import { isServerName } from "../shared/ids.js";
import { sendLevel } from "../shared/power-levels.js";
import type { RouteTable, SbRequest } from "./app.js";
import { requireUser } from "./client-auth.js";
import { CLIENT_PREFIXES, roomIdParam, roomPower, roomStub } from "./client-common.js";
import { authenticateFederationRequest } from "./federation-auth.js";
import { federationRequest } from "./federation-request.js";
import { json, readJsonBody } from "./http.js";
import { remoteKeyStore } from "./remote-keys.js";
import { roomSummary, type RoomSummary } from "./room-summary.js";
import { isPublished, listPublished, publishRoom, unpublishRoom } from "./storage/room-directory.js";
import { getRoom } from "./storage/rooms.js";

const MAX_LISTED = 500;
const DEFAULT_LIMIT = 100;
const REMOTE_TIMEOUT_MS = 10_000;

interface Query {
  limit: number;
  offset: number;
  term?: string;
  /** Room types to include; null stands for rooms without a type. */
  roomTypes?: Array<string | null>;
}

function parseLimit(raw: unknown): number {
  if (raw === undefined || raw === null || raw === "") return DEFAULT_LIMIT;
  const n = typeof raw === "string" ? Number(raw) : raw;
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) throw new MatrixError(400, "M_INVALID_PARAM", "limit must be a non-negative integer");
  return Math.min(Math.max(n, 1), MAX_LISTED);
}

function parseSince(raw: unknown): number {
  if (raw === undefined || raw === null || raw === "") return 0;
  const m = typeof raw === "string" ? /^o(\d{1,6})$/.exec(raw) : null;
  if (!m) throw new MatrixError(400, "M_INVALID_PARAM", "since is not a token of this directory");
  return Number(m[1]);
}

function parseFilter(raw: unknown): Pick<Query, "term" | "roomTypes"> {
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== "object" || Array.isArray(raw)) throw badJson("filter must be an object");
  const { generic_search_term: term, room_types: types } = raw as Record<string, unknown>;
  if (term !== undefined && term !== null && (typeof term !== "string" || term.length > 1000)) throw badJson("filter.generic_search_term must be a string");
  if (types !== undefined && types !== null && (!Array.isArray(types) || !types.every((t) => t === null || typeof t === "string"))) throw badJson("filter.room_types must be a list of strings or null");
  return { ...(typeof term === "string" && term !== "" ? { term: term.toLowerCase() } : {}), ...(Array.isArray(types) ? { roomTypes: types as Array<string | null> } : {}) };
}

function matches(s: RoomSummary, q: Query): boolean {
  if (q.roomTypes && !q.roomTypes.includes(s.room_type ?? null)) return false;
  if (!q.term) return true;
  return [s.name, s.topic, s.canonical_alias].some((v) => v !== undefined && v.toLowerCase().includes(q.term as string));
}

/** This server's directory page. */
async function localDirectory(env: Env, q: Query) {
  const ids = await listPublished(env.DB, MAX_LISTED);
  const all = (await Promise.all(ids.map(async (id) => (await roomSummary(roomStub(env, id), id))?.summary))).filter((s): s is RoomSummary => s !== undefined);
  const listed = all.filter((s) => matches(s, q)).sort((a, b) => b.num_joined_members - a.num_joined_members || (a.room_id < b.room_id ? -1 : 1));
  const chunk = listed.slice(q.offset, q.offset + q.limit);
  const out: Record<string, unknown> = { chunk, total_room_count_estimate: listed.length };
  if (q.offset + q.limit < listed.length) out["next_batch"] = `o${q.offset + q.limit}`;
  if (q.offset > 0) out["prev_batch"] = `o${Math.max(0, q.offset - q.limit)}`;
  return out;
}

/** Another server's directory, asked over federation. */
async function remoteDirectory(req: SbRequest, server: string, body: Record<string, unknown> | undefined, q: URLSearchParams): Promise<Response> {
  if (!isServerName(server)) throw new MatrixError(400, "M_INVALID_PARAM", "server is not a server name");
  const res = body
    ? await federationRequest(req.config, undefined, server, "POST", `${FEDERATION_V1}/publicRooms`, body, REMOTE_TIMEOUT_MS)
    : await federationRequest(req.config, undefined, server, "GET", `${FEDERATION_V1}/publicRooms?${q.toString()}`, undefined, REMOTE_TIMEOUT_MS);
  if (res.status !== 200 || typeof res.body !== "object" || res.body === null) throw new MatrixError(404, "M_NOT_FOUND", `${server} did not answer with its room directory`);
  const remote = res.body as Record<string, unknown>;
  return json({ ...remote, chunk: Array.isArray(remote["chunk"]) ? remote["chunk"] : [] });
}

async function clientGet(req: SbRequest, env: Env): Promise<Response> {
  const q = new URL(req.url).searchParams;
  const query = { limit: parseLimit(q.get("limit")), offset: parseSince(q.get("since")) };
  const server = q.get("server");
  if (server && server !== req.config.serverName) {
    await requireUser(req, env);
    return remoteDirectory(req, server, undefined, new URLSearchParams(Object.entries({ limit: String(query.limit), ...(q.get("since") ? { since: q.get("since") as string } : {}) })));
  }
  return json(await localDirectory(env, query));
}

async function clientPost(req: SbRequest, env: Env): Promise<Response> {
  await requireUser(req, env);
  const { body } = await readJsonBody(req, { maxBytes: 16 * 1024 });
  const query: Query = { limit: parseLimit(body["limit"]), offset: parseSince(body["since"]), ...parseFilter(body["filter"]) };
  const server = new URL(req.url).searchParams.get("server");
  if (server && server !== req.config.serverName) return remoteDirectory(req, server, body, new URLSearchParams());
  return json(await localDirectory(env, query));
}

async function federationGet(req: SbRequest, env: Env): Promise<Response> {
  await authenticateFederationRequest(req, undefined, req.config, remoteKeyStore(env, req.config));
  const q = new URL(req.url).searchParams;
  return json(await localDirectory(env, { limit: parseLimit(q.get("limit")), offset: parseSince(q.get("since")) }));
}

async function federationPost(req: SbRequest, env: Env): Promise<Response> {
  const { body } = await readJsonBody(req, { maxBytes: 16 * 1024 });
  await authenticateFederationRequest(req, body, req.config, remoteKeyStore(env, req.config));
  return json(await localDirectory(env, { limit: parseLimit(body["limit"]), offset: parseSince(body["since"]), ...parseFilter(body["filter"]) }));
}

async function getVisibility(req: SbRequest, env: Env): Promise<Response> {
  const roomId = roomIdParam(req);
  if (!(await getRoom(env.DB, roomId))) throw notFound("Room not known to this server");
  return json({ visibility: (await isPublished(env.DB, roomId)) ? "public" : "private" });
}

/** Listing a room is for its members who may change its canonical alias (as Synapse decides it). */
async function putVisibility(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  const roomId = roomIdParam(req);
  const { body } = await readJsonBody(req, { maxBytes: 4096 });
  const visibility = body["visibility"] ?? "public";
  if (visibility !== "public" && visibility !== "private") throw badJson("visibility must be public or private");
  if (!(await getRoom(env.DB, roomId))) throw notFound("Room not known to this server");
  const stub = roomStub(env, roomId);
  if ((await stub.membership(userId)) !== "join") throw forbidden("Only members may list a room");
  const { level, levels } = await roomPower(stub, userId);
  if (level < sendLevel(levels, "m.room.canonical_alias", true)) throw forbidden("Your power level does not allow listing this room");
  await (visibility === "public" ? publishRoom(env.DB, roomId, Date.now()) : unpublishRoom(env.DB, roomId)).run();
  return json({});
}

export function mountClientPublicRooms(t: RouteTable): void {
  for (const p of CLIENT_PREFIXES) {
    t.add("get", `${p}/publicRooms`, clientGet);
    t.add("post", `${p}/publicRooms`, clientPost);
    t.add("get", `${p}/directory/list/room/:roomId`, getVisibility);
    t.add("put", `${p}/directory/list/room/:roomId`, putVisibility);
  }
  t.add("get", `${FEDERATION_V1}/publicRooms`, federationGet);
  t.add("post", `${FEDERATION_V1}/publicRooms`, federationPost);
}
