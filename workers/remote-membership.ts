// Joining, knocking on, or rejecting an invite to a room hosted elsewhere: the draft's make_X /
// send_X handshake with the hub, run from the Worker (it has the key cache to verify the answer).

import { badJson, forbidden, MatrixError } from "../shared/errors.js";
import { checkAuthChain } from "../shared/auth-chain.js";
import type { Pdu } from "../shared/event.js";
import { eventIdOf } from "../shared/hashes.js";
import { isRoomId, serverNameOf } from "../shared/ids.js";
import { buildLpdu } from "../shared/lpdu.js";
import { getRoomVersion, REMOTE_JOIN_ROOM_VERSION_IDS } from "../shared/room-versions.js";
import type { RoomVersion } from "../shared/room-version.js";
import { buildLocalPdu } from "../shared/local-event.js";
import type { Config } from "./config.js";
import { checkInboundPdu } from "./event-checks.js";
import { LM_PREFIX } from "../shared/federation-paths.js";
import { federationRequest, type FederationResponse } from "./federation-request.js";
import { remoteKeyStore } from "./remote-keys.js";
import { insertRoom } from "./storage/rooms.js";

type Membership = "join" | "leave" | "knock";

function remoteError(what: string, res: FederationResponse): MatrixError {
  const body = res.body as { errcode?: unknown; error?: unknown } | null;
  const errcode = typeof body?.errcode === "string" ? body.errcode : "M_UNKNOWN";
  const error = typeof body?.error === "string" ? body.error : `HTTP ${res.status}`;
  if (res.status === 403) return forbidden(`${what}: ${error}`);
  if (res.status === 404) return new MatrixError(404, "M_NOT_FOUND", `${what}: ${error}`);
  if (errcode === "M_INCOMPATIBLE_ROOM_VERSION") return new MatrixError(400, "M_INCOMPATIBLE_ROOM_VERSION", `${what}: ${error}`);
  // Restricted rooms: the client is told why, and the join loop tries the next resident server.
  if (res.status === 400 && (errcode === "M_UNABLE_TO_AUTHORISE_JOIN" || errcode === "M_UNABLE_TO_GRANT_JOIN")) return new MatrixError(400, errcode, `${what}: ${error}`);
  return new MatrixError(502, "M_UNKNOWN", `${what} failed (${res.status} ${errcode}): ${error}`);
}

/** make_X then send_X with `hub`; returns the send_X answer and the LPDU's room version. */
async function handshake(
  config: Config,
  hub: string,
  roomId: string,
  userId: string,
  membership: Membership,
  extraContent: Record<string, unknown>,
): Promise<{ answer: unknown; versionId: string }> {
  const ver = REMOTE_JOIN_ROOM_VERSION_IDS.map((v) => `ver=${encodeURIComponent(v)}`).join("&");
  const make = await federationRequest(
    config,
    undefined,
    hub,
    "GET",
    `/_matrix/federation/v1/make_${membership}/${encodeURIComponent(roomId)}/${encodeURIComponent(userId)}?${ver}`,
  );
  if (make.status !== 200) throw remoteError(`make_${membership} at ${hub}`, make);
  const body = make.body as Record<string, unknown>;
  const template = (typeof body["event"] === "object" && body["event"] !== null ? body["event"] : body) as Record<string, unknown>;
  const versionId = typeof body["room_version"] === "string" ? body["room_version"] : "";
  const version = getRoomVersion(versionId);
  if (!version) throw new MatrixError(400, "M_INCOMPATIBLE_ROOM_VERSION", `Room version ${versionId} is not supported`);
  if (template["type"] !== "m.room.member" || template["state_key"] !== userId || template["sender"] !== userId) {
    throw new MatrixError(502, "M_UNKNOWN", `make_${membership} at ${hub} returned a template for something else`);
  }
  const content = { ...(template["content"] as Record<string, unknown>), ...extraContent, membership };
  if (!version.linearized) return { answer: await sendDagMembership(config, hub, roomId, userId, membership, template, content, version), versionId };
  const lpdu = await buildLpdu(
    { room_id: roomId, type: "m.room.member", state_key: userId, sender: userId, origin_server_ts: Date.now(), content: content as never },
    config.signingKey,
    hub,
  );
  const txnId = (await eventIdOf(lpdu, version)).slice(1);
  const send = await federationRequest(config, undefined, hub, "POST", `${LM_PREFIX}/send_${membership}/${encodeURIComponent(txnId)}`, lpdu);
  if (send.status !== 200) throw remoteError(`send_${membership} at ${hub}`, send);
  return { answer: send.body, versionId };
}

/**
 * Full-mesh rooms: our user's membership event built on the template's parents and auth events,
 * signed by us, sent with v2 send_join/send_leave (v1 send_knock). The join answer gets the event
 * itself when the resident server does not echo it.
 */
async function sendDagMembership(
  config: Config,
  server: string,
  roomId: string,
  userId: string,
  membership: Membership,
  template: Record<string, unknown>,
  content: Record<string, unknown>,
  version: RoomVersion,
): Promise<unknown> {
  const ids = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : []);
  const depth = typeof template["depth"] === "number" && Number.isSafeInteger(template["depth"]) ? template["depth"] : 1;
  const fields = { room_id: roomId, type: "m.room.member", state_key: userId, sender: userId, origin_server_ts: Date.now(), content: content as never };
  const pdu = await buildLocalPdu(fields, { authEvents: ids(template["auth_events"]), prevEvents: ids(template["prev_events"]), depth }, config.serverName, config.signingKey, version);
  const eventId = await eventIdOf(pdu, version);
  const path = `/_matrix/federation/${membership === "knock" ? "v1" : "v2"}/send_${membership}/${encodeURIComponent(roomId)}/${encodeURIComponent(eventId)}`;
  const send = await federationRequest(config, undefined, server, "PUT", membership === "join" ? `${path}?omit_members=false` : path, pdu);
  if (send.status !== 200) throw remoteError(`send_${membership} at ${server}`, send);
  const answer = send.body as Record<string, unknown> | null;
  if (membership !== "join" || !answer || typeof answer !== "object") return answer;
  // A restricted join comes back signed by the authorising server too; that copy is the one to keep,
  // but only if it is the event we sent.
  const echoed = answer["event"];
  if (echoed !== undefined && !(await isSameEvent(echoed, eventId, version))) throw new MatrixError(502, "M_UNKNOWN", `send_join at ${server} answered with another event than the join sent`);
  return { ...answer, event: echoed ?? pdu };
}

async function isSameEvent(raw: unknown, eventId: string, version: RoomVersion): Promise<boolean> {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return false;
  try {
    return (await eventIdOf(raw as Pdu, version)) === eventId;
  } catch {
    return false;
  }
}

/** Joins a local user to a room hosted by `hub`, initialising our replica from the answer. */
export async function joinRemoteRoom(env: Env, config: Config, userId: string, roomId: string, hub: string, extraContent: Record<string, unknown>): Promise<string> {
  if (!isRoomId(roomId)) throw new MatrixError(400, "M_INVALID_PARAM", "Invalid room ID");
  const room = env.ROOM.get(env.ROOM.idFromName(roomId));
  await room.beginJoin(hub);
  const { answer, versionId } = await handshake(config, hub, roomId, userId, "join", extraContent);
  const version = getRoomVersion(versionId);
  if (!version) throw new MatrixError(400, "M_INCOMPATIBLE_ROOM_VERSION", "Unsupported room version");
  const a = answer as { state?: unknown; auth_chain?: unknown; event?: unknown };
  if (!Array.isArray(a.state) || typeof a.event !== "object" || a.event === null) throw badJson(`send_join answer from ${hub} is malformed`);
  const keys = remoteKeyStore(env, config, { notaries: [hub] });
  const [state, authChain, event] = await Promise.all([
    Promise.all(a.state.map((e) => checkInboundPdu(e, version, keys, config.serverName))),
    Promise.all((Array.isArray(a.auth_chain) ? a.auth_chain : []).map((e) => checkInboundPdu(e, version, keys, config.serverName))),
    checkInboundPdu(a.event, version, keys, config.serverName),
  ]);
  if (event.hub_server !== undefined && event.hub_server !== hub) throw forbidden("Join event completed by a server that is not the hub");
  const create = state.find((e: Pdu) => e.type === "m.room.create");
  // Any resident server may answer for a full-mesh room; an LM room's answer must come from its hub.
  if (!create || (version.linearized && serverNameOf(create.sender) !== hub)) throw forbidden(`${hub} is not the hub of ${roomId}`);
  // The answer must be about this room, and its create event must pass the auth rules (LM rule 3.2:
  // the room ID belongs to the creator's server; checked below with the rest of the chain). Otherwise
  // any server asked could answer for a room ID that is not its own and become that room's hub here.
  if ([event, ...state, ...authChain].some((e) => e.room_id !== roomId && !(e.type === "m.room.create" && version.roomIdFromCreateEvent && e.room_id === undefined))) throw forbidden(`The send_join answer from ${hub} holds events of another room`);
  // Every state and auth-chain event must pass the auth rules against its own auth events, which
  // the answer must carry: the replica starts from this state and judges the hub's later events by it.
  const identified = (list: Pdu[]) => Promise.all(list.map(async (pdu) => ({ eventId: await eventIdOf(pdu, version), pdu })));
  const [stateWithIds, authChainWithIds] = await Promise.all([identified(state), identified(authChain)]);
  const byId = new Map([...authChainWithIds, ...stateWithIds].map((e) => [e.eventId, e.pdu] as const));
  const failure = checkAuthChain(version, byId);
  if (failure) throw forbidden(`The send_join answer from ${hub} for ${roomId} fails auth: event ${failure.eventId} (rule ${failure.rule}: ${failure.reason})`);
  const { eventId } = await room.initFromJoin({ roomId, version: versionId, hub, state: stateWithIds, authChain: authChainWithIds, event });
  await insertRoom(env.DB, { room_id: roomId, room_version: versionId, hub_server: hub, creator: create.sender, created_ts: Date.now() }).run();
  return eventId;
}

/** Rejects an invite (or retracts a knock) for a room we do not participate in. */
export async function leaveRemoteRoom(env: Env, config: Config, userId: string, roomId: string, hub: string): Promise<void> {
  await handshake(config, hub, roomId, userId, "leave", {});
  await env.ROOM.get(env.ROOM.idFromName(roomId)).forgetInvite(userId);
}

/** Knocks on a room hosted by `hub`. */
export async function knockRemoteRoom(env: Env, config: Config, userId: string, roomId: string, hub: string, reason?: string): Promise<void> {
  await handshake(config, hub, roomId, userId, "knock", reason === undefined ? {} : { reason });
}
