// Report abuse (MIMI -06 §5.9): POST {reportAbuse}/{roomId} to the hub, body AbuseReport, no answer body.

import type { IdentifierUri, TimestampMs } from "./common.js";
import { readUri, writeUri } from "./common.js";
import { readAppDataDictionary, writeAppDataDictionary, type AppDataDictionary } from "./app-data.js";
import { readFrank, writeFrank, type Frank } from "./frank.js";
import { decodeBody, encodeBody, type Decoded } from "./tls-codec.js";

export interface AbusiveMessage {
  /** The decrypted message content (e.g. MIMI content) the reporter alleges is abusive. */
  messageContent: Uint8Array;
  frank: Frank;
  acceptedTimestamp: TimestampMs;
}

export interface AbuseReport {
  reportingUser: IdentifierUri;
  allegedAbuserUri: IdentifierUri;
  /**
   * AbuseType: -06 defines only reserved(0) and leaves the taxonomy TODO, so any uint8 is carried
   * as a number rather than refusing every report.
   */
  reasonCode: number;
  note: Uint8Array;
  messages: AbusiveMessage[];
  abuseExtensions: AppDataDictionary;
}

export const encodeAbuseReport = (a: AbuseReport): Uint8Array =>
  encodeBody((w) => {
    writeUri(w, a.reportingUser);
    writeUri(w, a.allegedAbuserUri);
    w.u8(a.reasonCode).opaque(a.note);
    w.vector(a.messages, (ww, m) => {
      ww.opaque(m.messageContent);
      writeFrank(ww, m.frank);
      ww.u64(m.acceptedTimestamp);
    });
    writeAppDataDictionary(w, a.abuseExtensions);
  });

export const decodeAbuseReport = (bytes: Uint8Array): Decoded<AbuseReport> =>
  decodeBody("AbuseReport", bytes, (r) => ({
    reportingUser: r.field("reportingUser", readUri),
    allegedAbuserUri: r.field("allegedAbuserUri", readUri),
    reasonCode: r.field("reasonCode", (x) => x.u8()),
    note: r.field("note", (x) => x.opaque()),
    messages: r.field("messages", (x) =>
      x.vector((y) => ({
        messageContent: y.field("message_content", (z) => z.opaque()),
        frank: y.field("frank", readFrank),
        acceptedTimestamp: y.field("accepted_timestamp", (z) => z.u64()),
      })),
    ),
    abuseExtensions: r.field("abuse_extensions", readAppDataDictionary),
  }));
