// Local key bundles, for both the client API (our users asking about our users) and federation
// (other servers asking about our users): reading device objects, claiming one-time keys and
// KeyPackages, and cleaning up after a device goes away.

import type { JsonObject, JsonValue } from "../shared/canonical-json.js";
import { badJson, invalidParam } from "../shared/errors.js";
import { isDeviceId, isUserId } from "../shared/ids.js";
import { noteKeysChanged } from "./client-common.js";
import { deleteDeviceKeys, listDeviceKeyOwners, listDeviceKeys } from "./storage/device-keys.js";
import { claimFallbackKey, deleteFallbackKeys } from "./storage/fallback-keys.js";
import { claimOneTimeKey, deleteOneTimeKeys } from "./storage/one-time-keys.js";
import { deleteToDeviceTxns } from "./storage/to-device-txns.js";

/**
 * Users per query and devices per claim: enough for a large room, and (with at most two statements
 * per claimed device) within D1's 1,000 queries per Worker invocation.
 */
export const MAX_QUERY_USERS = 1_000;
export const MAX_CLAIMS = 450;
/** Statements per D1 batch when claiming. */
const CLAIM_BATCH = 100;

/** user ID -> device IDs (empty = every device). */
export type DeviceQuery = Map<string, string[]>;
/** user ID -> device ID -> device object. */
export type DeviceKeysResult = Record<string, Record<string, JsonObject>>;
/** user ID -> device ID -> key ID -> key. */
export type ClaimResult = Record<string, Record<string, Record<string, JsonValue>>>;

export interface ClaimRequest {
  userId: string;
  deviceId: string;
  algorithm: string;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Parses `device_keys` of a keys query: {user ID: [device IDs]}. */
export function parseDeviceQuery(raw: unknown): DeviceQuery {
  if (!isObject(raw)) throw badJson("device_keys must be an object of user ID to device IDs");
  const entries = Object.entries(raw);
  if (entries.length > MAX_QUERY_USERS) throw invalidParam(`At most ${MAX_QUERY_USERS} users per query`);
  const out: DeviceQuery = new Map();
  for (const [userId, devices] of entries) {
    if (!isUserId(userId)) throw invalidParam(`Invalid user ID ${userId.slice(0, 100)}`);
    if (!Array.isArray(devices) || !devices.every((d) => typeof d === "string")) throw badJson(`device_keys.${userId} must be a list of device IDs`);
    out.set(userId, devices as string[]);
  }
  return out;
}

/** Parses `one_time_keys` of a claim: {user ID: {device ID: algorithm}}. */
export function parseClaimRequest(raw: unknown): ClaimRequest[] {
  if (!isObject(raw)) throw badJson("one_time_keys must be an object of user ID to {device ID: algorithm}");
  const out: ClaimRequest[] = [];
  for (const [userId, devices] of Object.entries(raw)) {
    if (!isUserId(userId)) throw invalidParam(`Invalid user ID ${userId.slice(0, 100)}`);
    if (!isObject(devices)) throw badJson(`one_time_keys.${userId} must be an object of device ID to algorithm`);
    for (const [deviceId, algorithm] of Object.entries(devices)) {
      if (!isDeviceId(deviceId)) throw invalidParam(`Invalid device ID ${deviceId.slice(0, 100)}`);
      if (typeof algorithm !== "string" || algorithm.length === 0 || algorithm.length > 255) throw badJson(`one_time_keys.${userId}.${deviceId} must be an algorithm`);
      out.push({ userId, deviceId, algorithm });
      if (out.length > MAX_CLAIMS) throw invalidParam(`At most ${MAX_CLAIMS} keys per claim`);
    }
  }
  return out;
}

/**
 * The device objects of local users. `displayNames` adds `unsigned.device_display_name` (for our own
 * clients; other servers do not learn device names).
 */
export async function queryLocalDeviceKeys(db: D1Database, query: DeviceQuery, displayNames: boolean): Promise<DeviceKeysResult> {
  const out: DeviceKeysResult = {};
  if (query.size === 0) return out;
  for (const row of await listDeviceKeys(db, [...query.keys()])) {
    const wanted = query.get(row.userId) ?? [];
    if (wanted.length > 0 && !wanted.includes(row.deviceId)) continue;
    const obj = JSON.parse(row.keyJson) as JsonObject;
    if (displayNames && row.displayName !== null) obj["unsigned"] = { device_display_name: row.displayName };
    (out[row.userId] ??= {})[row.deviceId] = obj;
  }
  // Users asked about but without keys still appear, as the client-server API shows them.
  for (const userId of query.keys()) out[userId] ??= {};
  return out;
}

/**
 * Claims one key per requested device: a one-time key (or KeyPackage) if an unexpired one is left,
 * else the device's fallback key. Each one-time claim is a single DELETE ... RETURNING, so a key is
 * handed out to exactly one claimer however many claims run at once. Devices left without a key get
 * a second, guarded statement: the fallback key, only while no unexpired one-time key exists.
 */
export async function claimLocalKeys(env: Env, claims: ClaimRequest[], now: number): Promise<ClaimResult> {
  const db = env.DB;
  const out: ClaimResult = {};
  const put = (c: ClaimRequest, rows: unknown[] | undefined): boolean => {
    const row = rows?.[0] as { algorithm: string; key_version: string; key_json: string } | undefined;
    if (!row) return false;
    ((out[c.userId] ??= {})[c.deviceId] ??= {})[`${row.algorithm}:${row.key_version}`] = JSON.parse(row.key_json) as JsonValue;
    return true;
  };
  const missed: ClaimRequest[] = [];
  for (let i = 0; i < claims.length; i += CLAIM_BATCH) {
    const part = claims.slice(i, i + CLAIM_BATCH);
    const results = await db.batch(part.map((c) => claimOneTimeKey(db, c.userId, c.deviceId, c.algorithm, now)));
    part.forEach((c, j) => {
      if (!put(c, results[j]?.results)) missed.push(c);
    });
  }
  for (let i = 0; i < missed.length; i += CLAIM_BATCH) {
    const part = missed.slice(i, i + CLAIM_BATCH);
    const results = await db.batch(part.map((c) => claimFallbackKey(db, c.userId, c.deviceId, c.algorithm, now)));
    part.forEach((c, j) => put(c, results[j]?.results));
  }
  // Their counts changed: the streams that hold them for /sync must read them again.
  await Promise.all(Object.keys(out).map((userId) => noteKeysChanged(env, userId)));
  return out;
}

/**
 * Deletes the keys of devices that are gone (logout) and returns those that had published device
 * keys, whose removal other users must hear about. `deviceIds` "all" means every device of the user.
 */
export async function deleteKeysOfDevices(db: D1Database, userId: string, deviceIds: string[] | "all"): Promise<string[]> {
  const owners = await listDeviceKeyOwners(db, userId);
  await db.batch([
    ...deleteDeviceKeys(db, userId, deviceIds),
    ...deleteOneTimeKeys(db, userId, deviceIds),
    ...deleteFallbackKeys(db, userId, deviceIds),
    ...deleteToDeviceTxns(db, userId, deviceIds),
  ]);
  return deviceIds === "all" ? owners : owners.filter((d) => deviceIds.includes(d));
}
