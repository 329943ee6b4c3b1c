// Building blocks shared by the MIMI bodies of draft-ietf-mimi-protocol-06 §5.

import type { Reader, Writer } from "./tls-codec.js";

/** `enum { reserved(0), mls10(1), (255) } Protocol;` reserved is never valid on the wire. */
export const PROTOCOL = { mls10: 1 } as const;
export type Protocol = keyof typeof PROTOCOL;

export const readProtocol = (r: Reader): Protocol => r.field("protocol", (rr) => rr.enumU8(PROTOCOL));
export const writeProtocol = (w: Writer, p: Protocol): void => void w.u8(PROTOCOL[p]);

/** `struct { opaque uri<V>; } IdentifierUri;` held as its UTF-8 text (a mimi:, im: or https: URI). */
export type IdentifierUri = string;
export const readUri = (r: Reader): IdentifierUri => r.utf8();
export const writeUri = (w: Writer, uri: IdentifierUri): void => void w.utf8(uri);

/** MLS CipherSuite (uint16), kept as a number: acceptable lists may name suites ts-mls lacks (GREASE). */
export type CipherSuiteId = number;

/** Milliseconds since the UNIX epoch, as the draft's uint64 timestamps. */
export type TimestampMs = bigint;
