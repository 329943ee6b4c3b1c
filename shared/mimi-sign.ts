// MLS SignWithLabel verification (RFC 9420 §5.1.2) for the MIMI request signatures the hub checks
// (KeyMaterialRequestTBS): SignContent = { opaque label<V> = "MLS 1.0 " + Label; opaque content<V>; },
// Ed25519 as the room's ciphersuite uses it.

import { encodeBody } from "./mimi/tls-codec.js";
import { verifyEd25519 } from "./signing-key.js";

export function signContent(label: string, content: Uint8Array): Uint8Array {
  return encodeBody((w) => {
    w.opaque(new TextEncoder().encode(`MLS 1.0 ${label}`)).opaque(content);
  });
}

export function verifyWithLabel(publicKey: Uint8Array, label: string, content: Uint8Array, signature: Uint8Array): Promise<boolean> {
  return verifyEd25519(publicKey, signature, signContent(label, content));
}
