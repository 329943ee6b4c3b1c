// Ed25519 server and device keys. Derivation from a seed uses @noble/ed25519 (WebCrypto cannot derive a
// public key from a bare seed); signing and verifying use WebCrypto's native Ed25519 on the hot path,
// falling back to @noble/ed25519 only where the runtime lacks it.

import * as ed from "@noble/ed25519";
import { decodeBase64, encodeBase64, encodeBase64Url } from "./base64.js";
import { isKeyId } from "./ids.js";

export interface SigningKey {
  /** e.g. "ed25519:a_b1" */
  readonly keyId: string;
  readonly publicKey: Uint8Array;
  /** Unpadded standard base64 of the public key, as published in key documents. */
  readonly publicKeyBase64: string;
  sign(message: Uint8Array): Promise<Uint8Array>;
}

let webCryptoEd25519: boolean | undefined;

async function hasWebCryptoEd25519(): Promise<boolean> {
  if (webCryptoEd25519 === undefined) {
    try {
      await crypto.subtle.importKey("raw", new Uint8Array(32).fill(1), { name: "Ed25519" }, false, ["verify"]);
      webCryptoEd25519 = true;
    } catch {
      webCryptoEd25519 = false;
    }
  }
  return webCryptoEd25519;
}

export function generateSeed(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(32));
}

export async function signingKeyFromSeed(seed: Uint8Array, keyVersion: string): Promise<SigningKey> {
  if (seed.length !== 32) throw new Error("Ed25519 seed must be 32 bytes");
  const keyId = `ed25519:${keyVersion}`;
  if (!isKeyId(keyId)) throw new Error(`Invalid key version: ${keyVersion}`);
  const publicKey = await ed.getPublicKeyAsync(seed);
  let sign: (m: Uint8Array) => Promise<Uint8Array>;
  if (await hasWebCryptoEd25519()) {
    const jwk = { kty: "OKP", crv: "Ed25519", d: encodeBase64Url(seed), x: encodeBase64Url(publicKey) };
    const key = await crypto.subtle.importKey("jwk", jwk, { name: "Ed25519" }, false, ["sign"]);
    sign = async (m) => new Uint8Array(await crypto.subtle.sign("Ed25519", key, m));
  } else {
    sign = (m) => ed.signAsync(m, seed);
  }
  return { keyId, publicKey, publicKeyBase64: encodeBase64(publicKey), sign };
}

/** Parses "ed25519:<version>:<unpadded base64 seed>", the form kept in SIGNING_KEY secrets and .dev.vars. */
export async function parseSigningKeySecret(secret: string): Promise<SigningKey> {
  const parts = secret.trim().split(/\s+|:/);
  if (parts.length !== 3 || parts[0] !== "ed25519") {
    throw new Error('SIGNING_KEY must look like "ed25519:<version>:<base64 seed>"');
  }
  return signingKeyFromSeed(decodeBase64(parts[2] as string), parts[1] as string);
}

export function formatSigningKeySecret(seed: Uint8Array, keyVersion: string): string {
  return `ed25519:${keyVersion}:${encodeBase64(seed)}`;
}

const verifyKeyCache = new Map<string, Promise<CryptoKey>>();
const VERIFY_CACHE_MAX = 4096;

function importVerifyKey(publicKey: Uint8Array): Promise<CryptoKey> {
  const id = encodeBase64(publicKey);
  let k = verifyKeyCache.get(id);
  if (!k) {
    if (verifyKeyCache.size >= VERIFY_CACHE_MAX) verifyKeyCache.clear();
    k = crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
    verifyKeyCache.set(id, k);
    k.catch(() => verifyKeyCache.delete(id));
  }
  return k;
}

/** Verifies an Ed25519 signature; malformed keys or signatures verify as false, never throw. */
export async function verifyEd25519(publicKey: Uint8Array, signature: Uint8Array, message: Uint8Array): Promise<boolean> {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  try {
    if (await hasWebCryptoEd25519()) {
      return await crypto.subtle.verify("Ed25519", await importVerifyKey(publicKey), signature, message);
    }
    return await ed.verifyAsync(signature, message, publicKey, { zip215: false });
  } catch {
    return false;
  }
}
