// Client-server account layer: versions, register, login, logout, whoami. Each endpoint is served
// under both v3 and r0, because matrix-nio (and other older clients) still use r0 paths.

import { encodeBase64Url } from "../shared/base64.js";
import { MatrixError, badJson, forbidden, invalidParam, limitExceeded } from "../shared/errors.js";
import { isReservedLocalpart } from "../shared/converter/ghost-user.js";
import { isDeviceId, isStrictLocalpart, isUserId, serverNameOf } from "../shared/ids.js";
import { hashPassword, verifyPassword } from "../shared/password-hash.js";
import type { RouteTable, SbRequest } from "./app.js";
import { evictCachedTokens, hashAccessToken, newAccessToken, requireUser } from "./client-auth.js";
import { devicesRemoved } from "./device-list-updates.js";
import { json, readJsonBody } from "./http.js";
import { deleteDeviceTokens, deleteUserTokens, insertAccessToken } from "./storage/access-tokens.js";
import { deleteDevice, deleteUserDevices, insertDevice } from "./storage/devices.js";
import { getUser, insertUser, isUserIdTaken, userExists } from "./storage/users.js";
import { SLIDING_SYNC_FEATURE } from "./sliding-sync.js";

const PREFIXES = ["/_matrix/client/v3", "/_matrix/client/r0"] as const;
const SPEC_VERSIONS = ["r0.5.0", "r0.6.0", "r0.6.1", ...Array.from({ length: 11 }, (_, i) => `v1.${i + 1}`)];
const BODY_LIMIT = { maxBytes: 64 * 1024 };
const REGISTER_FLOWS = [{ stages: ["m.login.dummy"] }];

// Login buckets: a burst for typos, then a slow trickle. Per account stops guessing one password
// from many addresses; per address stops spraying many accounts from one.
const LOGIN_PER_ACCOUNT = { capacity: 5, refillPerSecond: 1 / 60 };
const LOGIN_PER_IP = { capacity: 10, refillPerSecond: 1 / 20 };

type Body = Record<string, unknown>;

/** Optional string field; null counts as absent because several clients send null for unset fields. */
function optString(body: Body, key: string): string | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") throw badJson(`${key} must be a string`);
  return v;
}

function optBoolean(body: Body, key: string): boolean | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "boolean") throw badJson(`${key} must be a boolean`);
  return v;
}

function optObject(body: Body, key: string): Body | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "object" || Array.isArray(v)) throw badJson(`${key} must be an object`);
  return v as Body;
}

const missingParam = (message: string) => new MatrixError(400, "M_MISSING_PARAM", message);
const invalidUsername = (message: string) => new MatrixError(400, "M_INVALID_USERNAME", message);
const userInUse = () => new MatrixError(400, "M_USER_IN_USE", "Desired user ID is already taken");

/** Random string over a 32-letter alphabet: bytes & 31 keeps every letter equally likely. */
function randomString(alphabet: string, length: number): string {
  let out = "";
  for (const b of crypto.getRandomValues(new Uint8Array(length))) out += alphabet[b & 31];
  return out;
}
const newDeviceId = () => randomString("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 10);
const newLocalpart = () => `u${randomString("abcdefghijklmnopqrstuvwxyz234567", 12)}`;

/** The user ID for a requested username; M_INVALID_USERNAME unless it fits our strict grammar and 255 bytes. */
function userIdForUsername(username: string, serverName: string): string {
  if (username === "" || !isStrictLocalpart(username)) {
    throw invalidUsername("Usernames may contain only a-z, 0-9 and . _ = - / +");
  }
  if (isReservedLocalpart(username)) throw new MatrixError(400, "M_EXCLUSIVE", "Usernames of the converter's service user and ghosts are reserved");
  const userId = `@${username}:${serverName}`;
  if (userId.length > 255) throw invalidUsername("User ID would be longer than 255 characters");
  return userId;
}

function deviceIdParam(body: Body): string | undefined {
  const deviceId = optString(body, "device_id");
  if (deviceId !== undefined && !isDeviceId(deviceId)) throw invalidParam("device_id must be 1-255 printable ASCII characters");
  return deviceId;
}

async function issueToken(env: Env, userId: string, deviceId: string, displayName: string | undefined, now: number) {
  const accessToken = newAccessToken();
  const statements = [
    insertDevice(env.DB, { userId, deviceId, displayName: displayName ?? null, createdTs: now }),
    // Spec: a client-chosen device_id invalidates the tokens that device had before.
    deleteDeviceTokens(env.DB, userId, deviceId),
    insertAccessToken(env.DB, await hashAccessToken(accessToken), userId, deviceId, now),
  ];
  return { accessToken, statements };
}

async function register(req: SbRequest, env: Env): Promise<Response> {
  const kind = new URL(req.url).searchParams.get("kind") ?? "user";
  if (kind === "guest") throw new MatrixError(403, "M_GUEST_ACCESS_FORBIDDEN", "Guest access is not enabled");
  if (kind !== "user") throw invalidParam("kind must be user or guest");
  const { body } = await readJsonBody(req, BODY_LIMIT);
  const username = optString(body, "username");
  const password = optString(body, "password");
  const displayName = optString(body, "initial_device_display_name");
  const inhibitLogin = optBoolean(body, "inhibit_login") ?? false;
  const requestedDevice = deviceIdParam(body);
  const auth = optObject(body, "auth");

  // Spec: username errors come before user-interactive auth, so clients learn them on the first call.
  let userId: string | undefined;
  if (username !== undefined) {
    userId = userIdForUsername(username, req.config.serverName);
    if (await userExists(env.DB, userId)) throw userInUse();
  }
  if (auth === undefined) {
    // The dummy stage proves nothing, so the session is not stored: any session (or none) completes it.
    return json({ flows: REGISTER_FLOWS, params: {}, session: encodeBase64Url(crypto.getRandomValues(new Uint8Array(16))) }, 401);
  }
  const authType = optString(auth, "type");
  optString(auth, "session"); // type-checked only: see above
  if (authType !== "m.login.dummy") throw new MatrixError(400, "M_UNRECOGNIZED", "Only m.login.dummy is supported");
  // Our only login flow is m.login.password, so an account without one could never log in again.
  if (!password) throw missingParam("password is required");

  const passwordHash = await hashPassword(password);
  for (let attempt = 0; ; attempt++) {
    const id = userId ?? `@${newLocalpart()}:${req.config.serverName}`;
    const now = Date.now();
    const statements = [insertUser(env.DB, { userId: id, passwordHash, createdTs: now })];
    const deviceId = requestedDevice ?? newDeviceId();
    const issued = inhibitLogin ? undefined : await issueToken(env, id, deviceId, displayName, now);
    if (issued) statements.push(...issued.statements);
    try {
      await env.DB.batch(statements); // one transaction: user, device and token appear together or not at all
    } catch (err) {
      if (!isUserIdTaken(err)) throw err;
      if (userId !== undefined) throw userInUse(); // registered by someone else since our check
      if (attempt < 3) continue; // a generated ID collided; pick another
      throw err;
    }
    return json(issued ? { user_id: id, access_token: issued.accessToken, device_id: deviceId } : { user_id: id });
  }
}

async function registerAvailable(req: SbRequest, env: Env): Promise<Response> {
  const username = new URL(req.url).searchParams.get("username");
  if (username === null) throw missingParam("username query parameter is required");
  const userId = userIdForUsername(username, req.config.serverName);
  if (await userExists(env.DB, userId)) throw userInUse();
  return json({ available: true });
}

/** The identifier's user, from `identifier: {type: m.id.user, user}` or the deprecated top-level `user`. */
function loginUserParam(body: Body): string {
  const identifier = optObject(body, "identifier");
  if (identifier !== undefined) {
    const type = optString(identifier, "type");
    if (type !== "m.id.user") throw new MatrixError(400, "M_UNKNOWN", "Only m.id.user identifiers are supported");
    const user = optString(identifier, "user");
    if (user === undefined) throw missingParam("identifier.user is required");
    return user;
  }
  const user = optString(body, "user");
  if (user === undefined) throw missingParam("identifier is required");
  return user;
}

/** Maps a localpart or a full MXID to one of our user IDs; undefined if it cannot be a local user. */
function localUserId(user: string, serverName: string): string | undefined {
  let localpart = user;
  if (user.startsWith("@")) {
    if (!isUserId(user) || serverNameOf(user) !== serverName) return undefined;
    localpart = user.slice(1, user.indexOf(":"));
  }
  // Localparts we issue are lower-case, so matching case-insensitively only helps people who type "Alice".
  localpart = localpart.toLowerCase();
  const userId = `@${localpart}:${serverName}`;
  return localpart !== "" && isStrictLocalpart(localpart) && userId.length <= 255 ? userId : undefined;
}

async function takeOrThrow(env: Env, key: string, rate: { capacity: number; refillPerSecond: number }): Promise<void> {
  const limiter = env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(key));
  const result = await limiter.take(key, rate.capacity, rate.refillPerSecond);
  if (!result.ok) throw limitExceeded(result.retryAfterMs);
}

// Unknown users still cost one PBKDF2 run, so response time does not reveal which accounts exist.
let decoyHash: Promise<string> | undefined;
const getDecoyHash = () => (decoyHash ??= hashPassword(encodeBase64Url(crypto.getRandomValues(new Uint8Array(16)))));

async function login(req: SbRequest, env: Env): Promise<Response> {
  const { body } = await readJsonBody(req, BODY_LIMIT);
  const type = optString(body, "type");
  if (type === undefined) throw missingParam("type is required");
  if (type !== "m.login.password") throw new MatrixError(400, "M_UNKNOWN", "Bad login type");
  const user = loginUserParam(body);
  const password = optString(body, "password");
  if (password === undefined) throw missingParam("password is required");
  const requestedDevice = deviceIdParam(body);
  const displayName = optString(body, "initial_device_display_name");

  const ip = req.headers.get("cf-connecting-ip");
  if (ip) await takeOrThrow(env, `login:ip:${ip}`, LOGIN_PER_IP);
  const userId = localUserId(user, req.config.serverName);
  if (userId !== undefined) await takeOrThrow(env, `login:user:${userId}`, LOGIN_PER_ACCOUNT);

  const row = userId === undefined ? null : await getUser(env.DB, userId);
  const stored = row?.passwordHash ?? (await getDecoyHash());
  const matches = await verifyPassword(password, stored);
  if (!row || !row.passwordHash || !matches || userId === undefined) throw forbidden("Invalid username or password");
  if (row.deactivated) throw new MatrixError(403, "M_USER_DEACTIVATED", "This account has been deactivated");

  const deviceId = requestedDevice ?? newDeviceId();
  const issued = await issueToken(env, userId, deviceId, displayName, Date.now());
  await env.DB.batch(issued.statements);
  evictCachedTokens({ userId, deviceId });
  return json({ user_id: userId, access_token: issued.accessToken, device_id: deviceId });
}

async function logout(req: SbRequest, env: Env): Promise<Response> {
  const { userId, deviceId, tokenHash } = await requireUser(req, env);
  await env.DB.batch([deleteDeviceTokens(env.DB, userId, deviceId), deleteDevice(env.DB, userId, deviceId)]);
  evictCachedTokens({ tokenHash, userId, deviceId });
  // The device's keys go with it, and users sharing a room hear of the removal (issue 7).
  await devicesRemoved(env, req.config.serverName, userId, [deviceId]);
  return json({});
}

async function logoutAll(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  await env.DB.batch([deleteUserTokens(env.DB, userId), deleteUserDevices(env.DB, userId)]);
  evictCachedTokens({ userId });
  await devicesRemoved(env, req.config.serverName, userId, "all");
  return json({});
}

async function whoami(req: SbRequest, env: Env): Promise<Response> {
  const { userId, deviceId } = await requireUser(req, env);
  return json({ user_id: userId, device_id: deviceId, is_guest: false });
}

export function mountClientAccounts(t: RouteTable): void {
  t.add("get", "/_matrix/client/versions", () => json({ versions: SPEC_VERSIONS, unstable_features: { [SLIDING_SYNC_FEATURE]: true } }));
  for (const p of PREFIXES) {
    t.add("post", `${p}/register`, register);
    t.add("get", `${p}/register/available`, registerAvailable);
    t.add("get", `${p}/login`, () => json({ flows: [{ type: "m.login.password" }] }));
    t.add("post", `${p}/login`, login);
    t.add("post", `${p}/logout`, logout);
    t.add("post", `${p}/logout/all`, logoutAll);
    t.add("get", `${p}/account/whoami`, whoami);
  }
}
