// The identity inside a device's MLS BasicCredential (draft-ralston-mimi-linearized-matrix-04 "Device
// Credentials"): the credential's `identity` bytes are the draft's struct
//
//   struct { opaque user_id<V>; opaque device_id<V>; opaque signature_key<V>; } BasicCredential;
//
// three variable-length vectors in RFC 9420 §2.1.2 encoding (a 1, 2 or 4 byte length whose top two bits
// give its size; "11" is invalid; the minimum size MUST be used). The hub reads it to learn which user
// and device an MLS leaf belongs to, so decoding is strict: one byte string per identity, nothing trailing.

import { isDeviceId, isUserId, type DeviceId, type UserId } from "./ids.js";

export interface DeviceIdentity {
  userId: UserId;
  deviceId: DeviceId;
  /** The device's MLS signature public key, as the credential states it. */
  signatureKey: Uint8Array;
}

export type IdentityResult = { ok: true; identity: DeviceIdentity } | { ok: false; reason: string };

const MAX_VECTOR_LENGTH = 0x3fffffff;
const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function lengthPrefix(length: number): Uint8Array {
  if (length < 0x40) return Uint8Array.of(length);
  if (length < 0x4000) return Uint8Array.of(0x40 | (length >> 8), length & 0xff);
  if (length <= MAX_VECTOR_LENGTH) {
    return Uint8Array.of(0x80 | (length >>> 24), (length >>> 16) & 0xff, (length >>> 8) & 0xff, length & 0xff);
  }
  throw new RangeError("MLS vector longer than 2^30-1 bytes");
}

/** Reads one vector at `offset`; undefined when truncated, non-minimal or using the invalid "11" prefix. */
function readVector(bytes: Uint8Array, offset: number): { value: Uint8Array; next: number } | undefined {
  const first = bytes[offset];
  if (first === undefined) return undefined;
  const size = [1, 2, 4][first >> 6];
  if (size === undefined || offset + size > bytes.length) return undefined;
  let length = first & 0x3f;
  for (let i = 1; i < size; i++) length = length * 256 + (bytes[offset + i] as number);
  const minimum = size === 1 ? 0 : size === 2 ? 0x40 : 0x4000;
  if (length < minimum) return undefined;
  const start = offset + size;
  if (start + length > bytes.length) return undefined;
  return { value: bytes.subarray(start, start + length), next: start + length };
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The credential identity bytes for a device. Throws on an invalid user ID, device ID or empty key. */
export function encodeDeviceIdentity(identity: { userId: string; deviceId: string; signatureKey: Uint8Array }): Uint8Array {
  if (!isUserId(identity.userId)) throw new TypeError(`invalid user ID: ${identity.userId}`);
  if (!isDeviceId(identity.deviceId)) throw new TypeError(`invalid device ID: ${identity.deviceId}`);
  if (identity.signatureKey.length === 0) throw new TypeError("empty signature key");
  const parts = [utf8.encode(identity.userId), utf8.encode(identity.deviceId), identity.signatureKey];
  const chunks = parts.flatMap((p) => [lengthPrefix(p.length), p]);
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/**
 * Decodes credential identity bytes. When the leaf node's signature key is given, the credential's
 * `signature_key` must equal it: otherwise a device could present another device's credential.
 */
export function decodeDeviceIdentity(bytes: Uint8Array, leafSignatureKey?: Uint8Array): IdentityResult {
  const user = readVector(bytes, 0);
  const device = user && readVector(bytes, user.next);
  const key = device && readVector(bytes, device.next);
  if (!user || !device || !key) return { ok: false, reason: "credential identity is not three MLS vectors" };
  if (key.next !== bytes.length) return { ok: false, reason: "credential identity has trailing bytes" };
  let userId: string;
  let deviceId: string;
  try {
    userId = strictUtf8.decode(user.value);
    deviceId = strictUtf8.decode(device.value);
  } catch {
    return { ok: false, reason: "credential user_id or device_id is not UTF-8" };
  }
  if (!isUserId(userId)) return { ok: false, reason: "credential user_id is not a valid user ID" };
  if (!isDeviceId(deviceId)) return { ok: false, reason: "credential device_id is not a valid device ID" };
  if (key.value.length === 0) return { ok: false, reason: "credential signature_key is empty" };
  if (leafSignatureKey !== undefined && !equalBytes(key.value, leafSignatureKey)) {
    return { ok: false, reason: "credential signature_key does not match the leaf node's signature key" };
  }
  return { ok: true, identity: { userId, deviceId, signatureKey: key.value.slice() } };
}

/** Same user and device (the signature key may rotate through an UpdatePath). */
export function sameDevice(a: { userId: string; deviceId: string }, b: { userId: string; deviceId: string }): boolean {
  return a.userId === b.userId && a.deviceId === b.deviceId;
}
