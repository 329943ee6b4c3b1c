// Minimal metadata rooms (MIMI -06 §6.1): credentials that name pseudonyms, with the real credential
// encrypted for the room's members (the key management is still TODO in the draft).

import type { IdentifierUri } from "./common.js";
import { readUri, writeUri } from "./common.js";
import { encodeCredential, readCredential, type Credential } from "./mls-fields.js";
import { decodeBody, encodeBody, type Decoded, type Reader, type Writer } from "./tls-codec.js";

/** -06 writes `opaque signature_public_key;` with no length; read as `<V>` like every MLS key. */
export interface PseudonymousCredentialTbs {
  clientPseudonym: IdentifierUri;
  userPseudonym: IdentifierUri;
  signaturePublicKey: Uint8Array;
}

export interface PseudonymousCredential extends PseudonymousCredentialTbs {
  identityLinkCiphertext: Uint8Array;
}

function writeTbs(w: Writer, c: PseudonymousCredentialTbs): void {
  writeUri(w, c.clientPseudonym);
  writeUri(w, c.userPseudonym);
  w.opaque(c.signaturePublicKey);
}

function readTbs(r: Reader): PseudonymousCredentialTbs {
  return {
    clientPseudonym: r.field("client_pseudonym", readUri),
    userPseudonym: r.field("user_pseudonym", readUri),
    signaturePublicKey: r.field("signature_public_key", (x) => x.opaque()),
  };
}

export const encodePseudonymousCredentialTbs = (c: PseudonymousCredentialTbs): Uint8Array => encodeBody((w) => writeTbs(w, c));

export const encodePseudonymousCredential = (c: PseudonymousCredential): Uint8Array =>
  encodeBody((w) => {
    writeTbs(w, c);
    w.opaque(c.identityLinkCiphertext);
  });

export const decodePseudonymousCredential = (bytes: Uint8Array): Decoded<PseudonymousCredential> =>
  decodeBody("PseudonymousCredential", bytes, (r) => ({
    ...readTbs(r),
    identityLinkCiphertext: r.field("identity_link_ciphertext", (x) => x.opaque()),
  }));

/** What identity_link_ciphertext encrypts: the real credential and its signature over the TBS. */
export interface IdentityLinkTbe {
  pseudonymousCredentialSignature: Uint8Array;
  clientCredential: Credential;
}

export const encodeIdentityLinkTbe = (t: IdentityLinkTbe): Uint8Array =>
  encodeBody((w) => w.opaque(t.pseudonymousCredentialSignature).raw(encodeCredential(t.clientCredential)));

export const decodeIdentityLinkTbe = (bytes: Uint8Array): Decoded<IdentityLinkTbe> =>
  decodeBody("IdentityLinkTBE", bytes, (r) => ({
    pseudonymousCredentialSignature: r.field("pseudonymous_credential_signature", (x) => x.opaque()),
    clientCredential: r.field("client_credential", readCredential),
  }));
