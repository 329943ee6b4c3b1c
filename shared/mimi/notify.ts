// notify (MIMI -06 §5.5): the hub's fan-out to followers. POST {notify}/{roomId} with one or more
// concatenated FanoutMessages; the follower answers 201 with no body, also to a byte-identical replay.

import type { TimestampMs } from "./common.js";
import { PROTOCOL } from "./common.js";
import { readFrank, writeFrank, type Frank } from "./frank.js";
import { contentTypeOf, readMlsMessage, type MlsMessageField } from "./mls-fields.js";
import { readRatchetTreeOption, writeRatchetTreeOption, type RatchetTreeOption } from "./ratchet-tree-option.js";
import { decodeBody, encodeBody, type Decoded, type Reader, type Writer } from "./tls-codec.js";

/**
 * -06 selects on `message.wire_format` with cases named after content types; the reading here: a
 * Welcome carries a RatchetTreeOption, and a PublicMessage or PrivateMessage is told apart by its
 * visible content type (application: optional Frank; proposal: moreProposals; commit:
 * externalProposals restapled by the hub after an external commit).
 */
export type FanoutMessage =
  | { kind: "application"; timestamp: TimestampMs; message: MlsMessageField; frank?: Frank }
  | { kind: "welcome"; timestamp: TimestampMs; message: MlsMessageField; ratchetTreeOption: RatchetTreeOption }
  | { kind: "proposal"; timestamp: TimestampMs; message: MlsMessageField; moreProposals: MlsMessageField[] }
  | { kind: "commit"; timestamp: TimestampMs; message: MlsMessageField; externalProposals: MlsMessageField[] };

export type FanoutKind = FanoutMessage["kind"];

/** Which FanoutMessage variant an MLS message travels in, or undefined if it cannot be fanned out. */
export function fanoutKindOf(m: MlsMessageField): FanoutKind | undefined {
  if (m.value.wireformat === "mls_welcome") return "welcome";
  return contentTypeOf(m.value);
}

function writeFanout(w: Writer, f: FanoutMessage): void {
  w.u64(f.timestamp).raw(f.message.bytes);
  switch (f.kind) {
    case "application":
      w.optional(f.frank, writeFrank);
      return;
    case "welcome":
      writeRatchetTreeOption(w, f.ratchetTreeOption);
      return;
    case "proposal":
      w.vector(f.moreProposals, (ww, p) => ww.raw(p.bytes));
      return;
    case "commit":
      w.vector(f.externalProposals, (ww, p) => ww.raw(p.bytes));
      return;
  }
}

function readHandshake(r: Reader): MlsMessageField {
  const m = readMlsMessage(r);
  const ct = contentTypeOf(m.value);
  if (ct !== "proposal" && ct !== "commit") r.fail("invalid_mls", "not a proposal or commit");
  return m;
}

/**
 * We write no protocol octet. On input an mls10 octet (0x01) is skipped before the timestamp (a
 * millisecond timestamp >= 2^56 is not a date) or right after it (an MLSMessage starts with 0x00).
 */
function readFanout(r: Reader): FanoutMessage {
  if (r.peekU8() === PROTOCOL.mls10) r.u8();
  const timestamp = r.field("timestamp", (x) => x.u64());
  if (r.peekU8() === PROTOCOL.mls10) r.u8();
  const message = r.field("message", readMlsMessage);
  const kind = fanoutKindOf(message);
  switch (kind) {
    case "application": {
      const frank = r.field("frank", (x) => x.optional(readFrank));
      return frank === undefined ? { kind, timestamp, message } : { kind, timestamp, message, frank };
    }
    case "welcome":
      return { kind, timestamp, message, ratchetTreeOption: r.field("ratchetTreeOption", readRatchetTreeOption) };
    case "proposal":
      return { kind, timestamp, message, moreProposals: r.field("moreProposals", (x) => x.vector(readHandshake)) };
    case "commit":
      return { kind, timestamp, message, externalProposals: r.field("externalProposals", (x) => x.vector(readHandshake)) };
    case undefined:
      return r.field("message", (x) => x.fail("invalid_mls", `a ${message.value.wireformat} cannot be fanned out`));
  }
}

export const encodeFanoutMessage = (f: FanoutMessage): Uint8Array => encodeBody((w) => writeFanout(w, f));

export const decodeFanoutMessage = (bytes: Uint8Array): Decoded<FanoutMessage> => decodeBody("FanoutMessage", bytes, readFanout);

/** A notify body: one or more FanoutMessages back to back. */
export const encodeNotifyBody = (messages: readonly FanoutMessage[]): Uint8Array =>
  encodeBody((w) => {
    for (const m of messages) writeFanout(w, m);
  });

export const decodeNotifyBody = (bytes: Uint8Array): Decoded<FanoutMessage[]> =>
  decodeBody("notify", bytes, (r) => {
    const out: FanoutMessage[] = [];
    do out.push(r.field(String(out.length), readFanout));
    while (r.remaining > 0);
    return out;
  });
