// Answers of the MIMI endpoints: TLS-PL bodies as application/octet-stream (-06 names no media
// type), and a body that does not decode as a 400 naming the structure, field and reason.

import { MatrixError } from "../shared/errors.js";
import type { Decoded } from "../shared/mimi/index.js";

export function binary(bytes: Uint8Array, status = 200): Response {
  return new Response(bytes, { status, headers: { "content-type": "application/octet-stream" } });
}

export function decodedOrThrow<T>(d: Decoded<T>): T {
  if (d.ok) return d.value;
  const e = d.error;
  throw new MatrixError(400, "M_BAD_JSON", `Malformed ${e.structure}: ${e.field || "body"}: ${e.reason} (${e.detail})`, { mimi_field: e.field, mimi_reason: e.reason });
}

