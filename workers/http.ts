// HTTP plumbing shared by every route: JSON responses, Matrix errors, bounded strict body parsing.

import { MatrixError, toMatrixError } from "../shared/errors.js";
import type { JsonLimits } from "../shared/strict-json.js";
import { parseStrictJsonBytes } from "../shared/strict-json.js";

const JSON_HEADERS = { "content-type": "application/json" } as const;

export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { ...JSON_HEADERS, ...headers } });
}

export function errorResponse(err: unknown): Response {
  const e = toMatrixError(err);
  if (e.status >= 500) console.error("request failed", err);
  const headers: Record<string, string> = {};
  const retry = e.extra["retry_after_ms"];
  if (e.status === 429 && typeof retry === "number") headers["retry-after"] = String(Math.ceil(retry / 1000));
  return json(e.toJSON(), e.status, headers);
}

/** Whether a body is compressed, i.e. may decode to more bytes than its Content-Length. */
export function isEncoded(headers: Headers): boolean {
  const enc = headers.get("content-encoding");
  return enc !== null && enc.trim().toLowerCase() !== "identity";
}

/**
 * Reads at most `maxBytes` of body, so a lying client cannot exhaust memory: a declared length is
 * checked before reading (HTTP framing ends the body there); without one, the stream is counted.
 */
export async function readBodyBytes(req: Request, maxBytes: number): Promise<Uint8Array> {
  const declared = req.headers.get("content-length");
  if (declared !== null && Number(declared) > maxBytes) {
    throw new MatrixError(413, "M_TOO_LARGE", `Request body larger than ${maxBytes} bytes`);
  }
  if (!req.body) return new Uint8Array(0);
  // A declared, uncompressed length bounds what arrives: read it in one native call.
  if (declared !== null && !isEncoded(req.headers)) {
    const bytes = new Uint8Array(await req.arrayBuffer());
    if (bytes.byteLength > maxBytes) throw new MatrixError(413, "M_TOO_LARGE", `Request body larger than ${maxBytes} bytes`);
    return bytes;
  }
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      throw new MatrixError(413, "M_TOO_LARGE", `Request body larger than ${maxBytes} bytes`);
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0] as Uint8Array;
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.byteLength;
  }
  return out;
}

export interface BodyOptions extends Partial<JsonLimits> {
  maxBytes: number;
  /**
   * Treat an empty body as {}. Only for endpoints whose body is all optional fields and where
   * clients send none (join, leave, invite/kick/ban/unban, forget: Synapse accepts none there too);
   * everywhere else no body at all is 400 M_NOT_JSON, never an empty event or profile.
   */
  allowEmpty?: boolean;
}

/** Parses a JSON object body strictly; the raw bytes are returned for signature checks over `content`. */
export async function readJsonBody(req: Request, opts: BodyOptions): Promise<{ body: Record<string, unknown>; bytes: Uint8Array }> {
  const bytes = await readBodyBytes(req, opts.maxBytes);
  if (bytes.byteLength === 0) {
    if (opts.allowEmpty) return { body: {}, bytes };
    throw new MatrixError(400, "M_NOT_JSON", "Request body must be a JSON object");
  }
  return { body: parseStrictJsonBytes(bytes, opts), bytes };
}

/** A percent-decoded route parameter; a missing one or malformed encoding is the caller's error (400). */
export function pathParam(req: { params?: unknown }, name: string): string {
  const raw = (req.params as Record<string, string | undefined> | undefined)?.[name];
  if (raw === undefined) throw new MatrixError(400, "M_MISSING_PARAM", `missing ${name}`);
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new MatrixError(400, "M_INVALID_PARAM", `${name} is not valid percent-encoding`);
  }
}

export function corsHeaders(): Record<string, string> {
  return {
    "access-control-allow-origin": "*",
    "access-control-allow-methods": "GET, POST, PUT, DELETE, OPTIONS",
    "access-control-allow-headers": "X-Requested-With, Content-Type, Authorization",
  };
}
