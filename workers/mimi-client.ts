// Client API for MIMI rooms (an unstable Switchboard extension; the Matrix client API has no words
// for MIMI): on a hub, a local user adds a MIMI provider's user to a room's participant list; on a
// follower, a local user opens the view of a room hosted on a MIMI hub (room/mimi-follower.ts) and
// relays a KeyMaterialRequest or GroupInfoRequest they signed to that room's hub. Everything else
// (sending, /sync, /messages) is the ordinary client API on the view room.

import { MatrixError } from "../shared/errors.js";
import { isUserId, serverNameOf } from "../shared/ids.js";
import { userUriOf } from "../shared/mimi-identifiers.js";
import { decodeKeyMaterialRequest } from "../shared/mimi/index.js";
import { viewRoomIdOf } from "../durable-objects/room/mimi-follower.js";
import type { RouteTable, SbRequest } from "./app.js";
import { requireUser } from "./client-auth.js";
import { roomIdParam, roomStub } from "./client-common.js";
import { json, readJsonBody } from "./http.js";
import { clientRelayBody, decodedOrThrow } from "./mimi-http.js";
import { clientGroupInfo } from "./mimi-client-group-info.js";
import { relayKeyMaterial } from "./mimi-outbound.js";

export const MIMI_CLIENT_PREFIX = "/_matrix/client/unstable/org.switchboard.mimi";
const SMALL_BODY = { maxBytes: 64 * 1024 };

/** Hub: `{user_id}` of a MIMI provider joins the room's participant list, added by the caller. */
async function addParticipant(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  const roomId = roomIdParam(req);
  const { body } = await readJsonBody(req, SMALL_BODY);
  const target = body["user_id"];
  if (!isUserId(target)) throw new MatrixError(400, "M_INVALID_PARAM", "user_id must be a user ID");
  const room = roomStub(env, roomId);
  if ((await room.membership(userId)) !== "join") throw new MatrixError(403, "M_FORBIDDEN", `${userId} is not in the room`);
  const out = await room.mimiAddParticipant(userId, target);
  if (!out.ok) throw new MatrixError(403, "M_FORBIDDEN", out.description);
  return json({ event_id: out.eventId });
}

/**
 * Hub: the room's MLS external sender for a joined member: the group's creator puts it in
 * external_senders with the first commit, and a client that missed the hub's proposals reads them here,
 * with the participant list (roles included) as those proposals make it.
 */
async function externalSender(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  const room = roomStub(env, roomIdParam(req));
  if ((await room.membership(userId)) !== "join") throw new MatrixError(403, "M_FORBIDDEN", `${userId} is not in the room`);
  const out = await room.mlsExternalSender();
  const participants = out.participants.map((p) => ({ user_id: p.userId, role_index: p.role }));
  return json({ external_sender: out.externalSender, installed: out.installed, pending_proposals: out.proposals, participants });
}

/** Follower: the caller joins the view of `roomId`, hosted on the MIMI hub that is the room ID's server. */
async function joinView(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  const roomId = roomIdParam(req);
  const hub = serverNameOf(roomId);
  if (hub === req.config.serverName) throw new MatrixError(400, "M_INVALID_PARAM", "That room is hosted here: join it directly");
  const viewId = await viewRoomIdOf(roomId, req.config.serverName);
  await roomStub(env, viewId).mimiFollow(viewId, hub, roomId, userId);
  return json({ room_id: viewId });
}

/** Follower: `{room_id, request}`, a base64 KeyMaterialRequest whose requestingUser is the caller, sent to the room's hub. */
async function keyMaterial(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  const { roomId, bytes } = await clientRelayBody(req);
  const request = decodedOrThrow(decodeKeyMaterialRequest(bytes));
  if (request.requestingUser !== userUriOf(userId)) throw new MatrixError(403, "M_FORBIDDEN", "requestingUser must be the caller");
  const out = await relayKeyMaterial(env, req.config, serverNameOf(roomId), request.targetUser, bytes);
  if (out.status !== 200 || out.response === undefined) throw new MatrixError(502, "M_UNKNOWN", `The hub answered ${out.status}${out.error ? `: ${out.error}` : ""}`);
  return json({ response: out.response });
}

export function mountMimiClient(t: RouteTable): void {
  t.add("post", `${MIMI_CLIENT_PREFIX}/rooms/:roomId/participants`, addParticipant);
  t.add("post", `${MIMI_CLIENT_PREFIX}/join/:roomId`, joinView);
  t.add("get", `${MIMI_CLIENT_PREFIX}/rooms/:roomId/external_sender`, externalSender);
  t.add("post", `${MIMI_CLIENT_PREFIX}/key_material`, keyMaterial);
  t.add("post", `${MIMI_CLIENT_PREFIX}/group_info`, clientGroupInfo);
}
