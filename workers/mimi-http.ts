// Answers of the MIMI endpoints: TLS-PL bodies as application/octet-stream (-06 names no media
// type), and a body that does not decode as a 400 naming the structure, field and reason.

import { decodeBase64 } from "../shared/base64.js";
import { MatrixError } from "../shared/errors.js";
import { isRoomId } from "../shared/ids.js";
import type { Decoded } from "../shared/mimi/index.js";
import type { SbRequest } from "./app.js";
import { readJsonBody } from "./http.js";

export function binary(bytes: Uint8Array, status = 200): Response {
  return new Response(bytes, { status, headers: { "content-type": "application/octet-stream" } });
}

export function decodedOrThrow<T>(d: Decoded<T>): T {
  if (d.ok) return d.value;
  const e = d.error;
  throw new MatrixError(400, "M_BAD_JSON", `Malformed ${e.structure}: ${e.field || "body"}: ${e.reason} (${e.detail})`, { mimi_field: e.field, mimi_reason: e.reason });
}


/** A follower client's relay body `{room_id, request}`: the room (vetted by `checkRoom`) and the base64 MIMI request's bytes. */
export async function clientRelayBody(req: SbRequest, checkRoom: (roomId: string) => void = () => {}): Promise<{ roomId: string; bytes: Uint8Array }> {
  const { body } = await readJsonBody(req, { maxBytes: 64 * 1024 });
  const roomId = body["room_id"];
  if (!isRoomId(roomId)) throw new MatrixError(400, "M_INVALID_PARAM", "room_id must be a room ID");
  checkRoom(roomId);
  try {
    return { roomId, bytes: decodeBase64(String(body["request"])) };
  } catch {
    throw new MatrixError(400, "M_BAD_JSON", "request must be base64");
  }
}
