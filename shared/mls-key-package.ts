// MLS KeyPackages as the hub sees them at upload (draft "Key Packages"): decoded only far enough to
// refuse what no client could use (a wrong ciphersuite, a broken signature, an expired lifetime, a
// credential that is not the draft's device identity) and to learn when the package expires, so an
// expired one is never handed out. Only ts-mls's codec and
// signature-check modules are imported: its crypto back ends (with their optional dynamic imports)
// stay out of the Worker bundle, and Ed25519 is checked with the project's own WebCrypto verifier.

import { decodeKeyPackage, verifyKeyPackage, type KeyPackage } from "ts-mls/keyPackage.js";
import { verifyLeafNodeSignatureKeyPackage } from "ts-mls/leafNode.js";
import { decodeMlsMessage } from "ts-mls/message.js";
import { tryDecodeBase64 } from "./base64.js";
import { invalidParam } from "./errors.js";
import { decodeDeviceIdentity, type DeviceIdentity } from "./mls-identity.js";
import { ed25519Verifier } from "./mls-ed25519-verifier.js";

/** The one ciphersuite the draft's `m.mls.v1.key_package.dhkemx25519-aes128gcm-sha256-ed25519` names. */
export const KEY_PACKAGE_CIPHERSUITE = "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519";
/** Generous for one KeyPackage with this ciphersuite (a few hundred bytes plus extensions). */
export const MAX_KEY_PACKAGE_BYTES = 16 * 1024;

export interface KeyPackageInfo {
  /** The leaf's signature key: the device's MLS signing key. */
  signatureKey: Uint8Array;
  /** Whose package it is, from the leaf's BasicCredential identity (the draft's struct). */
  identity: DeviceIdentity;
  /** End of the lifetime in ms since the epoch; null when beyond any date we can represent. */
  expiresTs: number | null;
  /** Start of the lifetime in ms since the epoch. */
  notBeforeTs: number;
}

function secondsToMs(s: bigint): number | null {
  const ms = s * 1000n;
  return ms > BigInt(Number.MAX_SAFE_INTEGER) ? null : Number(ms);
}

/** A KeyPackage alone, or wrapped as an MLSMessage (wire format mls_key_package); trailing bytes are refused. */
function decodeEither(bytes: Uint8Array): KeyPackage | undefined {
  try {
    const msg = decodeMlsMessage(bytes, 0);
    if (msg && msg[1] === bytes.length && msg[0].wireformat === "mls_key_package") return msg[0].keyPackage;
  } catch {
    // not an MLSMessage: try a bare KeyPackage
  }
  try {
    const kp = decodeKeyPackage(bytes, 0);
    if (kp && kp[1] === bytes.length) return kp[0];
  } catch {
    // malformed
  }
  return undefined;
}

/**
 * Checks an uploaded KeyPackage (unpadded base64) and returns what the store needs. Throws
 * M_INVALID_PARAM with the reason for anything that cannot be handed out.
 */
export async function inspectKeyPackage(base64: string, now: number): Promise<KeyPackageInfo> {
  const bytes = tryDecodeBase64(base64);
  if (!bytes || bytes.length === 0) throw invalidParam("KeyPackage is not unpadded base64");
  if (bytes.length > MAX_KEY_PACKAGE_BYTES) throw invalidParam(`KeyPackage is larger than ${MAX_KEY_PACKAGE_BYTES} bytes`);
  const kp = decodeEither(bytes);
  if (!kp) throw invalidParam("KeyPackage does not decode");
  if (kp.version !== "mls10") throw invalidParam("KeyPackage is not MLS 1.0");
  if (kp.cipherSuite !== KEY_PACKAGE_CIPHERSUITE) throw invalidParam(`KeyPackage ciphersuite must be ${KEY_PACKAGE_CIPHERSUITE}`);
  if (kp.leafNode.signaturePublicKey.length !== 32) throw invalidParam("KeyPackage signature key is not an Ed25519 key");
  const credential = kp.leafNode.credential;
  if (credential.credentialType !== "basic") throw invalidParam("KeyPackage credential must be a BasicCredential");
  const identity = decodeDeviceIdentity(credential.identity, kp.leafNode.signaturePublicKey);
  if (!identity.ok) throw invalidParam(`KeyPackage credential: ${identity.reason}`);
  if (!(await verifyLeafNodeSignatureKeyPackage(kp.leafNode, ed25519Verifier)) || !(await verifyKeyPackage(kp, ed25519Verifier))) {
    throw invalidParam("KeyPackage signature does not verify");
  }
  const expiresTs = secondsToMs(kp.leafNode.lifetime.notAfter);
  const notBeforeTs = secondsToMs(kp.leafNode.lifetime.notBefore) ?? Number.MAX_SAFE_INTEGER;
  if (expiresTs !== null && expiresTs <= now) throw invalidParam("KeyPackage lifetime has ended");
  if (expiresTs !== null && notBeforeTs > expiresTs) throw invalidParam("KeyPackage lifetime is empty");
  return { signatureKey: kp.leafNode.signaturePublicKey, identity: identity.identity, expiresTs, notBeforeTs };
}
