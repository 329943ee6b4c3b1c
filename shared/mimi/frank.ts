// Franking (MIMI -06 §5.4.1): the hub's stamp on an accepted application message.

import type { CipherSuiteId, IdentifierUri, TimestampMs } from "./common.js";
import { readUri, writeUri } from "./common.js";
import { readCredential, encodeCredential, type Credential } from "./mls-fields.js";
import { decodeBody, encodeBody, type Decoded, type Reader, type Writer } from "./tls-codec.js";

/** `struct { uint8 server_frank[32]; CipherSuite franking_signature_ciphersuite; opaque franking_integrity_signature<V>; } Frank;` */
export interface Frank {
  serverFrank: Uint8Array;
  frankingSignatureCiphersuite: CipherSuiteId;
  frankingIntegritySignature: Uint8Array;
}

export function readFrank(r: Reader): Frank {
  return {
    serverFrank: r.field("server_frank", (x) => x.fixed(32)),
    frankingSignatureCiphersuite: r.field("franking_signature_ciphersuite", (x) => x.u16()),
    frankingIntegritySignature: r.field("franking_integrity_signature", (x) => x.opaque()),
  };
}

export function writeFrank(w: Writer, f: Frank): void {
  w.fixed(f.serverFrank, 32).u16(f.frankingSignatureCiphersuite).opaque(f.frankingIntegritySignature);
}

/** `struct { uint8 franking_tag[32]; } FrankAAD;` (safe AAD component frank_aad) */
export interface FrankAad {
  frankingTag: Uint8Array;
}
export const readFrankAad = (r: Reader): FrankAad => ({ frankingTag: r.field("franking_tag", (x) => x.fixed(32)) });
export const writeFrankAad = (w: Writer, a: FrankAad): void => void w.fixed(a.frankingTag, 32);

/** `struct { SignaturePublicKey franking_signature_key; Credential credential; } FrankingAgentData;` */
export interface FrankingAgentData {
  frankingSignatureKey: Uint8Array;
  credential: Credential;
}
export function readFrankingAgentData(r: Reader): FrankingAgentData {
  return {
    frankingSignatureKey: r.field("franking_signature_key", (x) => x.opaque()),
    credential: r.field("credential", readCredential),
  };
}
export function writeFrankingAgentData(w: Writer, d: FrankingAgentData): void {
  w.opaque(d.frankingSignatureKey).raw(encodeCredential(d.credential));
}

/** `struct { IdentifierUri sender_uri; IdentifierUri room_uri; uint64 accepted_timestamp; } ServerFrankingContext;` */
export interface ServerFrankingContext {
  senderUri: IdentifierUri;
  roomUri: IdentifierUri;
  acceptedTimestamp: TimestampMs;
}
export function readServerFrankingContext(r: Reader): ServerFrankingContext {
  return {
    senderUri: r.field("sender_uri", readUri),
    roomUri: r.field("room_uri", readUri),
    acceptedTimestamp: r.field("accepted_timestamp", (x) => x.u64()),
  };
}
export function writeServerFrankingContext(w: Writer, c: ServerFrankingContext): void {
  writeUri(w, c.senderUri);
  writeUri(w, c.roomUri);
  w.u64(c.acceptedTimestamp);
}

/** FrankingIntegrityTBS: what franking_integrity_signature signs (with SignWithLabel). */
export interface FrankingIntegrityTbs {
  serverFrank: Uint8Array;
  frankingSignatureCiphersuite: CipherSuiteId;
  context: ServerFrankingContext;
}
export function writeFrankingIntegrityTbs(w: Writer, t: FrankingIntegrityTbs): void {
  // -06 writes `opaque server_frank[32]` here but `uint8 server_frank[32]` in Frank: the same 32 bytes.
  w.fixed(t.serverFrank, 32).u16(t.frankingSignatureCiphersuite);
  writeServerFrankingContext(w, t.context);
}
export function readFrankingIntegrityTbs(r: Reader): FrankingIntegrityTbs {
  return {
    serverFrank: r.field("server_frank", (x) => x.fixed(32)),
    frankingSignatureCiphersuite: r.field("franking_signature_ciphersuite", (x) => x.u16()),
    context: r.field("context", readServerFrankingContext),
  };
}

export const encodeFrank = (f: Frank): Uint8Array => encodeBody((w) => writeFrank(w, f));
export const decodeFrank = (bytes: Uint8Array): Decoded<Frank> => decodeBody("Frank", bytes, readFrank);
export const encodeFrankAad = (a: FrankAad): Uint8Array => encodeBody((w) => writeFrankAad(w, a));
export const decodeFrankAad = (bytes: Uint8Array): Decoded<FrankAad> => decodeBody("FrankAAD", bytes, readFrankAad);
export const encodeFrankingAgentData = (d: FrankingAgentData): Uint8Array => encodeBody((w) => writeFrankingAgentData(w, d));
export const decodeFrankingAgentData = (bytes: Uint8Array): Decoded<FrankingAgentData> =>
  decodeBody("FrankingAgentData", bytes, readFrankingAgentData);
export const encodeServerFrankingContext = (c: ServerFrankingContext): Uint8Array => encodeBody((w) => writeServerFrankingContext(w, c));
export const decodeServerFrankingContext = (bytes: Uint8Array): Decoded<ServerFrankingContext> =>
  decodeBody("ServerFrankingContext", bytes, readServerFrankingContext);
export const encodeFrankingIntegrityTbs = (t: FrankingIntegrityTbs): Uint8Array => encodeBody((w) => writeFrankingIntegrityTbs(w, t));
export const decodeFrankingIntegrityTbs = (bytes: Uint8Array): Decoded<FrankingIntegrityTbs> =>
  decodeBody("FrankingIntegrityTBS", bytes, readFrankingIntegrityTbs);
