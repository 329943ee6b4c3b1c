// Cross-signing keys (client-server "Cross-signing"): a user's master key, and the self-signing and
// user-signing keys the master key signs. Each is {user_id, usage, keys: {"ed25519:<key>": <key>},
// signatures}. This module checks their shape and signatures, and checks a signature someone uploads
// for a device or key: the server stores signatures, it never makes them.

import { tryDecodeBase64 } from "./base64.js";
import type { JsonObject } from "./canonical-json.js";
import { badJson, invalidParam, MatrixError } from "./errors.js";
import { isUserId } from "./ids.js";
import { getSignature, signingBytes, verifyJsonSignature } from "./signed-json.js";

export type CrossSigningUsage = "master" | "self_signing" | "user_signing";
export const CROSS_SIGNING_USAGES: readonly CrossSigningUsage[] = ["master", "self_signing", "user_signing"];

export interface CrossSigningKey {
  userId: string;
  usage: CrossSigningUsage;
  /** "ed25519:<unpadded base64 public key>". */
  keyId: string;
  /** The public key as it appears in `keys` (also the key ID's version). */
  publicKeyBase64: string;
  publicKey: Uint8Array;
  /** The object as stored and served (without `unsigned`). */
  object: JsonObject;
}

export const invalidSignature = (message: string) => new MatrixError(400, "M_INVALID_SIGNATURE", message);

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Checks a cross-signing key's shape and owner; the master's signature on it is checked apart. */
export function parseCrossSigningKey(raw: unknown, userId: string, usage: CrossSigningUsage): CrossSigningKey {
  if (!isObject(raw)) throw badJson(`${usage} key must be an object`);
  if (raw["user_id"] !== userId || !isUserId(raw["user_id"])) throw invalidParam(`${usage} key must belong to ${userId}`);
  const usages = raw["usage"];
  if (!Array.isArray(usages) || usages.length === 0 || usages.length > 8 || !usages.every((u) => typeof u === "string")) throw badJson(`${usage} key usage must be a list of strings`);
  if (!usages.includes(usage)) throw invalidParam(`${usage} key must list ${usage} in its usage`);
  const keys = raw["keys"];
  if (!isObject(keys)) throw badJson(`${usage} key must have keys`);
  const entries = Object.entries(keys);
  if (entries.length !== 1) throw invalidParam(`${usage} key must hold exactly one key`);
  const [keyId, value] = entries[0] as [string, unknown];
  const raw32 = typeof value === "string" ? tryDecodeBase64(value) : undefined;
  if (keyId !== `ed25519:${String(value)}` || !raw32 || raw32.length !== 32) throw invalidParam(`${usage} key must be ed25519:<key> with a 32-byte unpadded base64 key`);
  if (raw["signatures"] !== undefined && !isObject(raw["signatures"])) throw badJson(`${usage} key signatures must be an object`);
  const { unsigned: _u, ...object } = raw;
  return { userId, usage, keyId, publicKeyBase64: value as string, publicKey: raw32, object: object as JsonObject };
}

/** Self-signing and user-signing keys must carry the master key's signature. */
export async function checkSignedByMaster(key: CrossSigningKey, master: CrossSigningKey): Promise<void> {
  if (!(await verifyJsonSignature(key.object, master.userId, master.keyId, master.publicKey))) {
    throw invalidSignature(`The ${key.usage} key is not signed by the master key`);
  }
}

/** Two objects are the same key or device when everything but signatures and `unsigned` matches. */
export function sameSignedContent(a: object, b: object): boolean {
  const text = (o: object) => new TextDecoder().decode(signingBytes(o));
  return text(a) === text(b);
}

export type SignatureCheck = { ok: true; signature: string } | { ok: false; error: MatrixError };

/**
 * Checks a signature uploaded for `stored` (a device object or cross-signing key): the uploaded
 * object must be the stored one plus signatures, and carry a valid signature by the signer's key.
 */
export async function checkUploadedSignature(stored: object, uploaded: unknown, signer: { userId: string; keyId: string; publicKey: Uint8Array }): Promise<SignatureCheck> {
  if (!isObject(uploaded)) return { ok: false, error: badJson("The signed object must be an object") };
  if (!sameSignedContent(stored, uploaded)) return { ok: false, error: invalidParam("The signed object differs from the stored key") };
  const signature = getSignature(uploaded, signer.userId, signer.keyId);
  if (signature === undefined || !(await verifyJsonSignature(uploaded, signer.userId, signer.keyId, signer.publicKey))) {
    return { ok: false, error: invalidSignature(`No valid signature by ${signer.keyId}`) };
  }
  return { ok: true, signature };
}

/** Adds stored signatures to a served object, beside those it carries itself. */
export function withSignatures(obj: JsonObject, extra: Array<{ signerUserId: string; signerKeyId: string; signature: string }>): JsonObject {
  if (extra.length === 0) return obj;
  const sigs: Record<string, Record<string, string>> = {};
  const own = obj["signatures"];
  if (isObject(own)) for (const [u, byKey] of Object.entries(own)) if (isObject(byKey)) sigs[u] = { ...(byKey as Record<string, string>) };
  for (const s of extra) (sigs[s.signerUserId] ??= {})[s.signerKeyId] = s.signature;
  return { ...obj, signatures: sigs };
}
