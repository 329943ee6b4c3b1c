// Client-server key endpoints: POST /keys/upload, /keys/query, /keys/claim and GET /keys/changes.
// They serve double-ratchet clients (Olm device keys, signed one-time and fallback keys) and MLS
// clients (the draft's device credential object, KeyPackages and last-resort KeyPackages) alike.

import { canonicalJson } from "../shared/canonical-json.js";
import { storedMlsSignatureKey, validateDeviceKeys, type ValidDeviceKeys } from "../shared/device-keys.js";
import { badJson, invalidParam, MatrixError } from "../shared/errors.js";
import { serverNameOf } from "../shared/ids.js";
import { parseUploadedKeys } from "../shared/one-time-keys.js";
import type { JsonObject } from "../shared/canonical-json.js";
import type { RouteTable, SbRequest } from "./app.js";
import { requireUser } from "./client-auth.js";
import { noteKeysChanged, userStream } from "./client-common.js";
import { announceDeviceChange } from "./device-list-updates.js";
import { claimLocalKeys, parseClaimRequest, parseDeviceQuery, queryLocalDeviceKeys, type ClaimRequest, type ClaimResult, type DeviceKeysResult, type DeviceQuery } from "./e2ee-keys.js";
import { json, readJsonBody } from "./http.js";
import { claimRemoteKeys, queryRemoteDeviceKeys } from "./remote-e2ee.js";
import { emptyCrossSigning, localCrossSigning, withDeviceSignatures, withViewerSignatures } from "./cross-signing-keys.js";
import { getDeviceKeys, putDeviceKeys } from "./storage/device-keys.js";
import { putFallbackKey } from "./storage/fallback-keys.js";
import { countOneTimeKeys, deleteExpiredOneTimeKeys, existingOneTimeKeys, insertOneTimeKeys, keyCounts } from "./storage/one-time-keys.js";

const PREFIXES = ["/_matrix/client/v3", "/_matrix/client/r0"] as const;
const MAX_BODY_BYTES = 1024 * 1024;
/** Unclaimed one-time keys a device may hold; Olm clients keep about 50, MLS clients a few dozen. */
const MAX_STORED_PER_DEVICE = 5_000;
const DEFAULT_REMOTE_TIMEOUT_MS = 10_000;
const MAX_REMOTE_TIMEOUT_MS = 30_000;

function remoteTimeout(body: Record<string, unknown>): number {
  const t = body["timeout"];
  if (t === undefined || t === null) return DEFAULT_REMOTE_TIMEOUT_MS;
  if (typeof t !== "number" || !Number.isFinite(t) || t < 0) throw badJson("timeout must be a non-negative number of milliseconds");
  return Math.max(1_000, Math.min(t, MAX_REMOTE_TIMEOUT_MS));
}

// --------------------------------------------------------------------------------------------
// POST /keys/upload
// --------------------------------------------------------------------------------------------

async function upload(req: SbRequest, env: Env): Promise<Response> {
  const { userId, deviceId } = await requireUser(req, env);
  const { body } = await readJsonBody(req, { maxBytes: MAX_BODY_BYTES });
  const now = Date.now();
  // Everything is validated before anything is written: a bad upload leaves the stored keys as they were.
  let device: ValidDeviceKeys | undefined;
  if (body["device_keys"] !== undefined && body["device_keys"] !== null) device = await validateDeviceKeys(body["device_keys"], { userId, deviceId });
  const storedJson = await getDeviceKeys(env.DB, userId, deviceId);
  const stored = storedJson === null ? undefined : (JSON.parse(storedJson) as JsonObject);
  const mlsSignatureKey = device ? device.mlsSignatureKey : stored && storedMlsSignatureKey(stored);
  const ctx = { now, userId, deviceId, ...(mlsSignatureKey ? { mlsSignatureKey } : {}) };
  const oneTime = await parseUploadedKeys(body["one_time_keys"], "one_time_keys", ctx);
  const fallback = await parseUploadedKeys(body["fallback_keys"], "fallback_keys", ctx);

  const existing = await existingOneTimeKeys(env.DB, userId, deviceId, oneTime);
  for (const k of oneTime) {
    const old = existing.get(`${k.algorithm}:${k.version}`);
    if (old !== undefined && old !== k.json) throw invalidParam(`One-time key ${k.algorithm}:${k.version} already exists with different content`);
  }
  const fresh = oneTime.filter((k) => !existing.has(`${k.algorithm}:${k.version}`));
  const deviceJson = device ? canonicalJson(device.object) : undefined;
  const deviceChanged = deviceJson !== undefined && (stored === undefined || canonicalJson(stored) !== deviceJson);

  const counted = await countOneTimeKeys(env.DB, userId, deviceId, now).all();
  const total = Object.values(keyCounts(counted)).reduce((a, b) => a + b, 0);
  if (total + fresh.length > MAX_STORED_PER_DEVICE) throw invalidParam(`A device may hold at most ${MAX_STORED_PER_DEVICE} unclaimed one-time keys`);

  const statements: D1PreparedStatement[] = [deleteExpiredOneTimeKeys(env.DB, userId, deviceId, now)];
  if (deviceChanged && deviceJson !== undefined) statements.push(putDeviceKeys(env.DB, userId, deviceId, deviceJson, now));
  statements.push(...insertOneTimeKeys(env.DB, userId, deviceId, fresh, now));
  for (const k of fallback) statements.push(putFallbackKey(env.DB, userId, deviceId, k, now));
  statements.push(countOneTimeKeys(env.DB, userId, deviceId, now));
  const results = await env.DB.batch(statements);
  const counts = keyCounts(results[results.length - 1] as D1Result<unknown>);
  // The counts /sync shows come from the user's stream while nothing changes: tell it something did.
  if (fresh.length > 0 || fallback.length > 0) await noteKeysChanged(env, userId);

  // New or changed device keys are news for everyone who shares a room with this user.
  if (deviceChanged && device) await announceDeviceChange(env, req.config.serverName, userId, [device.object], []);
  return json({ one_time_key_counts: counts });
}

// --------------------------------------------------------------------------------------------
// POST /keys/query and /keys/claim
// --------------------------------------------------------------------------------------------

function byServer<T>(items: Iterable<T>, userOf: (t: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const it of items) {
    const server = serverNameOf(userOf(it));
    out.set(server, [...(out.get(server) ?? []), it]);
  }
  return out;
}

async function query(req: SbRequest, env: Env): Promise<Response> {
  const { userId: viewer } = await requireUser(req, env);
  const { body } = await readJsonBody(req, { maxBytes: MAX_BODY_BYTES });
  const wanted = parseDeviceQuery(body["device_keys"]);
  const timeoutMs = remoteTimeout(body);
  const serverName = req.config.serverName;
  const deviceKeys: DeviceKeysResult = {};
  const failures: Record<string, JsonObject> = {};
  const crossSigning = emptyCrossSigning();
  await Promise.all(
    [...byServer(wanted, ([u]) => u)].map(async ([server, entries]) => {
      const q: DeviceQuery = new Map(entries);
      if (server === serverName) {
        Object.assign(deviceKeys, await withDeviceSignatures(env.DB, await queryLocalDeviceKeys(env.DB, q, true), viewer));
        const local = await localCrossSigning(env.DB, [...q.keys()], viewer);
        for (const f of ["master_keys", "self_signing_keys", "user_signing_keys"] as const) Object.assign(crossSigning[f], local[f]);
        return;
      }
      const remote = await queryRemoteDeviceKeys(req.config, server, q, timeoutMs, crossSigning);
      if (remote.ok) Object.assign(deviceKeys, remote.value);
      else failures[server] = remote.failure;
    }),
  );
  await withViewerSignatures(env.DB, crossSigning, viewer);
  return json({ device_keys: deviceKeys, failures, ...crossSigning });
}

async function claim(req: SbRequest, env: Env): Promise<Response> {
  await requireUser(req, env);
  const { body } = await readJsonBody(req, { maxBytes: MAX_BODY_BYTES });
  const claims = parseClaimRequest(body["one_time_keys"]);
  const timeoutMs = remoteTimeout(body);
  const serverName = req.config.serverName;
  const now = Date.now();
  const oneTimeKeys: ClaimResult = {};
  const failures: Record<string, JsonObject> = {};
  await Promise.all(
    [...byServer(claims, (c: ClaimRequest) => c.userId)].map(async ([server, list]) => {
      if (server === serverName) {
        Object.assign(oneTimeKeys, await claimLocalKeys(env, list, now));
        return;
      }
      const remote = await claimRemoteKeys(req.config, server, list, timeoutMs, now);
      if (remote.ok) Object.assign(oneTimeKeys, remote.value);
      else failures[server] = remote.failure;
    }),
  );
  return json({ one_time_keys: oneTimeKeys, failures });
}

// --------------------------------------------------------------------------------------------
// GET /keys/changes
// --------------------------------------------------------------------------------------------

function parseToken(raw: string | null, name: string): number {
  if (raw === null || raw === "") throw new MatrixError(400, "M_MISSING_PARAM", `${name} is required`);
  const m = /^s(\d+)$/.exec(raw);
  if (!m) throw invalidParam(`${name} is not a sync token`);
  return Number(m[1]);
}

async function changes(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  const q = new URL(req.url).searchParams;
  const from = parseToken(q.get("from"), "from");
  parseToken(q.get("to"), "to"); // a hint only (see UserStream.keyChanges)
  const result = await userStream(env, userId).keyChanges(from);
  return json(result);
}

export function mountClientKeys(t: RouteTable): void {
  for (const p of PREFIXES) {
    t.add("post", `${p}/keys/upload`, upload);
    t.add("post", `${p}/keys/query`, query);
    t.add("post", `${p}/keys/claim`, claim);
    t.add("get", `${p}/keys/changes`, changes);
  }
}
