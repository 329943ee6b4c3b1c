// POST /user_directory/search, as Synapse does by default: the users who share a room with the
// searcher, and the members of rooms in the public directory, matched case-insensitively on user ID
// and display name. Names and avatars come from the users' member events in those rooms.

import type { Pdu } from "../shared/event.js";
import { badJson } from "../shared/errors.js";
import type { RouteTable, SbRequest } from "./app.js";
import { requireUser } from "./client-auth.js";
import { CLIENT_PREFIXES, roomStub, userStream } from "./client-common.js";
import { json, readJsonBody } from "./http.js";
import { listPublished } from "./storage/room-directory.js";

const DEFAULT_LIMIT = 10;
const MAX_LIMIT = 100;
/** Rooms read per search: the searcher's and the public ones, most of either. */
const MAX_ROOMS = 200;

interface Entry {
  user_id: string;
  display_name?: string;
  avatar_url?: string;
}

/** Joined members of a room with what their member events say about them. */
async function membersOf(env: Env, roomId: string): Promise<Entry[]> {
  let rows: Array<{ json: string }>;
  try {
    rows = await roomStub(env, roomId).currentStateJson("client");
  } catch {
    return [];
  }
  const out: Entry[] = [];
  for (const r of rows) {
    const pdu = JSON.parse(r.json) as Pdu;
    if (pdu.type !== "m.room.member" || pdu.content["membership"] !== "join" || pdu.state_key === undefined) continue;
    const name = pdu.content["displayname"];
    const avatar = pdu.content["avatar_url"];
    out.push({ user_id: pdu.state_key, ...(typeof name === "string" && name !== "" ? { display_name: name } : {}), ...(typeof avatar === "string" && avatar !== "" ? { avatar_url: avatar } : {}) });
  }
  return out;
}

async function search(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  const { body } = await readJsonBody(req, { maxBytes: 8 * 1024 });
  const term = body["search_term"];
  if (typeof term !== "string" || term.length > 1000) throw badJson("search_term must be a string");
  const rawLimit = body["limit"] ?? DEFAULT_LIMIT;
  if (typeof rawLimit !== "number" || !Number.isSafeInteger(rawLimit) || rawLimit < 0) throw badJson("limit must be a non-negative integer");
  const limit = Math.min(rawLimit, MAX_LIMIT);
  const [mine, published] = await Promise.all([userStream(env, userId).joinedRooms(), listPublished(env.DB, MAX_ROOMS)]);
  const rooms = [...new Set([...mine, ...published])].slice(0, MAX_ROOMS);
  const words = term.toLowerCase().split(/\s+/).filter((w) => w !== "");
  const found = new Map<string, Entry>();
  for (const members of await Promise.all(rooms.map((r) => membersOf(env, r)))) {
    for (const m of members) {
      const hay = `${m.user_id} ${m.display_name ?? ""}`.toLowerCase();
      if (words.every((w) => hay.includes(w)) && !found.has(m.user_id)) found.set(m.user_id, m);
    }
  }
  // Display names first (people search by name), then by user ID, so answers are stable.
  const results = [...found.values()].sort((a, b) => (a.display_name ?? a.user_id).localeCompare(b.display_name ?? b.user_id) || a.user_id.localeCompare(b.user_id));
  return json({ results: results.slice(0, limit), limited: results.length > limit });
}

export function mountClientUserDirectory(t: RouteTable): void {
  for (const p of CLIENT_PREFIXES) t.add("post", `${p}/user_directory/search`, search);
}
