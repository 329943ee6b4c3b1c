// Signing JSON objects (draft -04 "Signing Arbitrary Objects", "Checking Signatures"; Matrix appendices
// "Signing JSON"). `unsigned` is never covered by a signature and survives signing untouched.

import { decodeBase64, encodeBase64 } from "./base64.js";
import { canonicalJsonBytes } from "./canonical-json.js";
import type { SigningKey } from "./signing-key.js";
import { verifyEd25519 } from "./signing-key.js";

export type Signatures = Record<string, Record<string, string>>;

/** The bytes a signature covers: canonical JSON without `signatures` and `unsigned`. */
export function signingBytes(obj: object): Uint8Array {
  const { signatures: _s, unsigned: _u, ...rest } = obj as Record<string, unknown>;
  return canonicalJsonBytes(rest);
}

/** Returns a copy of `obj` with this entity's signature added beside any it already has. */
export async function signJson<T extends object>(obj: T, entity: string, key: SigningKey): Promise<T & { signatures: Signatures }> {
  const sig = encodeBase64(await key.sign(signingBytes(obj)));
  const existing = ((obj as { signatures?: Signatures }).signatures ?? {}) as Signatures;
  return {
    ...obj,
    signatures: { ...existing, [entity]: { ...(existing[entity] ?? {}), [key.keyId]: sig } },
  };
}

/** Reads one signature out of a signatures object, tolerating any malformed structure. */
export function getSignature(obj: unknown, entity: string, keyId: string): string | undefined {
  const sigs = (obj as { signatures?: unknown } | null)?.signatures;
  if (typeof sigs !== "object" || sigs === null) return undefined;
  const byEntity = (sigs as Record<string, unknown>)[entity];
  if (typeof byEntity !== "object" || byEntity === null) return undefined;
  const sig = (byEntity as Record<string, unknown>)[keyId];
  return typeof sig === "string" ? sig : undefined;
}

/** Key IDs this entity signed with (only well-formed string entries). */
export function signatureKeyIds(obj: unknown, entity: string): string[] {
  const sigs = (obj as { signatures?: unknown } | null)?.signatures;
  if (typeof sigs !== "object" || sigs === null) return [];
  const byEntity = (sigs as Record<string, unknown>)[entity];
  if (typeof byEntity !== "object" || byEntity === null) return [];
  return Object.keys(byEntity).filter((k) => typeof (byEntity as Record<string, unknown>)[k] === "string");
}

/** Checks one entity's signature under one key. Missing or undecodable signatures are false. */
export async function verifyJsonSignature(obj: object, entity: string, keyId: string, publicKey: Uint8Array, bytes?: Uint8Array): Promise<boolean> {
  const sig = getSignature(obj, entity, keyId);
  if (sig === undefined) return false;
  let raw: Uint8Array;
  try {
    raw = decodeBase64(sig);
  } catch {
    return false;
  }
  return verifyEd25519(publicKey, raw, bytes ?? signingBytes(obj));
}
