// Pairing an LM room hosted here with a new Matrix v12 room: a room member with the power to send
// the pair event asks (client API), or the operator does on their behalf (admin API, used by the
// CLI). The Matrix room is created by the hub's own service user, so no other server's admin can
// lock the converter out; both rooms record the pairing in an io.switchboard.pair state event, and
// the LM room's current members appear in the new room as ghosts. The new room starts with the LM
// room's encryption, and the service user gets the LM room's invite level from the pairing member.

import type { JsonObject } from "../shared/canonical-json.js";
import { planCreateRoom } from "../shared/create-room.js";
import { serviceUserId } from "../shared/converter/ghost-user.js";
import { PAIR_EVENT, pairContent } from "../shared/converter/pairing.js";
import { pairedEncryption } from "../shared/converter/paired-encryption.js";
import { serviceInviteGrant } from "../shared/converter/service-power.js";
import { badJson, MatrixError, notFound } from "../shared/errors.js";
import type { Pdu } from "../shared/event.js";
import { roomIdFromCreateEvent } from "../shared/hashes.js";
import { isUserId, serverNameOf } from "../shared/ids.js";
import { buildLocalPdu } from "../shared/local-event.js";
import { getRoomVersion, ROOM_VERSION_12 } from "../shared/room-versions.js";
import { ADMIN_PREFIX, requireAdmin } from "./admin.js";
import type { RouteTable, SbRequest } from "./app.js";
import { requireUser } from "./client-auth.js";
import { roomIdParam, roomStub } from "./client-common.js";
import type { Config } from "./config.js";
import { json, readJsonBody } from "./http.js";
import { insertRoom } from "./storage/rooms.js";

const BODY_LIMIT = { maxBytes: 4096 };

function presetOf(body: Record<string, unknown>): "private_chat" | "public_chat" {
  const preset = body.preset ?? "private_chat";
  if (preset !== "private_chat" && preset !== "public_chat") throw badJson("preset must be private_chat or public_chat");
  return preset;
}

/** Pairs LM room `roomId` with a new v12 room; `userId` (a local member) sends the LM side's pair event. */
export async function pairRoom(env: Env, config: Config, roomId: string, userId: string, preset: "private_chat" | "public_chat"): Promise<{ peerRoomId: string }> {
  const server = config.serverName;
  const lm = roomStub(env, roomId);
  const info = await lm.info();
  if (!info || info.lastPos === 0) throw notFound("Room not known to this server");
  if (!getRoomVersion(info.version)?.linearized || info.hub !== server) throw new MatrixError(400, "M_BAD_STATE", "Only an LM room this server orders can be paired");
  const lmState = (await lm.currentStateJson()).map(({ eventId, json: j }) => ({ eventId, json: j, pdu: JSON.parse(j) as Pdu }));
  const stateOf = (type: string) => lmState.find(({ pdu }) => pdu.type === type && pdu.state_key === "")?.pdu;
  if (lmState.some(({ pdu }) => pdu.type === PAIR_EVENT && Object.keys(pdu.content).length > 0)) throw new MatrixError(400, "M_BAD_STATE", "The room is already paired");

  const service = serviceUserId(server);
  // Checked before anything is written: a pairing whose ghosts could not be invited is refused whole.
  const grant = serviceInviteGrant(stateOf("m.room.power_levels")?.content, stateOf("m.room.create"), userId, service);
  if ("refused" in grant) throw new MatrixError(403, "M_FORBIDDEN", `Cannot pair the room: ${grant.refused}`);
  // The member who pairs moderates the Matrix side too (bans there cross as bans: docs/converter-membership.md).
  const powers = { users: { [userId]: 100 } };
  const encryption = pairedEncryption(stateOf("m.room.encryption")?.content, stateOf("m.room.create")?.content);
  const initial_state = encryption ? [{ type: "m.room.encryption", state_key: "", content: encryption }] : [];
  const plan = planCreateRoom({ room_version: ROOM_VERSION_12.id, preset, power_level_content_override: powers, initial_state }, service, new Set([ROOM_VERSION_12.id]), ROOM_VERSION_12.id);
  const create = plan.events[0];
  if (create?.type !== "m.room.create") throw new MatrixError(500, "M_UNKNOWN", "Room plan has no create event");
  const createTs = Date.now();
  const createPdu = await buildLocalPdu({ room_id: "", type: create.type, state_key: "", sender: service, origin_server_ts: createTs, content: create.content }, { authEvents: [], prevEvents: [], depth: 1 }, server, config.signingKey, ROOM_VERSION_12);
  const peerRoomId = await roomIdFromCreateEvent(createPdu);

  // The LM side first: its auth rules decide whether this user may pair the room at all.
  await lm.send(userId, { type: PAIR_EVENT, state_key: peerRoomId, content: pairContent({ peerRoomVersion: ROOM_VERSION_12.id, converters: [server] }) }, undefined, true);
  // The service user joins the LM room with the invite level, so it can invite ghosts where the join rules ask for it.
  if (grant.grant) await lm.send(userId, { type: "m.room.power_levels", state_key: "", content: grant.content }, undefined, true);
  if ((await lm.membership(service)) !== "join") {
    await lm.invite(userId, service, {});
    await lm.send(service, { type: "m.room.member", state_key: service, content: { membership: "join" } });
  }

  const mx = roomStub(env, peerRoomId);
  await mx.create(peerRoomId, ROOM_VERSION_12.id, service, plan.events, createTs);
  await env.DB.batch([insertRoom(env.DB, { room_id: peerRoomId, room_version: ROOM_VERSION_12.id, hub_server: server, creator: service, created_ts: Date.now() })]);
  await mx.send(service, { type: PAIR_EVENT, state_key: roomId, content: pairContent({ peerRoomVersion: info.version, converters: [server] }) });

  // Members already in the LM room join the Matrix room as ghosts (or as themselves when local).
  for (const { eventId, json: j } of await lm.currentStateJson()) {
    const pdu = JSON.parse(j) as Pdu;
    if (pdu.type !== "m.room.member" || pdu.content.membership !== "join" || pdu.state_key === service) continue;
    await mx.importConverted({ sourceRoomId: roomId, sourceVersion: info.version, eventId, pduJson: j });
  }
  return { peerRoomId };
}

export function mountConverterPairing(t: RouteTable): void {
  t.add("post", "/_matrix/client/unstable/io.switchboard/rooms/:roomId/pair", async (req: SbRequest, env: Env) => {
    const { userId } = await requireUser(req, env);
    const { body } = await readJsonBody(req, BODY_LIMIT);
    const { peerRoomId } = await pairRoom(env, req.config, roomIdParam(req), userId, presetOf(body));
    return json({ room_id: roomIdParam(req), peer_room_id: peerRoomId });
  });

  t.add("post", `${ADMIN_PREFIX}/rooms/:roomId/pair`, async (req: SbRequest, env: Env) => {
    requireAdmin(req, env);
    const { body } = await readJsonBody(req, BODY_LIMIT);
    const userId = (body as JsonObject).user_id;
    if (!isUserId(userId) || serverNameOf(userId) !== req.config.serverName) throw badJson("user_id must name a local member of the room with the power to pair it");
    const { peerRoomId } = await pairRoom(env, req.config, roomIdParam(req), userId, presetOf(body));
    return json({ room_id: roomIdParam(req), peer_room_id: peerRoomId });
  });
}
