// multipart/mixed (RFC 2046 §5.1), as the federation media endpoints use it: a JSON metadata part,
// then the media itself (or a Location to fetch it from).

export interface Part {
  /** Header names in lower case. */
  headers: Map<string, string>;
  body: Uint8Array;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.byteLength;
  }
  return out;
}

/** The body of a multipart/mixed message of `parts` separated by `boundary`. */
export function buildMultipartMixed(boundary: string, parts: Array<{ headers: Record<string, string>; body: Uint8Array }>): Uint8Array {
  const chunks: Uint8Array[] = [];
  for (const p of parts) {
    const head = Object.entries(p.headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join("");
    chunks.push(enc.encode(`--${boundary}\r\n${head}\r\n`), p.body, enc.encode("\r\n"));
  }
  chunks.push(enc.encode(`--${boundary}--\r\n`));
  return concat(chunks);
}

/** The boundary parameter of a multipart Content-Type, or undefined when it is not multipart/mixed. */
export function multipartBoundary(contentType: string | null): string | undefined {
  if (contentType === null) return undefined;
  const [essence, ...params] = contentType.split(";");
  if (essence?.trim().toLowerCase() !== "multipart/mixed") return undefined;
  for (const p of params) {
    const m = /^\s*boundary\s*=\s*(?:"([^"]{1,70})"|([^\s";]{1,70}))\s*$/i.exec(p);
    if (m) return m[1] ?? m[2];
  }
  return undefined;
}

function indexOf(hay: Uint8Array, needle: Uint8Array, from: number): number {
  const first = needle[0];
  outer: for (let i = hay.indexOf(first as number, from); i !== -1 && i <= hay.length - needle.length; i = hay.indexOf(first as number, i + 1)) {
    for (let j = 1; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

function parseHeaders(block: string): Map<string, string> | undefined {
  const headers = new Map<string, string>();
  for (const line of block.split("\r\n")) {
    if (line === "") continue;
    const colon = line.indexOf(":");
    if (colon <= 0) return undefined;
    headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return headers;
}

/** The parts of a multipart body, or undefined when it is malformed (no closing delimiter, bad headers). */
export function parseMultipartMixed(boundary: string, body: Uint8Array, maxParts = 8): Part[] | undefined {
  const open = enc.encode(`--${boundary}`);
  const delim = enc.encode(`\r\n--${boundary}`);
  const start = body.length >= open.length && indexOf(body.subarray(0, open.length), open, 0) === 0 ? 0 : indexOf(body, delim, 0);
  if (start === -1) return undefined;
  let pos = start + (start === 0 ? open.length : delim.length);
  const parts: Part[] = [];
  for (;;) {
    if (body[pos] === 0x2d && body[pos + 1] === 0x2d) return parts; // "--": the closing delimiter
    // The rest of the delimiter line (transport padding), then CRLF.
    const lineEnd = indexOf(body, enc.encode("\r\n"), pos);
    if (lineEnd === -1 || parts.length >= maxParts) return undefined;
    const next = indexOf(body, delim, lineEnd);
    if (next === -1) return undefined;
    const part = body.subarray(lineEnd + 2, next);
    const split = part[0] === 0x0d && part[1] === 0x0a ? 0 : indexOf(part, enc.encode("\r\n\r\n"), 0);
    if (split === -1) return undefined;
    const headers = parseHeaders(dec.decode(part.subarray(0, split)));
    if (!headers) return undefined;
    parts.push({ headers, body: part.subarray(split === 0 ? 2 : split + 4) });
    pos = next + delim.length;
  }
}
