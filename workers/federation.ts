// Federation endpoints of draft-ralston-mimi-linearized-matrix-04, on the paths docs/architecture.md
// "Federation paths" describes (the draft's v2/v3 endpoints under LM_PREFIX; v1 endpoints unchanged). Matrix-style
// aliases of the same endpoints are served too, so peers that still use them interoperate.

import { badJson, forbidden, limitExceeded, MatrixError, notFound } from "../shared/errors.js";
import type { Pdu } from "../shared/event.js";
import { isLpdu } from "../shared/event.js";
import { eventIdOf } from "../shared/hashes.js";
import { isEventId, isRoomId, isUserId, serverNameOf } from "../shared/ids.js";
import { LM_ROOM_VERSION, LM_ROOM_VERSION_ID, getRoomVersion } from "../shared/room-versions.js";
import type { RoomVersion } from "../shared/room-version.js";
import { signJson } from "../shared/signed-json.js";
import { parseRateLimits } from "../shared/token-bucket.js";
import type { FailedPdus } from "../durable-objects/room.js";
import type { InboundItem } from "../durable-objects/inbox.js";
import type { RouteTable, SbRequest } from "./app.js";
import { asLpdu, checkInboundLpdu, checkInboundPdu } from "./event-checks.js";
import { handleEphemeralEdus } from "./federation-ephemeral.js";
import { handleE2eeEdus } from "./federation-keys.js";
import { dagEventResponse, dagSendMembership, mountFederationDag, roomVersionsOf } from "./federation-dag.js";
import { authenticateFederationRequest } from "./federation-auth.js";
import { FEDERATION_V1, FEDERATION_V2, FEDERATION_V3, LM_PREFIX } from "../shared/federation-paths.js";
import { json, readJsonBody , pathParam } from "./http.js";
import { remoteKeyStore } from "./remote-keys.js";
import { getUser } from "./storage/users.js";

const V1 = FEDERATION_V1;
const V2 = FEDERATION_V2;
const V3 = FEDERATION_V3;

const MAX_TXN_BYTES = 4 * 1024 * 1024;
const MAX_EVENT_BODY_BYTES = 160 * 1024;
const MAX_INVITE_BODY_BYTES = 512 * 1024;
const MAX_PDUS = 50;
const MAX_EDUS = 100;
const MAX_BACKFILL = 100;

interface Authed {
  origin: string;
  body: Record<string, unknown>;
}

async function authed(req: SbRequest, env: Env, maxBytes?: number): Promise<Authed> {
  let body: Record<string, unknown> = {};
  let content: unknown;
  if (maxBytes !== undefined) {
    body = (await readJsonBody(req, { maxBytes })).body;
    content = body;
  }
  const origin = await authenticateFederationRequest(req, content, req.config, remoteKeyStore(env, req.config));
  return { origin, body };
}

/** Authenticated, and charged to the origin's request rate (every endpoint but /send, which the Inbox meters by PDU). */
export async function authedLimited(req: SbRequest, env: Env, maxBytes?: number): Promise<Authed> {
  const a = await authed(req, env, maxBytes);
  const { serverRequests } = parseRateLimits(env.RATE_LIMITS);
  const verdict = await env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(`server:${a.origin}`)).take(`server:${a.origin}`, serverRequests.capacity, serverRequests.refillPerSecond);
  if (!verdict.ok) throw limitExceeded(verdict.retryAfterMs);
  return a;
}

function room(env: Env, roomId: string) {
  return env.ROOM.get(env.ROOM.idFromName(roomId));
}

function queryAll(req: SbRequest, name: string): string[] {
  return new URL(req.url).searchParams.getAll(name);
}

/** The room must be one we host; participants answer 400 M_WRONG_SERVER (draft, make_* and state). */
async function hostedRoom(env: Env, roomId: string) {
  if (!isRoomId(roomId)) throw new MatrixError(400, "M_INVALID_PARAM", "Invalid room ID");
  const stub = room(env, roomId);
  const info = await stub.info();
  if (!info) throw notFound("Unknown room");
  if (!info.isHub) throw new MatrixError(400, "M_WRONG_SERVER", "This server is not the room's hub");
  return { stub, info };
}

/** A server may read a room's history only if it has (or had) a member in it. */
/**
 * Only a server with a joined member now reads a room's events and state. An LM room answers others
 * 404, as if unknown; a full-mesh room answers 403 M_FORBIDDEN, as the Matrix spec and Synapse do.
 */
async function requireVisibility(stub: ReturnType<typeof room>, origin: string): Promise<void> {
  if (await stub.serverHasMembers(origin)) return;
  if (getRoomVersion((await stub.info())?.version)?.linearized === false) throw forbidden(`${origin} has no member in this room`);
  throw notFound("Room not visible to this server");
}

// --------------------------------------------------------------------------------------------
// PUT /send/:txnId
// --------------------------------------------------------------------------------------------

async function onSend(req: SbRequest, env: Env, ctx: ExecutionContext): Promise<Response> {
  const { origin, body } = await authed(req, env, MAX_TXN_BYTES);
  const txnId = pathParam(req, "txnId");
  const pdus = body["pdus"] ?? [];
  const edus = body["edus"] ?? [];
  if (!Array.isArray(pdus) || !Array.isArray(edus)) throw badJson("pdus and edus must be arrays");
  if (pdus.length > MAX_PDUS) throw badJson(`At most ${MAX_PDUS} PDUs per transaction`);
  if (edus.length > MAX_EDUS) throw badJson(`At most ${MAX_EDUS} EDUs per transaction`);

  const inbox = env.INBOX.get(env.INBOX.idFromName(origin));
  // Admission first (repeat, in-flight and rate checks), so refused transactions cost no
  // verification; except for the smallest, where that would cost a round trip to save one check.
  const oneStep = pdus.length <= 1 && edus.length === 0;
  if (!oneStep) {
    // The rooms named go along, so a room whose fan-out is behind refuses before anything is verified.
    const admitted = await inbox.begin(origin, txnId, pdus.length, roomIdsOf(pdus));
    if (admitted.answer) return json(admitted.answer);
  }
  // EDUs (to-device messages, device-list news, typing, receipts) are handled alongside the PDUs; they never fail the transaction.
  const eduWork = Promise.all([handleE2eeEdus(env, ctx, req.config, origin, txnId, edus), handleEphemeralEdus(env, origin, edus)]);

  // A hub's PDUs carry its participants' signatures; if one of those servers is down, the hub
  // (which verified them) vouches for their keys as notary.
  const keys = remoteKeyStore(env, req.config, { notaries: [origin] });
  const preFailed: FailedPdus = {};
  // Each PDU is identified and checked under its room's version (full-mesh rooms are v11/v12 here).
  const versions = await roomVersionsOf(env, roomIdsOf(pdus));
  // Checked concurrently, but handed on in the order sent: a key fetch for one PDU must not let the
  // PDUs after it overtake it (a join and the message after it, a hub's linked events).
  const checked: Array<InboundItem | undefined> = await Promise.all(
    pdus.map(async (raw: unknown): Promise<InboundItem | undefined> => {
      const e = raw as Record<string, unknown> | null;
      if (typeof e !== "object" || e === null || Array.isArray(e)) return undefined; // cannot be identified: dropped
      const version = (isRoomId(e["room_id"]) && versions.get(e["room_id"])) || LM_ROOM_VERSION;
      let id: string;
      try {
        id = await eventIdOf(e, version);
      } catch {
        return undefined; // cannot even be identified: dropped
      }
      // Draft "PUT /send" step 1: an invalid room ID rejects the event (it is reported, not dropped).
      if (!isRoomId(e["room_id"])) {
        preFailed[id] = { error: "Event has no valid room_id" };
        return undefined;
      }
      const roomId = e["room_id"];
      try {
        if (isLpdu(e)) return { id, roomId, lpdu: await checkInboundLpdu(asLpdu(e), origin, keys) };
        return { id, roomId, pdu: await checkInboundPdu(e, version, keys, env.SERVER_NAME) };
      } catch (err) {
        preFailed[id] = { error: err instanceof Error ? err.message : String(err) };
        return undefined;
      }
    }),
  );
  const items = checked.filter((it): it is InboundItem => it !== undefined);
  await eduWork;
  const answer = oneStep ? await inbox.receive(origin, txnId, pdus.length, items, preFailed) : await inbox.finish(origin, txnId, items, preFailed);
  // The origin is evidently reachable again: retry anything we have backed off for it (at most
  // once a second per origin from this isolate; a busy origin would otherwise cost an RPC per request).
  const now = Date.now();
  if ((lastWake.get(origin) ?? 0) + WAKE_INTERVAL_MS <= now) {
    if (lastWake.size >= MAX_WAKE_ENTRIES) lastWake.clear();
    lastWake.set(origin, now);
    ctx.waitUntil(env.DESTINATION.get(env.DESTINATION.idFromName(origin)).wake().catch(() => undefined));
  }
  return json(answer);
}

/** The distinct valid room IDs a transaction's PDUs name (unverified: only to ask those rooms first). */
function roomIdsOf(pdus: unknown[]): string[] {
  const out = new Set<string>();
  for (const p of pdus) {
    const roomId = typeof p === "object" && p !== null ? (p as { room_id?: unknown }).room_id : undefined;
    if (isRoomId(roomId)) out.add(roomId);
  }
  return [...out];
}

const WAKE_INTERVAL_MS = 1_000;
const MAX_WAKE_ENTRIES = 10_000;
const lastWake = new Map<string, number>();

// --------------------------------------------------------------------------------------------
// Event and state APIs
// --------------------------------------------------------------------------------------------

async function onGetEvent(req: SbRequest, env: Env): Promise<Response> {
  const { origin } = await authedLimited(req, env);
  const eventId = pathParam(req, "eventId");
  if (!isEventId(eventId)) throw new MatrixError(400, "M_INVALID_PARAM", "Invalid event ID");
  const hint = new URL(req.url).searchParams.get("room_id");
  const roomId = hint ?? (await env.DB.prepare(`SELECT room_id FROM event_rooms WHERE event_id = ?`).bind(eventId).first<{ room_id: string }>())?.room_id;
  if (!roomId || !isRoomId(roomId)) throw notFound("Event not found");
  const stub = room(env, roomId);
  await requireVisibility(stub, origin);
  const dag = await dagEventResponse(req, stub, eventId);
  if (dag) return dag;
  const e = await stub.getEventJson(eventId);
  if (!e || e.pos === null) throw notFound("Event not found");
  return new Response(e.json, { headers: { "content-type": "application/json" } });
}

async function stateResponse(req: SbRequest, env: Env, idsOnly: boolean): Promise<Response> {
  const { origin } = await authedLimited(req, env);
  const { stub } = await hostedRoom(env, pathParam(req, "roomId"));
  await requireVisibility(stub, origin);
  const eventId = new URL(req.url).searchParams.get("event_id");
  if (!eventId || !isEventId(eventId)) throw new MatrixError(400, "M_MISSING_PARAM", "event_id is required");
  const { pdus, authChain } = await stub.stateAt(eventId);
  if (idsOnly) {
    const pduIds = pdus.map((e) => e.eventId);
    // `pdus_ids` is the reference implementation's spelling; both are sent.
    return json({ pdu_ids: pduIds, pdus_ids: pduIds, auth_chain_ids: authChain.map((e) => e.eventId) });
  }
  const body = `{"pdus":[${pdus.map((e) => e.json).join(",")}],"auth_chain":[${authChain.map((e) => e.json).join(",")}]}`;
  return new Response(body, { headers: { "content-type": "application/json" } });
}

async function onBackfill(req: SbRequest, env: Env): Promise<Response> {
  const { origin } = await authedLimited(req, env);
  const roomId = pathParam(req, "roomId");
  if (!isRoomId(roomId)) throw new MatrixError(400, "M_INVALID_PARAM", "Invalid room ID");
  const stub = room(env, roomId);
  if (!(await stub.info())) throw notFound("Unknown room");
  await requireVisibility(stub, origin);
  const from = queryAll(req, "v");
  if (from.length === 0 || !from.every(isEventId)) throw new MatrixError(400, "M_MISSING_PARAM", "v (event ID) is required");
  const limitRaw = Number(new URL(req.url).searchParams.get("limit") ?? "10");
  if (!Number.isSafeInteger(limitRaw) || limitRaw < 1) throw new MatrixError(400, "M_INVALID_PARAM", "limit must be a positive integer");
  const events = await stub.backfill(from, Math.min(limitRaw, MAX_BACKFILL));
  const body = `{"origin":${JSON.stringify(req.config.serverName)},"origin_server_ts":${Date.now()},"pdus":[${events.map((e) => e.json).join(",")}]}`;
  return new Response(body, { headers: { "content-type": "application/json" } });
}

// --------------------------------------------------------------------------------------------
// Membership handshakes
// --------------------------------------------------------------------------------------------

function makeHandler(membership: "join" | "leave" | "knock") {
  return async (req: SbRequest, env: Env): Promise<Response> => {
    const { origin } = await authedLimited(req, env);
    const userId = pathParam(req, "userId");
    if (!isUserId(userId)) throw new MatrixError(400, "M_INVALID_PARAM", "Invalid user ID");
    if (serverNameOf(userId) !== origin) throw forbidden(`${origin} cannot act for ${userId}`);
    const { stub, info } = await hostedRoom(env, pathParam(req, "roomId"));
    if (membership !== "leave") {
      const versions = queryAll(req, "ver");
      // Matrix servers always list versions; treat a request without any as "v1 only".
      if (!versions.includes(info.version)) {
        throw new MatrixError(400, "M_INCOMPATIBLE_ROOM_VERSION", `Room version ${info.version} is not among ver`, { room_version: info.version });
      }
    }
    const { template, roomVersion } = await stub.makeMembership(userId, membership);
    // The draft answers make_join/make_knock with the template itself and make_leave with
    // {event, room_version}; Matrix peers read {event, room_version} everywhere. Both are given.
    const tpl = template as Record<string, unknown>;
    return json({ ...tpl, event: tpl, room_version: roomVersion });
  };
}

function sendMembershipHandler(membership: "join" | "leave" | "knock") {
  return async (req: SbRequest, env: Env): Promise<Response> => {
    const { origin, body } = await authedLimited(req, env, MAX_EVENT_BODY_BYTES);
    const dag = await dagSendMembership(req, env, origin, body, membership);
    if (dag) return dag;
    const raw = (body["event"] !== undefined && typeof body["event"] === "object" ? body["event"] : body) as Record<string, unknown>;
    const lpdu = await checkInboundLpdu(asLpdu(raw), origin, remoteKeyStore(env, req.config));
    const roomId = lpdu.room_id;
    const pathRoom = (req.params as Record<string, string | undefined>)["roomId"];
    if (pathRoom !== undefined && pathParam(req, "roomId") !== roomId) throw badJson("room_id does not match the path");
    const { stub } = await hostedRoom(env, roomId);
    const answer = await stub.sendMembership(origin, lpdu, membership);
    return new Response(answer.body, { headers: { "content-type": "application/json" } });
  };
}

// --------------------------------------------------------------------------------------------
// Invites
// --------------------------------------------------------------------------------------------

async function onInvite(req: SbRequest, env: Env): Promise<Response> {
  const { origin, body } = await authedLimited(req, env, MAX_INVITE_BODY_BYTES);
  const raw = body["event"];
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw badJson("event is required");
  const keys = remoteKeyStore(env, req.config);
  const roomId = (raw as Record<string, unknown>)["room_id"];
  if (!isRoomId(roomId)) throw badJson("event.room_id is invalid");

  if (isLpdu(raw)) {
    // A participant asks us, the hub, to invite someone.
    const lpdu = await checkInboundLpdu(asLpdu(raw), origin, keys);
    const { stub } = await hostedRoom(env, roomId);
    const { json: pdu } = await stub.inviteRemote({ lpdu, origin });
    return new Response(`{"pdu":${pdu},"event":${pdu}}`, { headers: { "content-type": "application/json" } });
  }

  // We are the invitee's server.
  const versionId = body["room_version"] ?? LM_ROOM_VERSION_ID;
  const version = getRoomVersion(versionId);
  if (!version) throw new MatrixError(400, "M_INCOMPATIBLE_ROOM_VERSION", `Room version ${String(versionId)} is not supported`, { room_version: versionId });
  const pdu = await checkInboundPdu(raw, version, keys);
  if (pdu.type !== "m.room.member" || pdu.content["membership"] !== "invite" || typeof pdu.state_key !== "string") {
    throw badJson("Not an invite event");
  }
  if (!isUserId(pdu.state_key) || serverNameOf(pdu.state_key) !== req.config.serverName) throw badJson("The invitee is not a user of this server");
  // The inviting side must be the room's hub (or, without a hub, the sender's server).
  const expectedOrigin = pdu.hub_server ?? serverNameOf(pdu.sender);
  if (origin !== expectedOrigin) throw forbidden(`${origin} cannot deliver an invite completed by ${expectedOrigin}`);
  // In a linearized room only the hub invites, and the hub is the server of the room ID (the
  // creator's server, which auth rule 3.2 ties to the room ID). Anyone else's "invite" would skip
  // the hub's auth rules: a participant's, or one into a room we host ourselves.
  if (version.linearized && origin !== serverNameOf(roomId)) throw forbidden(`${origin} is not the hub of ${roomId}`);
  if (!(await getUser(env.DB, pdu.state_key))) throw notFound("No such user");
  const stripped = Array.isArray(body["invite_room_state"]) ? body["invite_room_state"] : [];
  const signed = await signEvent(pdu, version, req);
  await room(env, roomId).storeInvite(pdu.state_key, signed, stripped as never, origin, version.id);
  return json({ pdu: signed, event: signed });
}

/** Adds our signature over the redacted event, keeping every signature already there. */
async function signEvent(pdu: Pdu, version: RoomVersion, req: SbRequest): Promise<Pdu> {
  const redacted = version.redact(pdu) as Record<string, unknown>;
  const signed = await signJson(redacted, req.config.serverName, req.config.signingKey);
  return { ...pdu, signatures: { ...pdu.signatures, [req.config.serverName]: signed.signatures[req.config.serverName] as Record<string, string> } };
}

export function mountFederation(t: RouteTable): void {
  for (const base of [LM_PREFIX, V1, V2]) {
    t.add("put", `${base}/send/:txnId`, onSend);
    t.add("get", `${base}/event/:eventId`, onGetEvent);
    t.add("get", `${base}/backfill/:roomId`, onBackfill);
  }
  t.add("get", `${V1}/state/:roomId`, (req, env) => stateResponse(req, env, false));
  t.add("get", `${V1}/state_ids/:roomId`, (req, env) => stateResponse(req, env, true));
  for (const m of ["join", "leave", "knock"] as const) {
    t.add("get", `${V1}/make_${m}/:roomId/:userId`, makeHandler(m));
    t.add("post", `${LM_PREFIX}/send_${m}/:txnId`, sendMembershipHandler(m));
    t.add("post", `${V3}/send_${m}/:txnId`, sendMembershipHandler(m));
    t.add("put", `${V2}/send_${m}/:roomId/:eventId`, sendMembershipHandler(m));
  }
  mountFederationDag(t, authedLimited);
  t.add("put", `${V1}/send_knock/:roomId/:eventId`, sendMembershipHandler("knock"));
  t.add("post", `${LM_PREFIX}/invite/:txnId`, onInvite);
  t.add("post", `${V3}/invite/:txnId`, onInvite);
  t.add("put", `${V2}/invite/:roomId/:eventId`, onInvite);
}
