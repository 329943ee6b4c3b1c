// GET /rooms/{roomId}/hierarchy: a space and the rooms below it (m.space.child with `via`), walked
// breadth-first, each with its summary and its m.space.child events. Rooms this server holds are
// shown when the user is joined or may join or peek (public join rule, world-readable history);
// children only other servers hold are not fetched over federation yet, and are left out.

import type { Pdu } from "../shared/event.js";
import { MatrixError } from "../shared/errors.js";
import type { RouteTable, SbRequest } from "./app.js";
import { requireUser } from "./client-auth.js";
import { requireJoined, roomIdParam, roomStub } from "./client-common.js";
import { json } from "./http.js";
import { roomSummary } from "./room-summary.js";

const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 100;
const MAX_DEPTH = 10;
const MAX_ROOMS = 500;

function intParam(q: URLSearchParams, name: string, fallback: number, max: number): number {
  const raw = q.get(name);
  if (raw === null) return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) throw new MatrixError(400, "M_INVALID_PARAM", `${name} must be a non-negative integer`);
  return Math.min(n, max);
}

/** The room's valid m.space.child events (content.via a non-empty list), as stripped state. */
function childrenOf(state: Map<string, Pdu>, suggestedOnly: boolean): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const pdu of state.values()) {
    if (pdu.type !== "m.space.child" || pdu.state_key === undefined) continue;
    const via = pdu.content["via"];
    if (!Array.isArray(via) || via.length === 0) continue;
    if (suggestedOnly && pdu.content["suggested"] !== true) continue;
    out.push({ type: pdu.type, state_key: pdu.state_key, content: pdu.content, sender: pdu.sender, origin_server_ts: pdu.origin_server_ts });
  }
  return out.sort((a, b) => String(a["state_key"]).localeCompare(String(b["state_key"])));
}

async function hierarchy(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  const rootId = roomIdParam(req);
  const q = new URL(req.url).searchParams;
  const limit = Math.max(1, intParam(q, "limit", DEFAULT_LIMIT, MAX_LIMIT));
  const maxDepth = intParam(q, "max_depth", MAX_DEPTH, MAX_DEPTH);
  const suggestedOnly = q.get("suggested_only") === "true";
  const from = q.get("from");
  const m = from === null ? ["", "0"] : /^h(\d{1,6})$/.exec(from);
  if (!m) throw new MatrixError(400, "M_INVALID_PARAM", "from is not a token of this endpoint");
  const offset = Number(m[1]);
  await requireJoined(env, rootId, userId);

  // Breadth-first from the root; each room once. The walk is repeated per page: spaces are small.
  const rooms: Array<Record<string, unknown>> = [];
  const seen = new Set<string>([rootId]);
  let level: string[] = [rootId];
  for (let depth = 0; level.length > 0 && rooms.length < MAX_ROOMS; depth++) {
    const next: string[] = [];
    for (const roomId of level) {
      const stub = roomStub(env, roomId);
      const read = await roomSummary(stub, roomId);
      if (!read) continue;
      const { summary, state } = read;
      const joined = (await stub.membership(userId)) === "join";
      if (roomId !== rootId && !joined && summary.join_rule !== "public" && !summary.world_readable) continue;
      const children = childrenOf(state, suggestedOnly);
      rooms.push({ ...summary, children_state: children });
      if (depth >= maxDepth) continue;
      for (const c of children) {
        const child = c["state_key"] as string;
        if (!seen.has(child)) {
          seen.add(child);
          next.push(child);
        }
      }
    }
    level = next;
  }
  const page = rooms.slice(offset, offset + limit);
  return json(offset + limit < rooms.length ? { rooms: page, next_batch: `h${offset + limit}` } : { rooms: page });
}

// Literal paths: the fuzz test reads routes from source, and `V1` there names the federation prefix.
export function mountClientHierarchy(t: RouteTable): void {
  t.add("get", `/_matrix/client/v1/rooms/:roomId/hierarchy`, hierarchy);
}
