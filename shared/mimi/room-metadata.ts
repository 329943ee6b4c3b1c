// Room metadata (MIMI -06 §7.6, component 0x0023): RoomMetaData, also the body of its AppDataUpdate
// (RoomMetaUpdate), which replaces the whole value.

import { decodeBody, encodeBody, type Decoded, type Reader, type Writer } from "./tls-codec.js";

export interface RichDescription {
  /** Empty means text/plain;charset=utf-8. */
  mediaType: string;
  languageTag: string;
  descriptionContent: Uint8Array;
}

export interface RoomMetaData {
  roomUri: string;
  roomName: string;
  roomDescriptions: RichDescription[];
  roomAvatar: string;
  roomSubject: string;
  roomMood: string;
}

/** UTF8String is "a sequence of valid UTF8 without nulls". */
function readUtf8String(r: Reader): string {
  const s = r.utf8();
  if (s.includes("\u0000")) r.fail("invalid_value", "NUL in a UTF8String");
  return s;
}

function writeMeta(w: Writer, m: RoomMetaData): void {
  w.utf8(m.roomUri).utf8(m.roomName);
  w.vector(m.roomDescriptions, (ww, d) => ww.utf8(d.mediaType).utf8(d.languageTag).opaque(d.descriptionContent));
  w.utf8(m.roomAvatar).utf8(m.roomSubject).utf8(m.roomMood);
}

export const encodeRoomMetaData = (m: RoomMetaData): Uint8Array => encodeBody((w) => writeMeta(w, m));

export const decodeRoomMetaData = (bytes: Uint8Array): Decoded<RoomMetaData> =>
  decodeBody("RoomMetaData", bytes, (r) => ({
    roomUri: r.field("room_uri", (x) => x.utf8()),
    roomName: r.field("room_name", readUtf8String),
    roomDescriptions: r.field("room_descriptions", (x) =>
      x.vector((y) => ({
        mediaType: y.field("media_type", (z) => z.utf8()),
        languageTag: y.field("language_tag", (z) => z.utf8()),
        descriptionContent: y.field("description_content", (z) => z.opaque()),
      })),
    ),
    roomAvatar: r.field("room_avatar", (x) => x.utf8()),
    roomSubject: r.field("room_subject", readUtf8String),
    roomMood: r.field("room_mood", readUtf8String),
  }));
