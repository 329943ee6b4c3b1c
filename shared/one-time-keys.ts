// One-time and fallback keys as uploaded (client-server `POST /keys/upload`): Olm's `curve25519` /
// `signed_curve25519` keys, and MLS KeyPackages under the draft's key-package algorithm. Everything is
// checked before anything is stored, so a bad upload changes nothing.

import { canonicalJson } from "./canonical-json.js";
import { MLS_KEY_PACKAGE_ALGORITHM, splitKeyId } from "./device-keys.js";
import { badJson, invalidParam } from "./errors.js";
import { inspectKeyPackage } from "./mls-key-package.js";
import { sameBytes } from "./bytes.js";

export const MAX_KEYS_PER_UPLOAD = 500;
/** Bytes of canonical JSON one key may take; a KeyPackage in base64 fits comfortably. */
export const MAX_KEY_JSON_BYTES = 24 * 1024;
const NAME = /^[\x21-\x39\x3b-\x7e]{1,255}$/; // printable ASCII without ':'
const VERSION = /^[\x21-\x7e]{1,255}$/;

export interface UploadedKey {
  algorithm: string;
  /** The key version: the part of the key ID after the algorithm. */
  version: string;
  /** The key as canonical JSON (a string for Curve25519 keys and KeyPackages, an object for signed keys). */
  json: string;
  /** Never handed out from this moment (ms); null for keys without a lifetime. */
  expiresTs: number | null;
}

export interface KeyUploadContext {
  now: number;
  /** The uploading device: a KeyPackage's credential must name it. */
  userId: string;
  deviceId: string;
  /** The device's MLS signature key: a KeyPackage it uploads must be signed with it. */
  mlsSignatureKey?: Uint8Array;
}

/**
 * Parses `one_time_keys` or `fallback_keys` (`field` names it in errors). Fallback keys allow one key
 * per algorithm, as the store keeps only one.
 */
export async function parseUploadedKeys(raw: unknown, field: "one_time_keys" | "fallback_keys", ctx: KeyUploadContext): Promise<UploadedKey[]> {
  if (raw === undefined || raw === null) return [];
  if (typeof raw !== "object" || Array.isArray(raw)) throw badJson(`${field} must be an object`);
  const entries = Object.entries(raw as Record<string, unknown>);
  if (entries.length > MAX_KEYS_PER_UPLOAD) throw invalidParam(`At most ${MAX_KEYS_PER_UPLOAD} keys per upload`);
  const out: UploadedKey[] = [];
  const algorithms = new Set<string>();
  for (const [keyId, value] of entries) {
    const split = splitKeyId(keyId);
    if (!split || !NAME.test(split.algorithm) || !VERSION.test(split.version)) throw invalidParam(`${field}: ${keyId.slice(0, 100)} is not <algorithm>:<key_id>`);
    if (typeof value !== "string" && (typeof value !== "object" || value === null || Array.isArray(value))) {
      throw badJson(`${field}.${keyId} must be a string or an object`);
    }
    const json = canonicalJson(value);
    if (json.length > MAX_KEY_JSON_BYTES) throw invalidParam(`${field}.${keyId} is larger than ${MAX_KEY_JSON_BYTES} bytes`);
    if (field === "fallback_keys") {
      if (algorithms.has(split.algorithm)) throw invalidParam(`fallback_keys holds one key per algorithm; ${split.algorithm} appears twice`);
      algorithms.add(split.algorithm);
    }
    let expiresTs: number | null = null;
    if (split.algorithm === MLS_KEY_PACKAGE_ALGORITHM) {
      if (typeof value !== "string") throw badJson(`${field}.${keyId} must be an unpadded base64 KeyPackage`);
      // The device credential names the device's MLS signing key; a KeyPackage signed by any other key
      // would let a client be added to groups under an identity its device never published.
      if (!ctx.mlsSignatureKey) throw invalidParam(`${field}: publish device_keys with an MLS credential before KeyPackages`);
      const kp = await inspectKeyPackage(value, ctx.now);
      if (!sameBytes(kp.signatureKey, ctx.mlsSignatureKey)) {
        throw invalidParam(`${field}.${keyId} is not signed with the device's MLS credential key`);
      }
      if (kp.identity.userId !== ctx.userId || kp.identity.deviceId !== ctx.deviceId) {
        throw invalidParam(`${field}.${keyId} has a credential for another user or device`);
      }
      expiresTs = kp.expiresTs;
    }
    out.push({ algorithm: split.algorithm, version: split.version, json, expiresTs });
  }
  return out;
}
