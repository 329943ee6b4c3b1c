// Client-server endpoints that real clients (matrix-js-sdk first) call around the core room API:
// capabilities, push rules, event context, redaction, account data, read markers, receipts,
// typing and TURN. Served under v3 and r0.
//
// Deliberate limits, each stated where it applies: push rules are an empty rule set and cannot be
// changed; receipts and typing are accepted but not yet federated or shown in /sync; account data is
// stored and readable but not yet delivered through /sync; no TURN server is configured.

import { badJson, MatrixError, notFound, forbidden } from "../shared/errors.js";
import type { Pdu } from "../shared/event.js";
import { isEventId } from "../shared/ids.js";
import { actionLevel } from "../shared/power-levels.js";
import { CREATABLE_ROOM_VERSIONS } from "../shared/room-versions.js";
import type { RouteTable, SbRequest } from "./app.js";
import { CLIENT_PREFIXES, checkFilterParam, clientEventOf, param, requireJoined, requireSelf, roomIdParam, roomPower, userIdParam, userStream } from "./client-common.js";
import { requireUser } from "./client-auth.js";
import { json, readJsonBody } from "./http.js";
import { getAccountData, putAccountData } from "./storage/account-data.js";

const SMALL_BODY = { maxBytes: 64 * 1024 };
const MAX_CONTEXT_LIMIT = 100;
const MAX_TYPE_LENGTH = 255;
/** Account data the server maintains itself; the spec answers 405 M_BAD_JSON to clients setting it. */
const SERVER_MANAGED_ACCOUNT_DATA = new Set(["m.fully_read", "m.push_rules"]);
const RECEIPT_TYPES = new Set(["m.read", "m.read.private", "m.fully_read"]);

function eventIdParam(req: SbRequest): string {
  const eventId = param(req, "eventId");
  if (!isEventId(eventId)) throw new MatrixError(400, "M_INVALID_PARAM", "Invalid event ID");
  return eventId;
}

function optString(body: Record<string, unknown>, key: string): string | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") throw badJson(`${key} must be a string`);
  return v;
}

// --------------------------------------------------------------------------------------------
// Capabilities and push rules
// --------------------------------------------------------------------------------------------

async function capabilities(req: SbRequest, env: Env): Promise<Response> {
  await requireUser(req, env);
  // Exactly what createRoom accepts; the LM version is an Internet-Draft's, hence "unstable".
  const available = Object.fromEntries(CREATABLE_ROOM_VERSIONS.map((v) => [v.id, v.stable ? "stable" : "unstable"]));
  return json({
    capabilities: {
      "m.change_password": { enabled: false },
      "m.room_versions": { default: req.config.defaultRoomVersion.id, available },
      "m.set_displayname": { enabled: true },
      "m.set_avatar_url": { enabled: true },
      "m.3pid_changes": { enabled: false },
      "m.get_login_token": { enabled: false },
    },
  });
}

/**
 * An honest empty rule set: this server evaluates no push rules (it has no pushers), so it claims
 * none. Clients add their built-in defaults locally. Changing rules (PUT/DELETE) is not offered and
 * falls through to 404 M_UNRECOGNIZED.
 */
const EMPTY_RULESET = { override: [], content: [], room: [], sender: [], underride: [] };

async function pushRules(req: SbRequest, env: Env): Promise<Response> {
  await requireUser(req, env);
  return json({ global: EMPTY_RULESET });
}

async function pushRulesGlobal(req: SbRequest, env: Env): Promise<Response> {
  await requireUser(req, env);
  return json(EMPTY_RULESET);
}

// --------------------------------------------------------------------------------------------
// GET /rooms/{roomId}/context/{eventId}
// --------------------------------------------------------------------------------------------

async function context(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  const roomId = roomIdParam(req);
  const eventId = eventIdParam(req);
  const query = new URL(req.url).searchParams;
  checkFilterParam(query);
  const raw = query.get("limit");
  const limitRaw = raw === null ? 10 : Number(raw);
  if (!Number.isSafeInteger(limitRaw) || limitRaw < 0) throw new MatrixError(400, "M_INVALID_PARAM", "limit must be a non-negative integer");
  const limit = Math.min(limitRaw, MAX_CONTEXT_LIMIT);
  const stub = await requireJoined(env, roomId, userId);
  const target = await stub.getEventJson(eventId, "client");
  if (!target || target.pos === null) throw notFound("Event not found");
  const pos = target.pos;
  // The limit covers both sides together; split it evenly, the odd one going after.
  const nBefore = Math.floor(limit / 2);
  const nAfter = limit - nBefore;
  const [before, after] = await Promise.all([
    nBefore > 0 ? stub.timeline({ from: pos, dir: "b", limit: nBefore, view: "client" }) : Promise.resolve([]),
    nAfter > 0 ? stub.timeline({ from: pos, dir: "f", limit: nAfter, view: "client" }) : Promise.resolve([]),
  ]);
  const firstPos = before[before.length - 1]?.pos ?? pos;
  const lastPos = after[after.length - 1]?.pos ?? pos;
  // syncView with no timeline and no since-position answers exactly the state after `lastPos`.
  const view = await stub.syncView({ userId, fromPos: null, toPos: lastPos, limit: 0, fullState: true });
  const now = Date.now();
  return json({
    event: clientEventOf(target.json, eventId, roomId, now),
    events_before: before.map((e) => clientEventOf(e.json, e.eventId, roomId, now)),
    events_after: after.map((e) => clientEventOf(e.json, e.eventId, roomId, now)),
    state: view.state.map((e) => clientEventOf(e.json, e.eventId, roomId, now)),
    // Tokens in /messages' form: a backwards page from p<n> includes position n, a forwards page excludes it.
    start: `p${firstPos - 1}`,
    end: `p${lastPos}`,
  });
}

// --------------------------------------------------------------------------------------------
// PUT /rooms/{roomId}/redact/{eventId}/{txnId}
// --------------------------------------------------------------------------------------------

/**
 * Sends an m.room.redaction. The room's auth rules check the sender may send the event at all; the
 * spec's client rule (redacting someone else's event needs the `redact` level) is checked here.
 * The target's stored content is not stripped yet: clients see the redaction event and apply it.
 */
async function redact(req: SbRequest, env: Env): Promise<Response> {
  const { userId, deviceId } = await requireUser(req, env);
  const roomId = roomIdParam(req);
  const eventId = eventIdParam(req);
  const txnId = param(req, "txnId");
  const { body } = await readJsonBody(req, SMALL_BODY);
  const reason = optString(body, "reason");
  const stub = await requireJoined(env, roomId, userId);
  const target = await stub.getEventJson(eventId, "client");
  if (!target || target.pos === null) throw notFound("Event not found");
  if ((JSON.parse(target.json) as Pdu).sender !== userId) {
    const { level, levels } = await roomPower(stub, userId);
    if (level < actionLevel(levels, "redact")) throw forbidden("You may only redact your own events at your power level");
  }
  const content = { redacts: eventId, ...(reason !== undefined ? { reason } : {}) };
  // Transaction IDs are scoped per endpoint: keep redactions apart from /send's.
  const { eventId: redactionId } = await stub.send(userId, { type: "m.room.redaction", content, redacts: eventId }, { deviceId, txnId: `redact/${eventId}/${txnId}` });
  return json({ event_id: redactionId });
}

// --------------------------------------------------------------------------------------------
// Account data
// --------------------------------------------------------------------------------------------

function accountDataType(req: SbRequest): string {
  const type = param(req, "type");
  if (type === "" || type.length > MAX_TYPE_LENGTH) throw new MatrixError(400, "M_INVALID_PARAM", "Invalid account data type");
  return type;
}

/** The path's user (must be the caller), optional room and type. */
async function accountDataTarget(req: SbRequest, env: Env, withRoom: boolean): Promise<{ userId: string; roomId: string | undefined; type: string }> {
  const { userId } = await requireUser(req, env);
  requireSelf(userId, userIdParam(req), "access account data");
  const roomId = withRoom ? roomIdParam(req) : undefined;
  return { userId, roomId, type: accountDataType(req) };
}

function getAccountDataRoute(withRoom: boolean) {
  return async (req: SbRequest, env: Env): Promise<Response> => {
    const { userId, roomId, type } = await accountDataTarget(req, env, withRoom);
    const stored = await getAccountData(env.DB, userId, roomId, type);
    if (stored === null) throw notFound("Account data not found");
    return new Response(stored, { headers: { "content-type": "application/json" } });
  };
}

function putAccountDataRoute(withRoom: boolean) {
  return async (req: SbRequest, env: Env): Promise<Response> => {
    const { userId, roomId, type } = await accountDataTarget(req, env, withRoom);
    if (SERVER_MANAGED_ACCOUNT_DATA.has(type)) throw new MatrixError(405, "M_BAD_JSON", `Cannot set ${type} through this API`);
    const { body } = await readJsonBody(req, { maxBytes: 64 * 1024 });
    await putAccountData(env.DB, userId, roomId, type, JSON.stringify(body), Date.now()).run();
    await userStream(env, userId).accountDataChanged(roomId ?? "", type);
    return json({});
  };
}

// --------------------------------------------------------------------------------------------
// Read markers, receipts, typing
// --------------------------------------------------------------------------------------------

/** The fully-read marker is room account data the server keeps on the client's behalf. */
async function setFullyRead(env: Env, userId: string, roomId: string, eventId: string): Promise<void> {
  await putAccountData(env.DB, userId, roomId, "m.fully_read", JSON.stringify({ event_id: eventId }), Date.now()).run();
  await userStream(env, userId).accountDataChanged(roomId, "m.fully_read");
}

function optEventId(body: Record<string, unknown>, key: string): string | undefined {
  const v = optString(body, key);
  if (v !== undefined && !isEventId(v)) throw new MatrixError(400, "M_INVALID_PARAM", `${key} must be an event ID`);
  return v;
}

async function readMarkers(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  const roomId = roomIdParam(req);
  const { body } = await readJsonBody(req, SMALL_BODY);
  const fullyRead = optEventId(body, "m.fully_read");
  optEventId(body, "m.read");
  optEventId(body, "m.read.private");
  const stub = await requireJoined(env, roomId, userId);
  if (fullyRead !== undefined) {
    const e = await stub.getEventJson(fullyRead);
    if (!e || e.pos === null) throw notFound("m.fully_read names no event of this room");
    await setFullyRead(env, userId, roomId, fullyRead);
  }
  // Read receipts (m.read, m.read.private) are accepted but not yet stored, federated or shown in /sync.
  return json({});
}

async function receipt(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  const roomId = roomIdParam(req);
  const type = param(req, "receiptType");
  const eventId = eventIdParam(req);
  if (!RECEIPT_TYPES.has(type)) throw new MatrixError(400, "M_INVALID_PARAM", `Unknown receipt type ${type}`);
  const { body } = await readJsonBody(req, SMALL_BODY);
  optString(body, "thread_id");
  await requireJoined(env, roomId, userId);
  if (type === "m.fully_read") await setFullyRead(env, userId, roomId, eventId);
  // Receipts are not yet federated (no m.receipt EDUs) nor shown in /sync; accepting them keeps clients quiet.
  return json({});
}

async function typing(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  const roomId = roomIdParam(req);
  requireSelf(userId, userIdParam(req), "set typing state");
  const { body } = await readJsonBody(req, { maxBytes: 4096 });
  if (typeof body["typing"] !== "boolean") throw badJson("typing must be a boolean");
  const timeout = body["timeout"];
  if (timeout !== undefined && !(Number.isSafeInteger(timeout) && (timeout as number) >= 0)) throw badJson("timeout must be a non-negative integer");
  await requireJoined(env, roomId, userId);
  // Typing notifications are not yet federated (no m.typing EDUs) nor shown in /sync.
  return json({});
}

/** No TURN server is configured; an empty answer is what clients read as "none" (they look for `uris`). */
async function turnServer(req: SbRequest, env: Env): Promise<Response> {
  await requireUser(req, env);
  return json({});
}

export function mountClientMisc(t: RouteTable): void {
  for (const p of CLIENT_PREFIXES) {
    t.add("get", `${p}/capabilities`, capabilities);
    t.add("get", `${p}/pushrules/`, pushRules);
    t.add("get", `${p}/pushrules/global/`, pushRulesGlobal);
    t.add("get", `${p}/rooms/:roomId/context/:eventId`, context);
    t.add("put", `${p}/rooms/:roomId/redact/:eventId/:txnId`, redact);
    t.add("get", `${p}/user/:userId/account_data/:type`, getAccountDataRoute(false));
    t.add("put", `${p}/user/:userId/account_data/:type`, putAccountDataRoute(false));
    t.add("get", `${p}/user/:userId/rooms/:roomId/account_data/:type`, getAccountDataRoute(true));
    t.add("put", `${p}/user/:userId/rooms/:roomId/account_data/:type`, putAccountDataRoute(true));
    t.add("post", `${p}/rooms/:roomId/read_markers`, readMarkers);
    t.add("post", `${p}/rooms/:roomId/receipt/:receiptType/:eventId`, receipt);
    t.add("put", `${p}/rooms/:roomId/typing/:userId`, typing);
    t.add("get", `${p}/voip/turnServer`, turnServer);
  }
}
