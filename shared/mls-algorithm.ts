// Room encryption algorithm names <-> MLS ciphersuites (draft -04 "MLS Considerations"): `m.mls.v1.` then
// the ciphersuite name without its "MLS_<bits>_" prefix, lower-cased, "_" as "-". So
// MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519 is m.mls.v1.dhkemx25519-aes128gcm-sha256-ed25519. The rule
// is injective over RFC 9420's and ts-mls's suites, so the reverse lookup is unambiguous.

import { ciphersuites, type CiphersuiteName } from "ts-mls/crypto/ciphersuite.js";

export const MLS_ALGORITHM_PREFIX = "m.mls.v1.";
export const MLS_DEFAULT_CIPHERSUITE: CiphersuiteName = "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519";
export const MLS_DEFAULT_ALGORITHM = "m.mls.v1.dhkemx25519-aes128gcm-sha256-ed25519";

function suffixOf(name: CiphersuiteName): string {
  return name.replace(/^MLS_\d+_/, "").toLowerCase().replace(/_/g, "-");
}

const BY_ALGORITHM = new Map<string, CiphersuiteName>(
  (Object.keys(ciphersuites) as CiphersuiteName[]).map((name) => [MLS_ALGORITHM_PREFIX + suffixOf(name), name]),
);

export function algorithmOfCiphersuite(name: CiphersuiteName): string {
  return MLS_ALGORITHM_PREFIX + suffixOf(name);
}

/** The ciphersuite an `m.room.create` `encryption.algorithm` names; undefined when it names none. */
export function ciphersuiteOfAlgorithm(algorithm: string): CiphersuiteName | undefined {
  return BY_ALGORITHM.get(algorithm);
}
