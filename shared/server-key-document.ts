// Checking a server's key document (draft -04 "GET /_matrix/key/v2/server", "Validity") before any of
// its keys is trusted: it must name the server we asked for and be signed by every key it lists.

import { tryDecodeBase64 } from "./base64.js";
import { isKeyId } from "./ids.js";
import { signingBytes, verifyJsonSignature } from "./signed-json.js";

/** valid_until_ts counts as at most this far ahead, so a stolen key cannot be published for long. */
export const MAX_KEY_VALIDITY_MS = 7 * 24 * 60 * 60 * 1000;

export interface RemoteVerifyKey {
  keyId: string;
  publicKey: Uint8Array;
}

export interface OldRemoteVerifyKey extends RemoteVerifyKey {
  expiredTs: number;
}

export interface ValidKeyDocument {
  serverName: string;
  /** min(valid_until_ts, now + 7 days). */
  validUntilTs: number;
  verifyKeys: RemoteVerifyKey[];
  oldVerifyKeys: OldRemoteVerifyKey[];
}

export type KeyDocumentCheck = { ok: true; keys: ValidKeyDocument } | { ok: false; reason: string };

export function effectiveValidUntil(validUntilTs: number, now: number): number {
  return Math.min(validUntilTs, now + MAX_KEY_VALIDITY_MS);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function ed25519Key(entry: unknown): Uint8Array | undefined {
  if (!isObject(entry)) return undefined;
  const raw = tryDecodeBase64(entry["key"]);
  return raw?.length === 32 ? raw : undefined;
}

/**
 * Validates a key document fetched for `expectedServer`. Only ed25519 keys are kept (others cannot be
 * checked); every ed25519 key under verify_keys must have signed the document. Old keys need a
 * well-formed expired_ts; malformed old entries are dropped rather than failing the document.
 */
export async function checkKeyDocument(doc: unknown, expectedServer: string, now: number): Promise<KeyDocumentCheck> {
  if (!isObject(doc)) return { ok: false, reason: "key document is not a JSON object" };
  if (doc["server_name"] !== expectedServer) return { ok: false, reason: `key document is for ${String(doc["server_name"])}, not ${expectedServer}` };
  const validUntil = doc["valid_until_ts"];
  if (typeof validUntil !== "number" || !Number.isSafeInteger(validUntil) || validUntil < 0) {
    return { ok: false, reason: "valid_until_ts is missing or not an integer" };
  }
  const verify = doc["verify_keys"];
  if (!isObject(verify)) return { ok: false, reason: "verify_keys is missing" };
  const old = doc["old_verify_keys"] ?? {};
  if (!isObject(old)) return { ok: false, reason: "old_verify_keys is not an object" };

  const bytes = signingBytes(doc);
  const verifyKeys: RemoteVerifyKey[] = [];
  for (const [keyId, entry] of Object.entries(verify)) {
    if (!keyId.startsWith("ed25519:")) continue;
    const publicKey = ed25519Key(entry);
    if (!isKeyId(keyId) || !publicKey) return { ok: false, reason: `verify key ${keyId} is malformed` };
    if (!(await verifyJsonSignature(doc, expectedServer, keyId, publicKey, bytes))) {
      return { ok: false, reason: `key document is not signed by its key ${keyId}` };
    }
    verifyKeys.push({ keyId, publicKey });
  }
  if (verifyKeys.length === 0) return { ok: false, reason: "key document lists no ed25519 verify key" };

  const oldVerifyKeys: OldRemoteVerifyKey[] = [];
  for (const [keyId, entry] of Object.entries(old)) {
    if (!keyId.startsWith("ed25519:") || !isKeyId(keyId) || keyId in verify || !isObject(entry)) continue;
    const publicKey = ed25519Key(entry);
    const expiredTs = entry["expired_ts"];
    if (!publicKey || typeof expiredTs !== "number" || !Number.isSafeInteger(expiredTs)) continue;
    oldVerifyKeys.push({ keyId, publicKey, expiredTs });
  }
  return {
    ok: true,
    keys: { serverName: expectedServer, validUntilTs: effectiveValidUntil(validUntil, now), verifyKeys, oldVerifyKeys },
  };
}
