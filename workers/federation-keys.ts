// Federation endpoints of key distribution, and the EDUs that carry it (draft "Device Info
// Publishing", "To-Device Messaging", "One Time Key Claiming"; Matrix's user/keys/query for
// double-ratchet clients on other servers). Every endpoint is X-Matrix authenticated and charged to
// the origin's request rate, as the other federation endpoints are.

import type { JsonObject } from "../shared/canonical-json.js";
import { validateDeviceKeys } from "../shared/device-keys.js";
import { parseE2eeEdu } from "../shared/e2ee-edus.js";
import { limitExceeded, notFound } from "../shared/errors.js";
import { isDeviceId, isUserId, serverNameOf } from "../shared/ids.js";
import { parseRateLimits } from "../shared/token-bucket.js";
import type { RouteTable, SbRequest } from "./app.js";
import type { Config } from "./config.js";
import { parseGhost } from "../shared/converter/ghost-user.js";
import { remoteDeviceListChanged } from "./device-list-updates.js";
import { ghostStreamId } from "./storage/ghost-device-streams.js";
import { claimLocalKeys, parseClaimRequest, parseDeviceQuery, queryLocalDeviceKeys } from "./e2ee-keys.js";
import { authenticateFederationRequest } from "./federation-auth.js";
import { checkedRemoteCrossSigning, localCrossSigning, withDeviceSignatures } from "./cross-signing-keys.js";
import { FEDERATION_V1, LM_PREFIX } from "../shared/federation-paths.js";
import { json, readJsonBody , pathParam } from "./http.js";
import { remoteKeyStore } from "./remote-keys.js";
import { getDeviceKeys, listDeviceKeys } from "./storage/device-keys.js";
import { deliverLocalToDevice } from "./to-device.js";

const MAX_BODY_BYTES = 256 * 1024;

/**
 * Authenticates the request and takes one token from the origin's request bucket. `body`: "json"
 * requires a JSON object, "optional" accepts none (then both signed forms are tried), "none" reads none.
 */
async function authenticated(req: SbRequest, env: Env, body: "json" | "optional" | "none"): Promise<{ origin: string; body: Record<string, unknown> }> {
  let parsed: Record<string, unknown> = {};
  let content: unknown;
  if (body !== "none") {
    const read = await readJsonBody(req, { maxBytes: MAX_BODY_BYTES, allowEmpty: body === "optional" });
    parsed = read.body;
    content = read.bytes.byteLength === 0 ? undefined : parsed;
  }
  const origin = await authenticateFederationRequest(req, content, req.config, remoteKeyStore(env, req.config));
  const { serverRequests } = parseRateLimits(env.RATE_LIMITS);
  const key = `server:${origin}`;
  const verdict = await env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(key)).take(key, serverRequests.capacity, serverRequests.refillPerSecond);
  if (!verdict.ok) throw limitExceeded(verdict.retryAfterMs);
  return { origin, body: parsed };
}

/** GET …/user/:userId/device/:deviceId: the device credential object, exactly as the device signed it. */
async function onGetDevice(req: SbRequest, env: Env): Promise<Response> {
  await authenticated(req, env, req.method === "GET" ? "none" : "optional");
  const userId = pathParam(req, "userId");
  const deviceId = pathParam(req, "deviceId");
  // Draft: other servers' users, unknown users and unknown devices are all 404 M_NOT_FOUND.
  if (!isUserId(userId) || !isDeviceId(deviceId) || serverNameOf(userId) !== req.config.serverName) throw notFound("No such device");
  const stored = await getDeviceKeys(env.DB, userId, deviceId);
  if (stored === null) throw notFound("No such device");
  return new Response(stored, { headers: { "content-type": "application/json" } });
}

/**
 * GET /_matrix/federation/v1/user/devices/{userId}: all of a user's published devices, as Matrix
 * servers fetch them to (re)build their copy of the list. Our device-list EDUs carry no prev_id, so a
 * Matrix receiver always comes here; stream_id only has to grow, and the clock does.
 */
async function onUserDevices(req: SbRequest, env: Env): Promise<Response> {
  await authenticated(req, env, "none");
  const userId = pathParam(req, "userId");
  if (!isUserId(userId) || serverNameOf(userId) !== req.config.serverName) throw notFound("Not a user of this server");
  // A converter ghost has no devices; its own stream position lets its announcements follow on.
  if (parseGhost(userId, req.config.serverName)) return json({ user_id: userId, stream_id: await ghostStreamId(env.DB, userId), devices: [] });
  const rows = await listDeviceKeys(env.DB, [userId]);
  const devices = rows.map((r) => ({ device_id: r.deviceId, keys: JSON.parse(r.keyJson) as JsonObject }));
  return json({ user_id: userId, stream_id: Date.now(), devices });
}

/** POST /_matrix/federation/v1/user/keys/query: our users' device objects, without device names. */
async function onQuery(req: SbRequest, env: Env): Promise<Response> {
  const { body } = await authenticated(req, env, "json");
  const wanted = parseDeviceQuery(body["device_keys"]);
  for (const userId of [...wanted.keys()]) if (serverNameOf(userId) !== req.config.serverName) wanted.delete(userId);
  const { master_keys, self_signing_keys } = await localCrossSigning(env.DB, [...wanted.keys()], undefined);
  return json({ device_keys: await withDeviceSignatures(env.DB, await queryLocalDeviceKeys(env.DB, wanted, false), undefined), master_keys, self_signing_keys });
}

/** POST /_matrix/federation/v1/user/keys/claim: one key per device, other servers' users ignored. */
async function onClaim(req: SbRequest, env: Env): Promise<Response> {
  const { body } = await authenticated(req, env, "json");
  const claims = parseClaimRequest(body["one_time_keys"]).filter((c) => serverNameOf(c.userId) === req.config.serverName);
  return json({ one_time_keys: await claimLocalKeys(env, claims, Date.now()) });
}

/**
 * Processes the key-distribution EDUs of an admitted transaction. To-device messages are stored
 * before the transaction is answered; device-list news, which may ask every room, continues in the
 * background. An EDU whose sender is not a user of the origin is refused (ignored), as are
 * malformed ones; one bad EDU never affects the others or the transaction.
 */
export async function handleE2eeEdus(env: Env, ctx: ExecutionContext, config: Config, origin: string, txnId: string, edus: unknown[]): Promise<void> {
  await Promise.all(
    edus.map(async (raw, index) => {
      try {
        const edu = parseE2eeEdu(raw);
        if (!edu) return;
        if (edu.kind === "to_device") {
          if (serverNameOf(edu.sender) !== origin) return;
          const local = edu.messages.filter((m) => serverNameOf(m.target) === config.serverName);
          if (local.length === 0) return;
          const messageId = edu.messageId !== undefined ? `${origin}|${edu.messageId}` : `${origin}|${txnId}|${index}`;
          await deliverLocalToDevice(
            env,
            edu.sender,
            local.map((m) => ({ target: m.target, targetDevice: m.targetDevice, type: m.messageType, content: m.message })),
            messageId,
          );
          return;
        }
        if (serverNameOf(edu.userId) !== origin) return;
        if (edu.kind === "signing_key_update") {
          // New cross-signing keys: our users who share a room re-query the user's keys, as for devices.
          const keys = await checkedRemoteCrossSigning(edu.userId, edu.masterKey, edu.selfSigningKey);
          if (!keys.master && !keys.selfSigning) return;
          ctx.waitUntil(remoteDeviceListChanged(env, config.serverName, edu.userId).catch((e) => console.error("signing key update failed", e)));
          return;
        }
        // Invalid device objects are refused; news made only of them is no news. News naming no device
        // at all (a converter's ghost, or a Matrix update without keys) still means "query again".
        const valid = await Promise.all(edu.changed.map((d) => validateDeviceKeys(d, { userId: edu.userId }).then(() => true, () => false)));
        if (edu.removed.length === 0 && edu.changed.length > 0 && !valid.some((v) => v)) return;
        ctx.waitUntil(remoteDeviceListChanged(env, config.serverName, edu.userId, edu.removed).catch((e) => console.error("device list update failed", e)));
      } catch (e) {
        console.error("EDU processing failed", e);
      }
    }),
  );
}

export function mountFederationKeys(t: RouteTable): void {
  for (const base of [LM_PREFIX, FEDERATION_V1]) t.add("get", `${base}/user/:userId/device/:deviceId`, onGetDevice);
  // The draft's implementation note names PUT for the unstable path; peers following it are served too.
  t.add("put", `${LM_PREFIX}/user/:userId/device/:deviceId`, onGetDevice);
  t.add("get", `${FEDERATION_V1}/user/devices/:userId`, onUserDevices);
  t.add("post", `${FEDERATION_V1}/user/keys/query`, onQuery);
  t.add("post", `${FEDERATION_V1}/user/keys/claim`, onClaim);
}
