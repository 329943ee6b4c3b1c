// Device keys. The draft's device credential object ("Device Credentials") and Matrix's DeviceKeys
// (client-server `POST /keys/upload`) are the same JSON shape: {user_id, device_id, algorithms, keys,
// signatures}. One validator serves both: MLS devices publish an `m.mls.v1.credential.ed25519` key
// (a TLS-encoded BasicCredential carrying the MLS signature key), double-ratchet devices an `ed25519`
// and a `curve25519` key. A device whose object is not signed by each of its signing keys, under its
// user ID, is invalid and must never be stored or served (draft: "Invalid devices MUST NOT be members
// of the MLS group").

import { encodeBase64, tryDecodeBase64 } from "./base64.js";
import type { JsonObject } from "./canonical-json.js";
import { badJson, invalidParam } from "./errors.js";
import { isDeviceId, isUserId } from "./ids.js";
import { decodeDeviceIdentity, encodeDeviceIdentity } from "./mls-identity.js";
import { signingBytes, verifyJsonSignature } from "./signed-json.js";

/** The draft's mandatory MLS algorithm (ciphersuite MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519). */
export const MLS_ALGORITHM = "m.mls.v1.dhkemx25519-aes128gcm-sha256-ed25519";
/** Key algorithm of the device's BasicCredential in `keys` (draft "Device Credentials"). */
export const MLS_CREDENTIAL_KEY_ALGORITHM = "m.mls.v1.credential.ed25519";
/** One-time key algorithm of MLS KeyPackages (draft "Key Packages"). */
export const MLS_KEY_PACKAGE_ALGORITHM = "m.mls.v1.key_package.dhkemx25519-aes128gcm-sha256-ed25519";

const MAX_ALGORITHMS = 32;
const MAX_KEYS = 32;
const MAX_NAME_LENGTH = 255;

/**
 * The `keys` entry for a device's MLS credential: unpadded base64 of the draft's BasicCredential
 * struct, the same bytes the device's MLS leaves carry as their credential identity.
 */
export function mlsCredentialKey(identity: { userId: string; deviceId: string; signatureKey: Uint8Array }): { keyId: string; value: string } {
  return { keyId: `${MLS_CREDENTIAL_KEY_ALGORITHM}:${identity.deviceId}`, value: encodeBase64(encodeDeviceIdentity(identity)) };
}

/** Splits a key ID `<algorithm>:<version>` at its first colon; undefined when either side is empty. */
export function splitKeyId(keyId: string): { algorithm: string; version: string } | undefined {
  const colon = keyId.indexOf(":");
  if (colon <= 0 || colon === keyId.length - 1) return undefined;
  return { algorithm: keyId.slice(0, colon), version: keyId.slice(colon + 1) };
}

export interface ValidDeviceKeys {
  userId: string;
  deviceId: string;
  /** The object as it may be stored and served: `unsigned` removed, everything signed kept. */
  object: JsonObject;
  /** The device's MLS signature key, when it publishes an MLS credential. */
  mlsSignatureKey?: Uint8Array;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The Ed25519 public key behind a signing key entry, or undefined for keys that cannot sign (curve25519, unknown). */
function signingKeyOf(algorithm: string, value: string, userId: string, deviceId: string): Uint8Array | undefined {
  if (algorithm === "ed25519") {
    const raw = tryDecodeBase64(value);
    if (!raw || raw.length !== 32) throw invalidParam(`ed25519:${deviceId} is not a 32-byte unpadded base64 key`);
    return raw;
  }
  if (algorithm === MLS_CREDENTIAL_KEY_ALGORITHM) {
    const raw = tryDecodeBase64(value);
    const decoded = raw && decodeDeviceIdentity(raw);
    if (!decoded || !decoded.ok) throw invalidParam(`${MLS_CREDENTIAL_KEY_ALGORITHM}:${deviceId} is not an unpadded base64 BasicCredential${decoded ? `: ${decoded.reason}` : ""}`);
    const cred = decoded.identity;
    if (cred.userId !== userId || cred.deviceId !== deviceId) throw invalidParam("The MLS credential names a different user or device");
    if (cred.signatureKey.length !== 32) throw invalidParam("The MLS credential's signature_key is not a 32-byte Ed25519 key");
    return cred.signatureKey;
  }
  return undefined;
}

/**
 * Validates a device credential / DeviceKeys object. Shape errors are M_BAD_JSON; a wrong owner, a
 * malformed key, or a missing or bad signature is M_INVALID_PARAM. `expected` pins the owner (the
 * uploading device, or the user and device a remote server was asked about).
 */
export async function validateDeviceKeys(obj: unknown, expected: { userId?: string; deviceId?: string } = {}): Promise<ValidDeviceKeys> {
  if (!isPlainObject(obj)) throw badJson("device_keys must be an object");
  const { user_id: userId, device_id: deviceId, algorithms, keys, signatures } = obj;
  if (typeof userId !== "string" || !isUserId(userId)) throw badJson("device_keys.user_id must be a user ID");
  if (typeof deviceId !== "string" || !isDeviceId(deviceId)) throw badJson("device_keys.device_id must be a device ID");
  if (expected.userId !== undefined && userId !== expected.userId) throw invalidParam("device_keys.user_id does not match the device's user");
  if (expected.deviceId !== undefined && deviceId !== expected.deviceId) throw invalidParam("device_keys.device_id does not match the device");
  if (!Array.isArray(algorithms) || algorithms.length === 0 || algorithms.length > MAX_ALGORITHMS) {
    throw badJson(`device_keys.algorithms must list 1 to ${MAX_ALGORITHMS} algorithms`);
  }
  if (!algorithms.every((a) => typeof a === "string" && a.length > 0 && a.length <= MAX_NAME_LENGTH)) throw badJson("device_keys.algorithms must be strings");
  if (!isPlainObject(keys)) throw badJson("device_keys.keys must be an object");
  const entries = Object.entries(keys);
  if (entries.length === 0 || entries.length > MAX_KEYS) throw badJson(`device_keys.keys must hold 1 to ${MAX_KEYS} keys`);
  if (!isPlainObject(signatures) || !isPlainObject(signatures[userId])) throw invalidParam("device_keys must be signed under its user ID");

  const bytes = signingBytes(obj);
  let signers = 0;
  let mlsSignatureKey: Uint8Array | undefined;
  for (const [keyId, value] of entries) {
    if (typeof value !== "string") throw badJson(`device_keys.keys.${keyId} must be a string`);
    const split = splitKeyId(keyId);
    // Draft: the device ID is the key version of every key the device lists.
    if (!split || split.version !== deviceId || split.algorithm.length > MAX_NAME_LENGTH) {
      throw invalidParam(`Key ID ${keyId} must be <algorithm>:${deviceId}`);
    }
    const publicKey = signingKeyOf(split.algorithm, value, userId, deviceId);
    if (publicKey === undefined) continue;
    if (!(await verifyJsonSignature(obj, userId, keyId, publicKey, bytes))) {
      throw invalidParam(`device_keys lacks a valid signature by ${keyId} under ${userId}`);
    }
    signers++;
    if (split.algorithm === MLS_CREDENTIAL_KEY_ALGORITHM) mlsSignatureKey = publicKey;
  }
  // Keys that cannot sign (curve25519) are vouched for by the signing keys' signatures over the whole
  // object, so a device needs at least one signing key.
  if (signers === 0) throw invalidParam(`device_keys must include an ed25519 or ${MLS_CREDENTIAL_KEY_ALGORITHM} key`);
  if (algorithms.includes(MLS_ALGORITHM) && mlsSignatureKey === undefined) {
    throw invalidParam(`A device supporting ${MLS_ALGORITHM} must publish a ${MLS_CREDENTIAL_KEY_ALGORITHM} key`);
  }
  const { unsigned: _unsigned, ...signed } = obj;
  const out: ValidDeviceKeys = { userId, deviceId, object: signed as JsonObject };
  if (mlsSignatureKey) out.mlsSignatureKey = mlsSignatureKey;
  return out;
}

/** The MLS signature key of a stored device object (already validated), if it publishes one. */
export function storedMlsSignatureKey(obj: JsonObject): Uint8Array | undefined {
  const keys = obj["keys"];
  const deviceId = obj["device_id"];
  if (!isPlainObject(keys) || typeof deviceId !== "string") return undefined;
  const value = keys[`${MLS_CREDENTIAL_KEY_ALGORITHM}:${deviceId}`];
  if (typeof value !== "string") return undefined;
  const raw = tryDecodeBase64(value);
  const decoded = raw && decodeDeviceIdentity(raw);
  return decoded && decoded.ok ? decoded.identity.signatureKey : undefined;
}
