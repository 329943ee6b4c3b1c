// A second converter for a paired room, on another Switchboard server. The hub's operator names that
// server in both rooms' pair events; that server's operator then has its service user join both
// rooms (LM room through its hub, Matrix room through any resident server), after which its
// converter carries the Matrix room's events into the LM room as the hub's does, and the hub's
// dedup table answers the second copy of each.

import { PAIR_EVENT, pairContent, parsePairing, MAX_CONVERTERS, type Pairing } from "../shared/converter/pairing.js";
import { serviceUserId } from "../shared/converter/ghost-user.js";
import { badJson, MatrixError, notFound } from "../shared/errors.js";
import type { Pdu } from "../shared/event.js";
import { isServerName, isUserId, serverNameOf } from "../shared/ids.js";
import { getRoomVersion } from "../shared/room-versions.js";
import { ADMIN_PREFIX, requireAdmin } from "./admin.js";
import type { RouteTable, SbRequest } from "./app.js";
import { roomIdParam, roomStub } from "./client-common.js";
import { json, readJsonBody } from "./http.js";
import { joinRemoteRoom } from "./remote-membership.js";

const BODY_LIMIT = { maxBytes: 4096 };

/** The pairings recorded in a room's current state, as this server holds it. */
async function pairingsIn(env: Env, roomId: string): Promise<Pairing[]> {
  const out: Pairing[] = [];
  for (const { json: j } of await roomStub(env, roomId).currentStateJson()) {
    const pdu = JSON.parse(j) as Pdu;
    if (pdu.type !== PAIR_EVENT || typeof pdu.state_key !== "string") continue;
    const parsed = parsePairing(pdu.state_key, pdu.content);
    if ("paired" in parsed && parsed.paired) out.push(parsed.pairing);
  }
  return out;
}

/** On the hub: names `server` as a converter of every pairing of LM room `roomId`, in both rooms. */
async function addConverter(env: Env, hub: string, roomId: string, userId: string, server: string): Promise<string[]> {
  const lm = roomStub(env, roomId);
  const info = await lm.info();
  if (!info || info.lastPos === 0) throw notFound("Room not known to this server");
  if (!getRoomVersion(info.version)?.linearized || info.hub !== hub) throw new MatrixError(400, "M_BAD_STATE", "Only an LM room this server orders names its converters");
  const pairings = await pairingsIn(env, roomId);
  if (pairings.length === 0) throw new MatrixError(400, "M_BAD_STATE", "The room is not paired");
  let converters: string[] = [];
  for (const p of pairings) {
    converters = p.converters.includes(server) ? p.converters : [...p.converters, server];
    if (converters.length > MAX_CONVERTERS) throw new MatrixError(400, "M_LIMIT_EXCEEDED", `A pairing names at most ${MAX_CONVERTERS} converters`);
    if (converters === p.converters) continue;
    // The LM side first: its auth rules decide whether this user may change the pairing.
    await lm.send(userId, { type: PAIR_EVENT, state_key: p.peerRoomId, content: pairContent({ peerRoomVersion: p.peerRoomVersion, converters }) }, undefined, true);
    await roomStub(env, p.peerRoomId).send(serviceUserId(hub), { type: PAIR_EVENT, state_key: roomId, content: pairContent({ peerRoomVersion: info.version, converters }) });
  }
  return converters;
}

/** On the second server: its service user joins LM room `roomId` through `via` and every paired room that names this server. */
async function joinAsConverter(env: Env, req: SbRequest, roomId: string, via: string): Promise<string[]> {
  const server = req.config.serverName;
  const service = serviceUserId(server);
  const joinIfNeeded = async (room: string) => {
    if ((await roomStub(env, room).membership(service)) !== "join") await joinRemoteRoom(env, req.config, service, room, via, {});
  };
  await joinIfNeeded(roomId);
  const named = (await pairingsIn(env, roomId)).filter((p) => p.converters.includes(server));
  if (named.length === 0) throw new MatrixError(403, "M_FORBIDDEN", `The room's pairing does not name ${server} as a converter`);
  for (const p of named) await joinIfNeeded(p.peerRoomId);
  return named.map((p) => p.peerRoomId);
}

export function mountConverterSecond(t: RouteTable): void {
  t.add("post", `${ADMIN_PREFIX}/rooms/:roomId/pair/converters`, async (req: SbRequest, env: Env) => {
    requireAdmin(req, env);
    const { body } = await readJsonBody(req, BODY_LIMIT);
    const { user_id: userId, server } = body as { user_id?: unknown; server?: unknown };
    if (!isUserId(userId) || serverNameOf(userId) !== req.config.serverName) throw badJson("user_id must name a local member of the room with the power to change its pairing");
    if (typeof server !== "string" || !isServerName(server)) throw badJson("server must be a server name");
    const converters = await addConverter(env, req.config.serverName, roomIdParam(req), userId, server);
    return json({ room_id: roomIdParam(req), converters });
  });

  t.add("post", `${ADMIN_PREFIX}/rooms/:roomId/converter/join`, async (req: SbRequest, env: Env) => {
    requireAdmin(req, env);
    const { body } = await readJsonBody(req, BODY_LIMIT);
    const via = (body as { via?: unknown }).via;
    if (typeof via !== "string" || !isServerName(via) || via === req.config.serverName) throw badJson("via must name the LM room's hub");
    const peers = await joinAsConverter(env, req, roomIdParam(req), via);
    return json({ room_id: roomIdParam(req), peer_room_ids: peers });
  });
}
