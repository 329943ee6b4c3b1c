// Operator API for the admin CLI and tests: rooms, raw stored events, state and delivery queues.
// Guarded by the ADMIN_TOKEN secret (Bearer); disabled when it is unset.

import { forbidden, MatrixError, notFound } from "../shared/errors.js";
import { isRoomId, isServerName } from "../shared/ids.js";
import type { RouteTable, SbRequest } from "./app.js";
import { json } from "./http.js";
import { hubRoomIds, listRooms } from "./storage/rooms.js";

export const ADMIN_PREFIX = "/_switchboard/admin/v1";

function constantTimeEquals(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

export function requireAdmin(req: SbRequest, env: Env): void {
  const expected = env.ADMIN_TOKEN;
  if (!expected) throw forbidden("The admin API is disabled (ADMIN_TOKEN is not set)");
  const m = /^Bearer\s+(\S+)$/i.exec(req.headers.get("authorization") ?? "");
  if (!m) throw new MatrixError(401, "M_MISSING_TOKEN", "Admin token required");
  if (!constantTimeEquals(m[1] as string, expected)) throw new MatrixError(401, "M_UNKNOWN_TOKEN", "Wrong admin token");
}

/** A percent-decoded path parameter; malformed encoding is a 400, not a crash. */
function decodedParam(req: SbRequest, name: string): string {
  try {
    return decodeURIComponent((req.params as Record<string, string>)[name] ?? "");
  } catch {
    throw new MatrixError(400, "M_INVALID_PARAM", `${name} is not valid percent-encoding`);
  }
}

function roomParam(req: SbRequest): string {
  const roomId = decodedParam(req, "roomId");
  if (!isRoomId(roomId)) throw new MatrixError(400, "M_INVALID_PARAM", "Invalid room ID");
  return roomId;
}

export function mountAdmin(t: RouteTable): void {
  t.add("get", `${ADMIN_PREFIX}/rooms`, async (req, env) => {
    requireAdmin(req, env);
    const q = new URL(req.url).searchParams;
    const limit = Math.min(Math.max(Number(q.get("limit") ?? "100") || 100, 1), 1000);
    const rooms = await listRooms(env.DB, limit, Number(q.get("after_ts") ?? "0") || 0);
    return json({ rooms });
  });

  t.add("get", `${ADMIN_PREFIX}/rooms/:roomId`, async (req, env) => {
    requireAdmin(req, env);
    const stub = env.ROOM.get(env.ROOM.idFromName(roomParam(req)));
    const info = await stub.info();
    if (!info) throw notFound("Room not known here");
    return json({ ...info, outbox: await stub.outboxStatus() });
  });

  t.add("get", `${ADMIN_PREFIX}/rooms/:roomId/events`, async (req, env) => {
    requireAdmin(req, env);
    const stub = env.ROOM.get(env.ROOM.idFromName(roomParam(req)));
    if (!(await stub.info())) throw notFound("Room not known here");
    const q = new URL(req.url).searchParams;
    const from = Number(q.get("from") ?? "0") || 0;
    const limit = Math.min(Math.max(Number(q.get("limit") ?? "500") || 500, 1), 1000);
    const events = await stub.timeline({ from, dir: "f", limit });
    const body = `{"events":[${events.map((e) => `{"pos":${e.pos},"event_id":${JSON.stringify(e.eventId)},"pdu":${e.json}}`).join(",")}]}`;
    return new Response(body, { headers: { "content-type": "application/json" } });
  });

  t.add("get", `${ADMIN_PREFIX}/rooms/:roomId/state`, async (req, env) => {
    requireAdmin(req, env);
    const stub = env.ROOM.get(env.ROOM.idFromName(roomParam(req)));
    if (!(await stub.info())) throw notFound("Room not known here");
    const state = await stub.currentStateJson();
    const body = `{"state":[${state.map((e) => `{"event_id":${JSON.stringify(e.eventId)},"pdu":${e.json}}`).join(",")}]}`;
    return new Response(body, { headers: { "content-type": "application/json" } });
  });

  // The room's MLS roster as this server keeps it (null: no group yet, or a participant not following it).
  t.add("get", `${ADMIN_PREFIX}/rooms/:roomId/mls`, async (req, env) => {
    requireAdmin(req, env);
    const stub = env.ROOM.get(env.ROOM.idFromName(roomParam(req)));
    if (!(await stub.info())) throw notFound("Room not known here");
    return json({ roster: (await stub.mlsStatus()) ?? null });
  });

  t.add("get", `${ADMIN_PREFIX}/destinations/:server`, async (req, env) => {
    requireAdmin(req, env);
    const server = decodedParam(req, "server");
    if (!isServerName(server)) throw new MatrixError(400, "M_INVALID_PARAM", "Invalid server name");
    const [status, owed] = await Promise.all([env.DESTINATION.get(env.DESTINATION.idFromName(server)).status(), eventsOwed(env, req.config.serverName, server)]);
    // A queue that has never been used has not stored the name it serves.
    return json({ ...status, destination: server, lastError: describeDeliveryError(status.lastError), ...owed });
  });
}

/** Hub rooms asked per destination status, at most; a larger deployment's figure is marked partial. */
const MAX_ROOMS_ASKED = 5_000;
const ROOMS_ASKED_AT_ONCE = 16;

/**
 * What the hub rooms still owe `destination`, per room: the counts `GET /rooms/:roomId` shows. The
 * queue itself holds only the transaction it is sending and the items with no other home (LPDUs,
 * EDUs); hub rooms' events wait in each room's outbox until the queue reports them delivered.
 */
async function eventsOwed(env: Env, self: string, destination: string): Promise<{ pendingEvents: number; pendingByRoom: Array<{ roomId: string; count: number }>; pendingPartial: boolean }> {
  const pendingByRoom: Array<{ roomId: string; count: number }> = [];
  let after = "";
  for (let asked = 0; ; ) {
    if (asked >= MAX_ROOMS_ASKED) {
      const more = (await hubRoomIds(env.DB, self, after, 1)).length > 0;
      return { pendingEvents: sum(pendingByRoom), pendingByRoom, pendingPartial: more };
    }
    const ids = await hubRoomIds(env.DB, self, after, Math.min(ROOMS_ASKED_AT_ONCE * 8, MAX_ROOMS_ASKED - asked));
    for (let i = 0; i < ids.length; i += ROOMS_ASKED_AT_ONCE) {
      const batch = ids.slice(i, i + ROOMS_ASKED_AT_ONCE);
      const outboxes = await Promise.all(batch.map((id) => env.ROOM.get(env.ROOM.idFromName(id)).outboxStatus()));
      for (const [j, outbox] of outboxes.entries()) {
        const count = outbox.find((o) => o.destination === destination)?.count ?? 0;
        if (count > 0) pendingByRoom.push({ roomId: batch[j] as string, count });
      }
    }
    const last = ids[ids.length - 1];
    if (last === undefined) return { pendingEvents: sum(pendingByRoom), pendingByRoom, pendingPartial: false };
    asked += ids.length;
    after = last;
  }
}

const sum = (rows: Array<{ count: number }>) => rows.reduce((n, r) => n + r.count, 0);

/** The queue records "HTTP 0: <body>" when no answer arrived at all: say that in words. */
export function describeDeliveryError(error: string | null): string | null {
  const m = error === null ? null : /^HTTP 0: (.*)$/s.exec(error);
  if (!m) return error;
  try {
    const body = JSON.parse(m[1] as string) as { error?: unknown };
    if (typeof body.error === "string") return `no answer: ${body.error}`;
  } catch {
    // Cut short by the queue's length limit: fall through.
  }
  return `no answer: ${m[1]}`;
}
