// keyMaterial (MIMI -06 §5.2): claim single-use KeyPackages for all clients of one user.
// POST {keyMaterial}/{targetUser}, body KeyMaterialRequest, answer KeyMaterialResponse.

import type { CipherSuiteId, IdentifierUri, Protocol } from "./common.js";
import { readProtocol, readUri, writeProtocol, writeUri } from "./common.js";
import {
  encodeCapabilities,
  encodeCredential,
  encodeRequiredCapabilities,
  readCapabilities,
  readCredential,
  readKeyPackage,
  readRequiredCapabilities,
  type Capabilities,
  type Credential,
  type KeyPackageField,
  type RequiredCapabilities,
} from "./mls-fields.js";
import { decodeBody, encodeBody, type Decoded, type Reader, type Writer } from "./tls-codec.js";

/** KeyMaterialRequestTBS: every field of the request except its signature. */
export interface KeyMaterialRequestTbs {
  protocol: Protocol;
  requestingUser: IdentifierUri;
  targetUser: IdentifierUri;
  /** The room the KeyPackages are for; the empty URI when the request is not for a room. */
  roomId: IdentifierUri;
  acceptableCiphersuites: CipherSuiteId[];
  requiredCapabilities: RequiredCapabilities;
  requesterSignatureKey: Uint8Array;
  requesterCredential: Credential;
}

export interface KeyMaterialRequest extends KeyMaterialRequestTbs {
  /** SignWithLabel(requesterSignatureKey, "KeyMaterialRequestTBS", KeyMaterialRequestTBS) */
  signature: Uint8Array;
}

function readTbs(r: Reader): KeyMaterialRequestTbs {
  const protocol = readProtocol(r);
  const requestingUser = r.field("requestingUser", readUri);
  const targetUser = r.field("targetUser", readUri);
  const roomId = r.field("roomId", readUri);
  const acceptableCiphersuites = r.field("acceptableCiphersuites", (x) => x.vector((y) => y.u16()));
  if (acceptableCiphersuites.length === 0) r.fail("invalid_value", "acceptableCiphersuites is empty");
  return {
    protocol,
    requestingUser,
    targetUser,
    roomId,
    acceptableCiphersuites,
    requiredCapabilities: r.field("requiredCapabilities", readRequiredCapabilities),
    requesterSignatureKey: r.field("requesterSignatureKey", (x) => x.opaque()),
    requesterCredential: r.field("requesterCredential", readCredential),
  };
}

function writeTbs(w: Writer, t: KeyMaterialRequestTbs): void {
  writeProtocol(w, t.protocol);
  writeUri(w, t.requestingUser);
  writeUri(w, t.targetUser);
  writeUri(w, t.roomId);
  w.vector(t.acceptableCiphersuites, (ww, cs) => ww.u16(cs));
  w.raw(encodeRequiredCapabilities(t.requiredCapabilities));
  w.opaque(t.requesterSignatureKey);
  w.raw(encodeCredential(t.requesterCredential));
}

/** The bytes the requester signs (the `content` of SignWithLabel). */
export const encodeKeyMaterialRequestTbs = (t: KeyMaterialRequestTbs): Uint8Array => encodeBody((w) => writeTbs(w, t));

export const encodeKeyMaterialRequest = (req: KeyMaterialRequest): Uint8Array =>
  encodeBody((w) => {
    writeTbs(w, req);
    w.opaque(req.signature);
  });

export const decodeKeyMaterialRequest = (bytes: Uint8Array): Decoded<KeyMaterialRequest> =>
  decodeBody("KeyMaterialRequest", bytes, (r) => {
    const tbs = readTbs(r);
    return { ...tbs, signature: r.field("key_material_request_signature", (x) => x.opaque()) };
  });

export const KEY_MATERIAL_USER_CODE = {
  success: 0,
  partialSuccess: 1,
  incompatibleProtocol: 2,
  noCompatibleMaterial: 3,
  userUnknown: 4,
  noConsent: 5,
  noConsentForThisRoom: 6,
  userDeleted: 7,
} as const;
export type KeyMaterialUserCode = keyof typeof KEY_MATERIAL_USER_CODE;

export const KEY_MATERIAL_CLIENT_CODE = { success: 0, keyMaterialExhausted: 1, nothingCompatible: 2 } as const;
export type KeyMaterialClientCode = keyof typeof KEY_MATERIAL_CLIENT_CODE;

export type ClientKeyMaterial =
  | { clientStatus: "success"; clientUri: IdentifierUri; keyPackage: KeyPackageField }
  | { clientStatus: "keyMaterialExhausted"; clientUri: IdentifierUri }
  | { clientStatus: "nothingCompatible"; clientUri: IdentifierUri; clientCapabilities?: Capabilities };

export interface KeyMaterialResponse {
  protocol: Protocol;
  userStatus: KeyMaterialUserCode;
  userUri: IdentifierUri;
  /** Filled only for success, partialSuccess and (optionally) noCompatibleMaterial. */
  clients: ClientKeyMaterial[];
}

const CLIENTS_ALLOWED: ReadonlySet<KeyMaterialUserCode> = new Set(["success", "partialSuccess", "noCompatibleMaterial"]);

function readClient(r: Reader): ClientKeyMaterial {
  const clientStatus = r.field("clientStatus", (x) => x.enumU8(KEY_MATERIAL_CLIENT_CODE));
  const clientUri = r.field("clientUri", readUri);
  switch (clientStatus) {
    case "success":
      return { clientStatus, clientUri, keyPackage: r.field("keyPackage", readKeyPackage) };
    case "nothingCompatible": {
      const clientCapabilities = r.field("clientCapabilities", (x) => x.optional(readCapabilities));
      return clientCapabilities === undefined ? { clientStatus, clientUri } : { clientStatus, clientUri, clientCapabilities };
    }
    case "keyMaterialExhausted":
      return { clientStatus, clientUri };
  }
}

function writeClient(w: Writer, c: ClientKeyMaterial): void {
  w.u8(KEY_MATERIAL_CLIENT_CODE[c.clientStatus]);
  writeUri(w, c.clientUri);
  if (c.clientStatus === "success") w.raw(c.keyPackage.bytes);
  if (c.clientStatus === "nothingCompatible") w.optional(c.clientCapabilities, (ww, caps) => ww.raw(encodeCapabilities(caps)));
}

export const encodeKeyMaterialResponse = (res: KeyMaterialResponse): Uint8Array =>
  encodeBody((w) => {
    writeProtocol(w, res.protocol);
    w.u8(KEY_MATERIAL_USER_CODE[res.userStatus]);
    writeUri(w, res.userUri);
    w.vector(res.clients, writeClient);
  });

export const decodeKeyMaterialResponse = (bytes: Uint8Array): Decoded<KeyMaterialResponse> =>
  decodeBody("KeyMaterialResponse", bytes, (r) => {
    const protocol = readProtocol(r);
    const userStatus = r.field("userStatus", (x) => x.enumU8(KEY_MATERIAL_USER_CODE));
    const userUri = r.field("userUri", readUri);
    const clients = r.field("clients", (x) => x.vector(readClient));
    if (clients.length > 0 && !CLIENTS_ALLOWED.has(userStatus)) {
      r.field("clients", (x) => x.fail("invalid_value", `a ${userStatus} response must not list clients`));
    }
    return { protocol, userStatus, userUri, clients };
  });
