// Client-server device management: list, read and rename devices, and delete them behind
// user-interactive auth. A deleted device loses its access tokens, its keys and its pushers, and
// everyone sharing a room with the user hears it is gone (device-list-updates.ts).

import { badJson, MatrixError, notFound } from "../shared/errors.js";
import { isDeviceId } from "../shared/ids.js";
import type { RouteTable, SbRequest } from "./app.js";
import { evictCachedTokens, requireUser } from "./client-auth.js";
import { CLIENT_PREFIXES, param } from "./client-common.js";
import { devicesRemoved } from "./device-list-updates.js";
import { json, readJsonBody } from "./http.js";
import { deleteDeviceTokens } from "./storage/access-tokens.js";
import { deleteDevice, getDevice, listDevices, renameDevice, type DeviceRow } from "./storage/devices.js";
import { passwordUia } from "./uia.js";

const BODY = { maxBytes: 64 * 1024 };
const MAX_DELETE = 1_000;
const MAX_DISPLAY_NAME = 255;

function deviceIdParam(req: SbRequest): string {
  const deviceId = param(req, "deviceId");
  if (!isDeviceId(deviceId)) throw new MatrixError(400, "M_INVALID_PARAM", "Invalid device ID");
  return deviceId;
}

const deviceJson = (d: DeviceRow) => ({ device_id: d.deviceId, display_name: d.displayName ?? undefined, last_seen_ts: d.lastSeenTs ?? undefined });

async function list(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  return json({ devices: (await listDevices(env.DB, userId)).map(deviceJson) });
}

async function get(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  const deviceId = deviceIdParam(req);
  const found = (await listDevices(env.DB, userId)).find((d) => d.deviceId === deviceId);
  if (!found) throw notFound("No such device");
  return json(deviceJson(found));
}

async function rename(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  const deviceId = deviceIdParam(req);
  const { body } = await readJsonBody(req, BODY);
  const name = body["display_name"];
  if (name !== undefined && name !== null && (typeof name !== "string" || name.length > MAX_DISPLAY_NAME)) throw badJson(`display_name must be a string of at most ${MAX_DISPLAY_NAME} characters`);
  // Spec: an absent display_name leaves the name as it is.
  if (name === undefined) {
    if (!(await getDevice(env.DB, userId, deviceId))) throw notFound("No such device");
    return json({});
  }
  const result = await renameDevice(env.DB, userId, deviceId, name).run();
  if ((result.meta.changes ?? 0) === 0) throw notFound("No such device");
  return json({});
}

/** Removes devices and all that hangs off them; unknown device IDs are skipped (deleting is idempotent). */
async function removeDevices(env: Env, serverName: string, userId: string, deviceIds: string[]): Promise<void> {
  if (deviceIds.length === 0) return;
  const statements = deviceIds.flatMap((d) => [deleteDeviceTokens(env.DB, userId, d), deleteDevice(env.DB, userId, d)]);
  await env.DB.batch(statements);
  for (const deviceId of deviceIds) evictCachedTokens({ userId, deviceId });
  await devicesRemoved(env, serverName, userId, deviceIds);
}

async function deleteOne(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  const deviceId = deviceIdParam(req);
  const { body } = await readJsonBody(req, { ...BODY, allowEmpty: true });
  const challenge = await passwordUia(env, req.config.serverName, userId, body);
  if (challenge) return challenge;
  await removeDevices(env, req.config.serverName, userId, [deviceId]);
  return json({});
}

async function deleteMany(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  const { body } = await readJsonBody(req, BODY);
  const devices = body["devices"];
  if (!Array.isArray(devices) || devices.length > MAX_DELETE || !devices.every(isDeviceId)) throw badJson(`devices must be a list of at most ${MAX_DELETE} device IDs`);
  const challenge = await passwordUia(env, req.config.serverName, userId, body);
  if (challenge) return challenge;
  await removeDevices(env, req.config.serverName, userId, [...new Set(devices)]);
  return json({});
}

export function mountClientDevices(t: RouteTable): void {
  for (const p of CLIENT_PREFIXES) {
    t.add("get", `${p}/devices`, list);
    t.add("get", `${p}/devices/:deviceId`, get);
    t.add("put", `${p}/devices/:deviceId`, rename);
    t.add("delete", `${p}/devices/:deviceId`, deleteOne);
    t.add("post", `${p}/delete_devices`, deleteMany);
  }
}
