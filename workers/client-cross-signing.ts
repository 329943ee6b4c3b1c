// Client-server cross-signing: POST /keys/device_signing/upload (the user's master, self-signing and
// user-signing keys; replacing existing keys needs user-interactive auth) and POST
// /keys/signatures/upload (signatures on the user's own devices and master key, and on other users'
// master keys with the user-signing key). Every key and signature is checked before it is stored.

import type { JsonObject } from "../shared/canonical-json.js";
import { checkSignedByMaster, checkUploadedSignature, CROSS_SIGNING_USAGES, parseCrossSigningKey, sameSignedContent, type CrossSigningKey, type CrossSigningUsage } from "../shared/cross-signing.js";
import { badJson, invalidParam, MatrixError, notFound } from "../shared/errors.js";
import { isUserId, serverNameOf } from "../shared/ids.js";
import { tryDecodeBase64 } from "../shared/base64.js";
import type { RouteTable, SbRequest } from "./app.js";
import { requireUser } from "./client-auth.js";
import { CLIENT_PREFIXES } from "./client-common.js";
import { emptyCrossSigning, localCrossSigning, storedKeysOf, withDeviceSignatures } from "./cross-signing-keys.js";
import { queryLocalDeviceKeys } from "./e2ee-keys.js";
import { announceDeviceChange, announceSigningKeyChange } from "./device-list-updates.js";
import { json, readJsonBody } from "./http.js";
import { queryRemoteDeviceKeys } from "./remote-e2ee.js";
import { deleteSignaturesBy, putCrossSigningKey, putSignature, type StoredSignature } from "./storage/cross-signing.js";
import { getDeviceKeys } from "./storage/device-keys.js";
import { passwordUia } from "./uia.js";

const BODY = { maxBytes: 256 * 1024 };
const MAX_SIGNED_OBJECTS = 100;
const REMOTE_TIMEOUT_MS = 10_000;
const FIELD: Record<CrossSigningUsage, string> = { master: "master_key", self_signing: "self_signing_key", user_signing: "user_signing_key" };

async function uploadSigningKeys(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  const { body } = await readJsonBody(req, BODY);
  const uploaded: Partial<Record<CrossSigningUsage, CrossSigningKey>> = {};
  for (const usage of CROSS_SIGNING_USAGES) {
    const raw = body[FIELD[usage]];
    if (raw !== undefined && raw !== null) uploaded[usage] = parseCrossSigningKey(raw, userId, usage);
  }
  const stored = await storedKeysOf(env.DB, userId);
  const master = uploaded.master ?? stored.master;
  if (!master) throw new MatrixError(400, "M_MISSING_PARAM", "A master key is needed before other cross-signing keys");
  for (const usage of ["self_signing", "user_signing"] as const) {
    const key = uploaded[usage];
    if (key) await checkSignedByMaster(key, master);
  }
  // Replacing keys needs the user's password; the first upload, or the same keys again, does not.
  const replaces = CROSS_SIGNING_USAGES.some((u) => {
    const now = uploaded[u];
    const before = stored[u];
    return now !== undefined && before !== undefined && !sameSignedContent(now.object, before.object);
  });
  if (replaces) {
    const challenge = await passwordUia(env, req.config.serverName, userId, body);
    if (challenge) return challenge;
  }
  const now = Date.now();
  const statements: D1PreparedStatement[] = [];
  const masterChanged = uploaded.master !== undefined && stored.master !== undefined && uploaded.master.keyId !== stored.master.keyId;
  for (const usage of CROSS_SIGNING_USAGES) {
    const key = uploaded[usage];
    const before = stored[usage];
    if (key) statements.push(putCrossSigningKey(env.DB, userId, usage, JSON.stringify(key.object), now));
    // Signatures made with a key that is replaced no longer vouch for anything.
    if (before && (key ? key.keyId !== before.keyId : masterChanged)) statements.push(deleteSignaturesBy(env.DB, userId, before.keyId));
  }
  if (statements.length > 0) await env.DB.batch(statements);
  const after = await storedKeysOf(env.DB, userId);
  await announceSigningKeyChange(env, req.config.serverName, userId, after.master?.object, after.self_signing?.object);
  return json({});
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The Ed25519 key of a device, from its stored device object. */
function deviceSigningKey(deviceJson: string, deviceId: string): Uint8Array | undefined {
  const keys = (JSON.parse(deviceJson) as JsonObject)["keys"];
  const value = isObject(keys) ? keys[`ed25519:${deviceId}`] : undefined;
  const raw = typeof value === "string" ? tryDecodeBase64(value) : undefined;
  return raw && raw.length === 32 ? raw : undefined;
}

type Failure = { errcode: string; error: string };
const failureOf = (e: MatrixError): Failure => ({ errcode: e.errcode, error: e.message });

/** The target's master key: ours from D1, a remote user's from their server. */
async function masterKeyOf(req: SbRequest, env: Env, target: string): Promise<CrossSigningKey | undefined> {
  if (serverNameOf(target) === req.config.serverName) return (await storedKeysOf(env.DB, target)).master;
  const found = emptyCrossSigning();
  await queryRemoteDeviceKeys(req.config, serverNameOf(target), new Map([[target, []]]), REMOTE_TIMEOUT_MS, found);
  const obj = found.master_keys[target];
  return obj ? parseCrossSigningKey(obj, target, "master") : undefined;
}

/** Checks one signed object and returns the signature to store. */
async function checkOne(req: SbRequest, env: Env, userId: string, own: Partial<Record<CrossSigningUsage, CrossSigningKey>>, target: string, keyId: string, signed: unknown): Promise<StoredSignature> {
  if (target === userId) {
    // One of the user's devices, signed by their self-signing key.
    const device = await getDeviceKeys(env.DB, userId, keyId);
    if (device !== null) {
      const ssk = own.self_signing;
      if (!ssk) throw invalidParam("No self-signing key has been uploaded");
      const check = await checkUploadedSignature(JSON.parse(device) as object, signed, { userId, keyId: ssk.keyId, publicKey: ssk.publicKey });
      if (!check.ok) throw check.error;
      return { targetUserId: userId, targetKeyId: keyId, signerUserId: userId, signerKeyId: ssk.keyId, signature: check.signature };
    }
    // The user's master key, signed by one of their devices.
    const master = own.master;
    if (!master || master.publicKeyBase64 !== keyId) throw notFound(`No device or master key ${keyId}`);
    const signers = isObject(signed) && isObject(signed["signatures"]) && isObject(signed["signatures"][userId]) ? Object.keys(signed["signatures"][userId]) : [];
    for (const signerKeyId of signers) {
      if (!signerKeyId.startsWith("ed25519:") || signerKeyId === master.keyId) continue;
      const deviceId = signerKeyId.slice("ed25519:".length);
      const signerDevice = await getDeviceKeys(env.DB, userId, deviceId);
      const publicKey = signerDevice === null ? undefined : deviceSigningKey(signerDevice, deviceId);
      if (!publicKey) continue;
      const check = await checkUploadedSignature(master.object, signed, { userId, keyId: signerKeyId, publicKey });
      if (!check.ok) throw check.error;
      return { targetUserId: userId, targetKeyId: keyId, signerUserId: userId, signerKeyId, signature: check.signature };
    }
    throw new MatrixError(400, "M_INVALID_SIGNATURE", "The master key must be signed by one of the user's devices");
  }
  // Another user's master key, signed by the user's user-signing key.
  const usk = own.user_signing;
  if (!usk) throw invalidParam("No user-signing key has been uploaded");
  const master = await masterKeyOf(req, env, target);
  if (!master || master.publicKeyBase64 !== keyId) throw notFound(`No master key ${keyId} for ${target}`);
  const check = await checkUploadedSignature(master.object, signed, { userId, keyId: usk.keyId, publicKey: usk.publicKey });
  if (!check.ok) throw check.error;
  return { targetUserId: target, targetKeyId: keyId, signerUserId: userId, signerKeyId: usk.keyId, signature: check.signature };
}

async function uploadSignatures(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  const { body } = await readJsonBody(req, BODY);
  const items: Array<[string, string, unknown]> = [];
  for (const [target, byKey] of Object.entries(body)) {
    if (!isUserId(target)) throw invalidParam(`Invalid user ID ${target.slice(0, 100)}`);
    if (!isObject(byKey)) throw badJson(`${target} must map key IDs to signed objects`);
    for (const [keyId, signed] of Object.entries(byKey)) items.push([target, keyId, signed]);
  }
  if (items.length > MAX_SIGNED_OBJECTS) throw invalidParam(`At most ${MAX_SIGNED_OBJECTS} signed objects per request`);
  const own = await storedKeysOf(env.DB, userId);
  const accepted: StoredSignature[] = [];
  const failures: Record<string, Record<string, Failure>> = {};
  for (const [target, keyId, signed] of items) {
    try {
      accepted.push(await checkOne(req, env, userId, own, target, keyId, signed));
    } catch (e) {
      if (!(e instanceof MatrixError)) throw e;
      (failures[target] ??= {})[keyId] = failureOf(e);
    }
  }
  if (accepted.length > 0) {
    await env.DB.batch(accepted.map((s) => putSignature(env.DB, s)));
    // New signatures on the user's own devices and master key change what others see: tell them.
    const mine = accepted.filter((s) => s.targetUserId === userId);
    const master = own.master;
    const deviceIds = [...new Set(mine.map((s) => s.targetKeyId).filter((k) => k !== master?.publicKeyBase64))];
    if (deviceIds.length > 0) {
      const devices = await withDeviceSignatures(env.DB, await queryLocalDeviceKeys(env.DB, new Map([[userId, deviceIds]]), false), userId);
      await announceDeviceChange(env, req.config.serverName, userId, Object.values(devices[userId] ?? {}), []);
    }
    if (master && mine.some((s) => s.targetKeyId === master.publicKeyBase64)) {
      const current = await localCrossSigning(env.DB, [userId], undefined);
      await announceSigningKeyChange(env, req.config.serverName, userId, current.master_keys[userId], current.self_signing_keys[userId]);
    }
  }
  return json({ failures });
}

export function mountClientCrossSigning(t: RouteTable): void {
  for (const p of CLIENT_PREFIXES) {
    t.add("post", `${p}/keys/device_signing/upload`, uploadSigningKeys);
    t.add("post", `${p}/keys/signatures/upload`, uploadSignatures);
  }
}
