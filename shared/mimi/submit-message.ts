// submitMessage (MIMI -06 §5.4): an MLS application message for the hub to accept and fan out.
// POST {submitMessage}/{roomId}, body SubmitMessageRequest, answer SubmitMessageResponse.

import type { IdentifierUri, Protocol, TimestampMs } from "./common.js";
import { readProtocol, readUri, writeProtocol, writeUri } from "./common.js";
import { readFrank, writeFrank, type Frank } from "./frank.js";
import { readMlsMessage, type MlsMessageField } from "./mls-fields.js";
import { decodeBody, encodeBody, type Decoded, type Reader } from "./tls-codec.js";

export interface SubmitMessageRequest {
  protocol: Protocol;
  /** A PrivateMessage whose content type is application. */
  appMessage: MlsMessageField;
  sendingUri: IdentifierUri;
}

/** Only a PrivateMessage application message may be submitted (§5.4). */
export function readApplicationMessage(r: Reader): MlsMessageField {
  const m = readMlsMessage(r);
  if (m.value.wireformat !== "mls_private_message") r.fail("invalid_mls", "not a PrivateMessage");
  if (m.value.privateMessage.contentType !== "application") r.fail("invalid_mls", "not an application message");
  return m;
}

export const encodeSubmitMessageRequest = (req: SubmitMessageRequest): Uint8Array =>
  encodeBody((w) => {
    writeProtocol(w, req.protocol);
    w.raw(req.appMessage.bytes);
    writeUri(w, req.sendingUri);
  });

export const decodeSubmitMessageRequest = (bytes: Uint8Array): Decoded<SubmitMessageRequest> =>
  decodeBody("SubmitMessageRequest", bytes, (r) => ({
    protocol: readProtocol(r),
    appMessage: r.field("appMessage", readApplicationMessage),
    sendingUri: r.field("sendingUri", readUri),
  }));

/** -06 declares `accepted(0)` and then selects `case success`: both name value 0, called accepted here. */
export const SUBMIT_RESPONSE_CODE = { accepted: 0, notAllowed: 1, epochTooOld: 2 } as const;
export type SubmitResponseCode = keyof typeof SUBMIT_RESPONSE_CODE;

export type SubmitMessageResponse =
  | { protocol: Protocol; statusCode: "accepted"; acceptedTimestamp: TimestampMs; frank?: Frank }
  | { protocol: Protocol; statusCode: "notAllowed" }
  | { protocol: Protocol; statusCode: "epochTooOld"; currentEpoch: bigint };

export const encodeSubmitMessageResponse = (res: SubmitMessageResponse): Uint8Array =>
  encodeBody((w) => {
    writeProtocol(w, res.protocol);
    w.u8(SUBMIT_RESPONSE_CODE[res.statusCode]);
    if (res.statusCode === "accepted") w.u64(res.acceptedTimestamp).optional(res.frank, writeFrank);
    if (res.statusCode === "epochTooOld") w.u64(res.currentEpoch);
  });

export const decodeSubmitMessageResponse = (bytes: Uint8Array): Decoded<SubmitMessageResponse> =>
  decodeBody("SubmitMessageResponse", bytes, (r): SubmitMessageResponse => {
    const protocol = readProtocol(r);
    const statusCode = r.field("statusCode", (x) => x.enumU8(SUBMIT_RESPONSE_CODE));
    switch (statusCode) {
      case "accepted": {
        const acceptedTimestamp = r.field("accepted_timestamp", (x) => x.u64());
        const frank = r.field("frank", (x) => x.optional(readFrank));
        return frank === undefined ? { protocol, statusCode, acceptedTimestamp } : { protocol, statusCode, acceptedTimestamp, frank };
      }
      case "epochTooOld":
        return { protocol, statusCode, currentEpoch: r.field("currentEpoch", (x) => x.u64()) };
      case "notAllowed":
        return { protocol, statusCode };
    }
  });
