// Test devices that publish keys: the draft's device credential object (MLS) and Matrix DeviceKeys
// (Olm-style ed25519 + curve25519), signed one-time and fallback keys, and real ts-mls KeyPackages
// whose credential identity is the draft's struct. Runs in Node and inside workerd.

import {
  defaultCapabilities,
  defaultLifetime,
  encodeMlsMessage,
  generateKeyPackageWithKey,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  type CiphersuiteImpl,
  type Lifetime,
} from "ts-mls";
import { encodeBase64 } from "../../shared/base64.js";
import type { JsonObject } from "../../shared/canonical-json.js";
import { MLS_ALGORITHM, MLS_CREDENTIAL_KEY_ALGORITHM, MLS_KEY_PACKAGE_ALGORITHM, mlsCredentialKey } from "../../shared/device-keys.js";
import { encodeDeviceIdentity } from "../../shared/mls-identity.js";
import { signingBytes } from "../../shared/signed-json.js";
import { generateSeed, signingKeyFromSeed, type SigningKey } from "../../shared/signing-key.js";

export { MLS_ALGORITHM, MLS_CREDENTIAL_KEY_ALGORITHM, MLS_KEY_PACKAGE_ALGORITHM };
export const OLM_ALGORITHMS = ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"];

let suite: Promise<CiphersuiteImpl> | undefined;
const cipherSuite = () => (suite ??= getCiphersuiteImpl(getCiphersuiteFromName("MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519")));

interface Signer {
  keyId: string;
  sign(bytes: Uint8Array): Promise<Uint8Array>;
}

/** Adds `userId`'s signature by each signer over the object's signing bytes. */
export async function signAs<T extends JsonObject>(obj: T, userId: string, signers: Signer[]): Promise<T> {
  const bytes = signingBytes(obj);
  const existing = (obj["signatures"] ?? {}) as Record<string, Record<string, string>>;
  const mine: Record<string, string> = { ...(existing[userId] ?? {}) };
  for (const s of signers) mine[s.keyId] = encodeBase64(await s.sign(bytes));
  return { ...obj, signatures: { ...existing, [userId]: mine } };
}

export interface KeyPackageOptions {
  lifetime?: Lifetime;
  /** Put another user's or device's identity in the credential (for refusal tests). */
  identity?: { userId: string; deviceId: string };
  /** Sign with another key than the device's MLS key. */
  signWith?: { seed: Uint8Array; publicKey: Uint8Array };
}

export class KeyDevice {
  private constructor(
    readonly userId: string,
    readonly deviceId: string,
    /** The Olm-style device signing key. */
    readonly ed25519: SigningKey,
    /** The MLS signature key (raw seed, as ts-mls accepts it) and its signer. */
    readonly mls: { seed: Uint8Array; key: SigningKey },
    readonly curve25519: string,
  ) {}

  static async create(userId: string, deviceId: string): Promise<KeyDevice> {
    const mlsSeed = generateSeed();
    return new KeyDevice(
      userId,
      deviceId,
      await signingKeyFromSeed(generateSeed(), deviceId),
      { seed: mlsSeed, key: await signingKeyFromSeed(mlsSeed, deviceId) },
      encodeBase64(crypto.getRandomValues(new Uint8Array(32))),
    );
  }

  get mlsSigner(): Signer {
    return { keyId: `${MLS_CREDENTIAL_KEY_ALGORITHM}:${this.deviceId}`, sign: (b) => this.mls.key.sign(b) };
  }

  /** The device object, signed by each of its signing keys: Olm keys, the MLS credential, or both. */
  async deviceKeys(opts: { olm?: boolean; mls?: boolean } = { olm: true, mls: true }): Promise<JsonObject> {
    const keys: Record<string, string> = {};
    const algorithms: string[] = [];
    const signers: Signer[] = [];
    if (opts.olm) {
      keys[`ed25519:${this.deviceId}`] = this.ed25519.publicKeyBase64;
      keys[`curve25519:${this.deviceId}`] = this.curve25519;
      algorithms.push(...OLM_ALGORITHMS);
      signers.push(this.ed25519);
    }
    if (opts.mls) {
      const cred = mlsCredentialKey({ userId: this.userId, deviceId: this.deviceId, signatureKey: this.mls.key.publicKey });
      keys[cred.keyId] = cred.value;
      algorithms.push(MLS_ALGORITHM);
      signers.push(this.mlsSigner);
    }
    return signAs({ user_id: this.userId, device_id: this.deviceId, algorithms, keys }, this.userId, signers);
  }

  /** A signed_curve25519 one-time (or, with `fallback`, fallback) key signed by the device's ed25519 key. */
  async signedCurve25519(fallback = false): Promise<JsonObject> {
    const key: JsonObject = { key: encodeBase64(crypto.getRandomValues(new Uint8Array(32))) };
    if (fallback) key["fallback"] = true;
    return signAs(key, this.userId, [this.ed25519]);
  }

  /** A fresh KeyPackage as unpadded base64 of an MLSMessage, as MLS clients upload it. */
  async keyPackage(opts: KeyPackageOptions = {}): Promise<string> {
    const cs = await cipherSuite();
    const signer = opts.signWith ?? { seed: this.mls.seed, publicKey: this.mls.key.publicKey };
    const who = opts.identity ?? { userId: this.userId, deviceId: this.deviceId };
    const identity = encodeDeviceIdentity({ ...who, signatureKey: signer.publicKey });
    const kp = await generateKeyPackageWithKey(
      { credentialType: "basic", identity },
      defaultCapabilities(),
      opts.lifetime ?? defaultLifetime,
      [],
      { signKey: signer.seed, publicKey: signer.publicKey },
      cs,
    );
    return encodeBase64(encodeMlsMessage({ version: "mls10", wireformat: "mls_key_package", keyPackage: kp.publicPackage }));
  }

  /** `one_time_keys` with `n` KeyPackages keyed `<algorithm>:<prefix><i>`. */
  async keyPackages(n: number, prefix = "kp"): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (let i = 0; i < n; i++) out[`${MLS_KEY_PACKAGE_ALGORITHM}:${prefix}${i}`] = await this.keyPackage();
    return out;
  }
}

/** A lifetime ending `seconds` from now (MLS lifetimes count whole seconds). */
export function lifetimeEndingIn(seconds: number): Lifetime {
  const now = BigInt(Math.floor(Date.now() / 1000));
  return { notBefore: now - 60n, notAfter: now + BigInt(seconds) };
}
