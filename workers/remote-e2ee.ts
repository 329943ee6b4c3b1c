// Asking other servers for their users' keys, on behalf of our clients' /keys/query and /keys/claim.
// Answers are checked before a client sees them: device objects must verify and belong to the user
// and server asked, KeyPackages must be valid, unexpired and name the device they were claimed for.

import type { JsonObject, JsonValue } from "../shared/canonical-json.js";
import { MLS_KEY_PACKAGE_ALGORITHM, splitKeyId, validateDeviceKeys } from "../shared/device-keys.js";
import { serverNameOf } from "../shared/ids.js";
import { inspectKeyPackage } from "../shared/mls-key-package.js";
import type { Config } from "./config.js";
import { checkedRemoteCrossSigning, type CrossSigningResult } from "./cross-signing-keys.js";
import type { ClaimRequest, ClaimResult, DeviceKeysResult, DeviceQuery } from "./e2ee-keys.js";
import { federationRequest, type FederationResponse } from "./federation-request.js";
import { FEDERATION_V1, LM_PREFIX } from "../shared/federation-paths.js";

export type RemoteOutcome<T> = { ok: true; value: T } | { ok: false; failure: JsonObject };

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function failureOf(res: FederationResponse): JsonObject {
  const body = isObject(res.body) ? res.body : {};
  const out: JsonObject = { status: res.status };
  if (typeof body["errcode"] === "string") out["errcode"] = body["errcode"];
  if (typeof body["error"] === "string") out["error"] = body["error"].slice(0, 300);
  return out;
}

/** A remote device object, kept only if it verifies as the asked-for user's device. */
async function checkedDevice(obj: unknown, userId: string, deviceId: string): Promise<JsonObject | undefined> {
  try {
    const valid = await validateDeviceKeys(obj, { userId, deviceId });
    const name = isObject(obj) && isObject(obj["unsigned"]) ? obj["unsigned"]["device_display_name"] : undefined;
    return typeof name === "string" ? { ...valid.object, unsigned: { device_display_name: name } } : valid.object;
  } catch {
    return undefined; // invalid devices are refused, not passed on
  }
}

/**
 * Device objects of `server`'s users, through Matrix's user/keys/query or, failing that, the draft's
 * device endpoint. Their master and self-signing keys, when answered and valid, go into `crossSigning`.
 */
export async function queryRemoteDeviceKeys(config: Config, server: string, query: DeviceQuery, timeoutMs: number, crossSigning?: CrossSigningResult): Promise<RemoteOutcome<DeviceKeysResult>> {
  const res = await federationRequest(config, undefined, server, "POST", `${FEDERATION_V1}/user/keys/query`, { device_keys: Object.fromEntries(query) }, timeoutMs);
  if (res.status === 200 && isObject(res.body)) {
    const out: DeviceKeysResult = {};
    const devices = isObject(res.body["device_keys"]) ? res.body["device_keys"] : {};
    await Promise.all(
      [...query].map(async ([userId, wanted]) => {
        const byDevice = devices[userId];
        out[userId] = {};
        if (serverNameOf(userId) !== server) return;
        if (crossSigning) {
          const body = res.body as Record<string, unknown>;
          const pick = (field: string) => (isObject(body[field]) ? (body[field] as Record<string, unknown>)[userId] : undefined);
          const keys = await checkedRemoteCrossSigning(userId, pick("master_keys"), pick("self_signing_keys"));
          if (keys.master) crossSigning.master_keys[userId] = keys.master;
          if (keys.selfSigning) crossSigning.self_signing_keys[userId] = keys.selfSigning;
        }
        if (!isObject(byDevice)) return;
        for (const [deviceId, obj] of Object.entries(byDevice)) {
          if (wanted.length > 0 && !wanted.includes(deviceId)) continue;
          const checked = await checkedDevice(obj, userId, deviceId);
          if (checked) (out[userId] as Record<string, JsonObject>)[deviceId] = checked;
        }
      }),
    );
    return { ok: true, value: out };
  }
  // An LM peer may serve only the draft's per-device endpoint: usable when the devices are named.
  const unsupported = res.status === 404 || res.status === 405;
  if (unsupported && [...query.values()].every((d) => d.length > 0)) return queryRemoteDevicesOneByOne(config, server, query, timeoutMs);
  return { ok: false, failure: failureOf(res) };
}

async function queryRemoteDevicesOneByOne(config: Config, server: string, query: DeviceQuery, timeoutMs: number): Promise<RemoteOutcome<DeviceKeysResult>> {
  const out: DeviceKeysResult = {};
  const pairs = [...query].flatMap(([userId, devices]) => devices.map((deviceId) => ({ userId, deviceId })));
  let reached = false;
  await Promise.all(
    pairs.map(async ({ userId, deviceId }) => {
      out[userId] ??= {};
      const path = `${LM_PREFIX}/user/${encodeURIComponent(userId)}/device/${encodeURIComponent(deviceId)}`;
      const res = await federationRequest(config, undefined, server, "GET", path, undefined, timeoutMs);
      if (res.status !== 0) reached = true;
      if (res.status !== 200) return;
      const checked = await checkedDevice(res.body, userId, deviceId);
      if (checked) (out[userId] as Record<string, JsonObject>)[deviceId] = checked;
    }),
  );
  return reached ? { ok: true, value: out } : { ok: false, failure: { status: 0, error: `${server} could not be reached` } };
}

/** A claimed key, kept if it is of the requested algorithm and, for KeyPackages, valid for that device now. */
async function checkedKey(keyId: string, key: unknown, c: ClaimRequest, now: number): Promise<boolean> {
  // The draft's claim answer keys by algorithm alone; Matrix's by `<algorithm>:<key ID>`.
  const algorithm = splitKeyId(keyId)?.algorithm ?? keyId;
  if (algorithm !== c.algorithm) return false;
  if (typeof key !== "string" && !isObject(key)) return false;
  if (algorithm !== MLS_KEY_PACKAGE_ALGORITHM) return true;
  if (typeof key !== "string") return false;
  try {
    const kp = await inspectKeyPackage(key, now);
    return kp.identity.userId === c.userId && kp.identity.deviceId === c.deviceId;
  } catch {
    return false;
  }
}

/** Claims keys of `server`'s users through POST /_matrix/federation/v1/user/keys/claim. */
export async function claimRemoteKeys(config: Config, server: string, claims: ClaimRequest[], timeoutMs: number, now: number): Promise<RemoteOutcome<ClaimResult>> {
  const request: Record<string, Record<string, string>> = {};
  for (const c of claims) (request[c.userId] ??= {})[c.deviceId] = c.algorithm;
  const res = await federationRequest(config, undefined, server, "POST", `${FEDERATION_V1}/user/keys/claim`, { one_time_keys: request }, timeoutMs);
  if (res.status !== 200 || !isObject(res.body)) return { ok: false, failure: failureOf(res) };
  const answered = isObject(res.body["one_time_keys"]) ? res.body["one_time_keys"] : {};
  const out: ClaimResult = {};
  await Promise.all(
    claims.map(async (c) => {
      const byDevice = answered[c.userId];
      const keys = isObject(byDevice) ? byDevice[c.deviceId] : undefined;
      if (!isObject(keys)) return;
      // One key per device was asked for; the first acceptable one is passed on.
      for (const [keyId, key] of Object.entries(keys)) {
        if (!(await checkedKey(keyId, key, c, now))) continue;
        ((out[c.userId] ??= {})[c.deviceId] ??= {})[keyId] = key as JsonValue;
        return;
      }
    }),
  );
  return { ok: true, value: out };
}
