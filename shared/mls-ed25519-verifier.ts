// The verify-only Signature ts-mls takes: Ed25519 through WebCrypto. The hub checks MLS signatures
// (KeyPackages, GroupInfos, proposals) but never signs or makes MLS keys with it.

import type { Signature } from "ts-mls/crypto/signature.js";
import { verifyEd25519 } from "./signing-key.js";

export const ed25519Verifier: Signature = {
  sign: () => Promise.reject(new Error("the hub never signs MLS messages")),
  verify: (publicKey, message, signature) => verifyEd25519(publicKey, signature, message),
  keygen: () => Promise.reject(new Error("the hub never generates MLS keys")),
};
