// MLS structures embedded in MIMI bodies, read and written by ts-mls's codec (never hand-framed
// here). Each is kept with the exact bytes it occupies, so a hub forwards what it received
// byte-for-byte and a reader can still inspect the decoded value.
//
// Reading chosen for -06's open question (docs/mimi.md): KeyPackage, Welcome and GroupInfo fields are
// written wrapped in an MLSMessage (wire formats mls_key_package, mls_welcome, mls_group_info); the
// bare struct is accepted on input and rewrapped, so `bytes` is always the MLSMessage form.

import type { Capabilities } from "ts-mls/capabilities.js";
import type { Encoder } from "ts-mls/codec/tlsEncoder.js";
import { decodeCapabilities, encodeCapabilities } from "ts-mls/capabilities.js";
import { decodeCredential, encodeCredential, type Credential } from "ts-mls/credential.js";
import { decodeExternalSender, encodeExternalSender, type ExternalSender } from "ts-mls/externalSender.js";
import { decodeExtension, encodeExtension, type Extension } from "ts-mls/extension.js";
import { decodeGroupInfo, type GroupInfo } from "ts-mls/groupInfo.js";
import { decodeHpkeCiphertext, encodeHpkeCiphertext, type HPKECiphertext } from "ts-mls/hpkeCiphertext.js";
import { decodeKeyPackage, type KeyPackage } from "ts-mls/keyPackage.js";
import { decodeMlsMessage, encodeMlsMessage, type MLSMessage } from "ts-mls/message.js";
import { decodeRatchetTree, encodeRatchetTree, type RatchetTree } from "ts-mls/ratchetTree.js";
import {
  decodeRequiredCapabilities,
  encodeRequiredCapabilities,
  type RequiredCapabilities,
} from "ts-mls/requiredCapabilities.js";
import { decodeWelcome, type Welcome } from "ts-mls/welcome.js";
import { decodeBody, type Decoded, type Reader } from "./tls-codec.js";

/** An MLS structure with the bytes that carry it on the wire. */
export interface Mls<T> {
  readonly value: T;
  readonly bytes: Uint8Array;
}

export type MlsMessageField = Mls<MLSMessage>;
/** `bytes` is the MLSMessage (mls_key_package) encoding. */
export type KeyPackageField = Mls<KeyPackage>;
/** `bytes` is the MLSMessage (mls_welcome) encoding. */
export type WelcomeField = Mls<Welcome>;
/** `bytes` is the MLSMessage (mls_group_info) encoding. */
export type GroupInfoField = Mls<GroupInfo>;
/** `bytes` is the ratchet_tree extension's encoding, `optional<Node> ratchet_tree<V>`. */
export type RatchetTreeField = Mls<RatchetTree>;

function of<T>(value: T, encode: Encoder<T>): Mls<T> {
  return { value, bytes: encode(value) };
}

export const mlsMessageField = (m: MLSMessage): MlsMessageField => of(m, encodeMlsMessage);
export const keyPackageField = (kp: KeyPackage): KeyPackageField => ({
  value: kp,
  bytes: encodeMlsMessage({ version: "mls10", wireformat: "mls_key_package", keyPackage: kp }),
});
export const welcomeField = (welcome: Welcome): WelcomeField => ({
  value: welcome,
  bytes: encodeMlsMessage({ version: "mls10", wireformat: "mls_welcome", welcome }),
});
export const groupInfoField = (groupInfo: GroupInfo): GroupInfoField => ({
  value: groupInfo,
  bytes: encodeMlsMessage({ version: "mls10", wireformat: "mls_group_info", groupInfo }),
});
export const ratchetTreeField = (tree: RatchetTree): RatchetTreeField => of(tree, encodeRatchetTree);

/** A Welcome from an update, as the MLSMessage a FanoutMessage carries (same bytes). */
export const welcomeMessage = (w: WelcomeField): MlsMessageField => ({
  value: { version: "mls10", wireformat: "mls_welcome", welcome: w.value },
  bytes: w.bytes,
});

export function readMlsMessage(r: Reader): MlsMessageField {
  const m = r.mls(decodeMlsMessage, "MLSMessage");
  if (m.value.version !== "mls10") r.fail("invalid_mls", "not MLS 1.0");
  return m;
}

/** The content type a hub can see without keys: PublicMessage content or PrivateMessage header. */
export function contentTypeOf(m: MLSMessage): "application" | "proposal" | "commit" | undefined {
  if (m.wireformat === "mls_public_message") return m.publicMessage.content.contentType;
  if (m.wireformat === "mls_private_message") return m.privateMessage.contentType;
  return undefined;
}

/** Reads one of KeyPackage / Welcome / GroupInfo: MLSMessage-wrapped first, then bare. */
function readEither<T>(
  r: Reader,
  what: string,
  unwrap: (m: MLSMessage) => T | undefined,
  bare: (b: Uint8Array, offset: number) => [T, number] | undefined,
  field: (value: T) => Mls<T>,
): Mls<T> {
  const wrapped = r.attempt((rr) => {
    const m = readMlsMessage(rr);
    const inner = unwrap(m.value);
    return inner === undefined ? rr.fail("invalid_mls", `MLSMessage is not a ${what}`) : { value: inner, bytes: m.bytes };
  });
  if (wrapped) return wrapped;
  return field(r.mls(bare, what).value);
}

export const readKeyPackage = (r: Reader): KeyPackageField =>
  readEither(r, "KeyPackage", (m) => (m.wireformat === "mls_key_package" ? m.keyPackage : undefined), decodeKeyPackage, keyPackageField);
export const readWelcome = (r: Reader): WelcomeField =>
  readEither(r, "Welcome", (m) => (m.wireformat === "mls_welcome" ? m.welcome : undefined), decodeWelcome, welcomeField);
export const readGroupInfo = (r: Reader): GroupInfoField =>
  readEither(r, "GroupInfo", (m) => (m.wireformat === "mls_group_info" ? m.groupInfo : undefined), decodeGroupInfo, groupInfoField);
export const readRatchetTree = (r: Reader): RatchetTreeField => r.mls(decodeRatchetTree, "ratchet tree");

/** Standalone decoders for a hub that holds these as separate blobs (e.g. KeyPackages from keys/claim). */
export const decodeMlsMessageField = (bytes: Uint8Array): Decoded<MlsMessageField> => decodeBody("MLSMessage", bytes, readMlsMessage);
export const decodeKeyPackageField = (bytes: Uint8Array): Decoded<KeyPackageField> => decodeBody("KeyPackage", bytes, readKeyPackage);
export const decodeWelcomeField = (bytes: Uint8Array): Decoded<WelcomeField> => decodeBody("Welcome", bytes, readWelcome);
export const decodeGroupInfoField = (bytes: Uint8Array): Decoded<GroupInfoField> => decodeBody("GroupInfo", bytes, readGroupInfo);

// Small MLS structs inside MIMI bodies, kept as values only. ts-mls's decoders accept non-minimal
// length prefixes; re-encoding and comparing holds these to the canonical form the rest of a body needs.
function canonical<T>(r: Reader, decode: (b: Uint8Array, o: number) => [T, number] | undefined, encode: Encoder<T>, what: string): T {
  const { value, bytes } = r.mls(decode, what);
  let again: Uint8Array | undefined;
  try {
    again = encode(value);
  } catch {
    again = undefined;
  }
  if (again === undefined || again.length !== bytes.length || again.some((b, i) => b !== bytes[i])) {
    r.fail("invalid_mls", `${what} is not in canonical form`);
  }
  return value;
}

export const readCredential = (r: Reader): Credential => canonical(r, decodeCredential, encodeCredential, "Credential");
export const readCapabilities = (r: Reader): Capabilities => canonical(r, decodeCapabilities, encodeCapabilities, "Capabilities");
export const readRequiredCapabilities = (r: Reader): RequiredCapabilities =>
  canonical(r, decodeRequiredCapabilities, encodeRequiredCapabilities, "RequiredCapabilities");
export const readExternalSender = (r: Reader): ExternalSender => canonical(r, decodeExternalSender, encodeExternalSender, "ExternalSender");
export const readHpkeCiphertext = (r: Reader): HPKECiphertext => canonical(r, decodeHpkeCiphertext, encodeHpkeCiphertext, "HPKECiphertext");
export const readExtension = (r: Reader): Extension => canonical(r, decodeExtension, encodeExtension, "Extension");

export {
  encodeCapabilities,
  encodeCredential,
  encodeExtension,
  encodeExternalSender,
  encodeHpkeCiphertext,
  encodeRequiredCapabilities,
};
export type { Capabilities, Credential, Extension, ExternalSender, GroupInfo, HPKECiphertext, KeyPackage, MLSMessage, RatchetTree, RequiredCapabilities, Welcome };
