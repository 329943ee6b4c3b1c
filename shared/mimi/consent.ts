// Explicit consent (MIMI -06 §5.7): POST {requestConsent}/{targetDomain} with a ConsentEntry of
// request or cancel, POST {updateConsent}/{requesterDomain} with grant or revoke. Both answer 201.

import type { IdentifierUri } from "./common.js";
import { readUri, writeUri } from "./common.js";
import { readAppDataDictionary, writeAppDataDictionary, type AppDataDictionary } from "./app-data.js";
import { readKeyPackage, type KeyPackageField } from "./mls-fields.js";
import { decodeBody, encodeBody, type Decoded, type Reader, type Writer } from "./tls-codec.js";

export const CONSENT_OPERATION = { cancel: 0, request: 1, grant: 2, revoke: 3 } as const;
export type ConsentOperation = keyof typeof CONSENT_OPERATION;

/** The draft's undefined `RoomId` is read as an IdentifierUri (the room's URI). */
export interface ConsentScope {
  requesterUri: IdentifierUri;
  targetUri: IdentifierUri;
  roomId?: IdentifierUri;
}

export type ConsentEntry = ConsentScope & { consentExtensions: AppDataDictionary } & (
    | { consentOperation: "cancel" | "request" | "revoke" }
    | { consentOperation: "grant"; clientKeyPackages: KeyPackageField[] }
  );

function writeScope(w: Writer, s: ConsentScope): void {
  writeUri(w, s.requesterUri);
  writeUri(w, s.targetUri);
  w.optional(s.roomId, writeUri);
}

function readScope(r: Reader): ConsentScope {
  const requesterUri = r.field("requesterUri", readUri);
  const targetUri = r.field("targetUri", readUri);
  const roomId = r.field("roomId", (x) => x.optional(readUri));
  return roomId === undefined ? { requesterUri, targetUri } : { requesterUri, targetUri, roomId };
}

export const encodeConsentEntry = (e: ConsentEntry): Uint8Array =>
  encodeBody((w) => {
    w.u8(CONSENT_OPERATION[e.consentOperation]);
    writeScope(w, e);
    if (e.consentOperation === "grant") w.vector(e.clientKeyPackages, (ww, kp) => ww.raw(kp.bytes));
    writeAppDataDictionary(w, e.consentExtensions);
  });

export const decodeConsentEntry = (bytes: Uint8Array): Decoded<ConsentEntry> =>
  decodeBody("ConsentEntry", bytes, (r): ConsentEntry => {
    const consentOperation = r.field("consentOperation", (x) => x.enumU8(CONSENT_OPERATION));
    const scope = readScope(r);
    if (consentOperation === "grant") {
      const clientKeyPackages = r.field("clientKeyPackages", (x) => x.vector(readKeyPackage));
      return { consentOperation, ...scope, clientKeyPackages, consentExtensions: r.field("consent_extensions", readAppDataDictionary) };
    }
    return { consentOperation, ...scope, consentExtensions: r.field("consent_extensions", readAppDataDictionary) };
  });

export const encodeConsentScope = (s: ConsentScope): Uint8Array => encodeBody((w) => writeScope(w, s));
export const decodeConsentScope = (bytes: Uint8Array): Decoded<ConsentScope> => decodeBody("ConsentScope", bytes, readScope);
