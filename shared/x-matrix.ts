// The X-Matrix authorization scheme (draft -04 "Request Authentication"; RFC 9110 section 11.4 for the
// header grammar). Fetch joins repeated Authorization headers with ", ", so a value may hold several
// credentials: the parser reads a whole credentials list, not just one.

import { MatrixError } from "./errors.js";
import { isKeyId, isServerName, type ServerName } from "./ids.js";
import type { SigningKey } from "./signing-key.js";
import { encodeBase64 } from "./base64.js";
import { canonicalJsonBytes } from "./canonical-json.js";

export interface XMatrixCredentials {
  origin: ServerName;
  /** Optional on the wire: older Matrix servers omit it. */
  destination?: ServerName;
  /** Key ID with algorithm, e.g. "ed25519:0". */
  key: string;
  /** Unpadded base64 signature, still encoded. */
  sig: string;
}

/** One credential of any scheme; parameter names lower-cased, values unescaped. */
export interface AuthCredential {
  scheme: string;
  params: Map<string, string>;
  token68?: string;
}

/** The object a request signature covers. `content` is absent when the caller signs without it. */
export interface SignedRequestObject {
  method: string;
  uri: string;
  origin: string;
  destination: string;
  content?: unknown;
}

/** Matrix's code for a request that is not correctly authenticated (draft -04 names M_FORBIDDEN here). */
const unauthorized = (message: string): MatrixError => new MatrixError(401, "M_UNAUTHORIZED", message);

const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;
const BARE_VALUE_CHAR = /[\x21\x23-\x2b\x2d-\x5b\x5d-\x7e]/;
const TOKEN68_CHAR = /[A-Za-z0-9\-._~+/]/;
const MAX_HEADER_LENGTH = 16_384;

class HeaderReader {
  i = 0;
  constructor(readonly s: string) {}

  get done(): boolean {
    return this.i >= this.s.length;
  }

  peek(): string {
    return this.s.charAt(this.i);
  }

  ows(): void {
    while (this.peek() === " " || this.peek() === "\t") this.i++;
  }

  token(): string {
    const start = this.i;
    while (!this.done && TCHAR.test(this.peek())) this.i++;
    return this.s.slice(start, this.i);
  }

  /**
   * An unquoted value. RFC 9110 allows only a token, but peers write `key=ed25519:0` or a padded
   * signature unquoted, so anything visible except quote, comma and backslash is taken.
   */
  bareValue(): string {
    const start = this.i;
    while (!this.done && BARE_VALUE_CHAR.test(this.peek())) this.i++;
    return this.s.slice(start, this.i);
  }

  quoted(): string {
    this.i++; // opening quote
    let out = "";
    for (;;) {
      if (this.done) throw unauthorized("Authorization header has an unterminated quoted string");
      const c = this.s.charAt(this.i++);
      if (c === '"') return out;
      if (c === "\\") {
        if (this.done) throw unauthorized("Authorization header ends inside an escape");
        out += this.s.charAt(this.i++);
      } else {
        out += c;
      }
    }
  }

  /** True when the next non-blank character is "=" (an auth-param, not a new scheme). */
  atParam(): boolean {
    let j = this.i;
    while (this.s.charAt(j) === " " || this.s.charAt(j) === "\t") j++;
    return this.s.charAt(j) === "=";
  }
}

/**
 * Parses an Authorization header value into its credentials. Throws 401 M_UNAUTHORIZED when the
 * value does not follow the grammar, so a caller never guesses at a half-read header.
 */
export function parseAuthorization(value: string): AuthCredential[] {
  if (value.length > MAX_HEADER_LENGTH) throw unauthorized("Authorization header is too long");
  const r = new HeaderReader(value);
  const out: AuthCredential[] = [];
  let current: AuthCredential | undefined;
  for (;;) {
    r.ows();
    while (r.peek() === ",") {
      r.i++;
      r.ows();
    }
    if (r.done) break;
    const name = r.token();
    if (name === "") throw unauthorized(`Authorization header has an unexpected character at offset ${r.i}`);
    if (current && r.atParam()) {
      r.ows();
      r.i++; // "="
      r.ows();
      const v = r.peek() === '"' ? r.quoted() : r.bareValue();
      const key = name.toLowerCase();
      if (current.params.has(key)) throw unauthorized(`Authorization header repeats the parameter ${key}`);
      current.params.set(key, v);
    } else {
      // A new scheme: separated from its parameters by at least one space.
      if (!r.done && r.peek() !== " " && r.peek() !== "\t" && r.peek() !== ",") {
        throw unauthorized(`Authorization header has an unexpected character at offset ${r.i}`);
      }
      current = { scheme: name, params: new Map() };
      out.push(current);
      r.ows();
      const t68 = readToken68(r);
      if (t68 === undefined) continue; // parameters follow, without a comma before the first
      current.token68 = t68;
    }
    r.ows();
    if (!r.done && r.peek() !== ",") throw unauthorized(`Authorization header has an unexpected character at offset ${r.i}`);
  }
  return out;
}

/** token68 (e.g. a Bearer token) directly after a scheme; undefined when parameters follow instead. */
function readToken68(r: HeaderReader): string | undefined {
  let j = r.i;
  while (j < r.s.length && TOKEN68_CHAR.test(r.s.charAt(j))) j++;
  if (j === r.i) return undefined;
  let end = j;
  while (r.s.charAt(end) === "=") end++;
  let k = end;
  while (r.s.charAt(k) === " " || r.s.charAt(k) === "\t") k++;
  // "name=value" has something after the "="; a token68 is followed only by blanks, a comma or the end.
  if (k < r.s.length && r.s.charAt(k) !== ",") return undefined;
  const t = r.s.slice(r.i, end);
  r.i = end;
  return t;
}

/**
 * All X-Matrix credentials in an Authorization header value (other schemes are skipped). Throws
 * 401 M_UNAUTHORIZED when the header is malformed or an X-Matrix credential lacks a required field.
 */
export function parseXMatrixHeader(value: string): XMatrixCredentials[] {
  const out: XMatrixCredentials[] = [];
  for (const c of parseAuthorization(value)) {
    if (c.scheme.toLowerCase() !== "x-matrix") continue;
    out.push(toXMatrix(c));
  }
  return out;
}

/** As parseXMatrixHeader for a single credential; undefined when it is not a well-formed X-Matrix one. */
export function tryParseXMatrix(value: string): XMatrixCredentials | undefined {
  try {
    const all = parseXMatrixHeader(value);
    return all.length === 1 ? all[0] : undefined;
  } catch {
    return undefined;
  }
}

function toXMatrix(c: AuthCredential): XMatrixCredentials {
  if (c.token68 !== undefined) throw unauthorized("X-Matrix credentials must be name=value parameters");
  const origin = c.params.get("origin");
  const destination = c.params.get("destination");
  const key = c.params.get("key");
  // The draft calls it "signature"; Matrix servers and the reference implementation send "sig".
  const sig = c.params.get("sig") ?? c.params.get("signature");
  if (origin === undefined || key === undefined || sig === undefined) {
    throw unauthorized("X-Matrix credentials need origin, key and sig");
  }
  if (!isServerName(origin)) throw unauthorized("X-Matrix origin is not a valid server name");
  if (destination !== undefined && !isServerName(destination)) {
    throw unauthorized("X-Matrix destination is not a valid server name");
  }
  if (!isKeyId(key)) throw unauthorized("X-Matrix key is not a valid key ID");
  if (sig === "") throw unauthorized("X-Matrix sig is empty");
  return destination === undefined ? { origin, key, sig } : { origin, destination, key, sig };
}

function quote(v: string): string {
  return `"${v.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** Formats one credential, every value quoted and no blanks after commas (older parsers split naively). */
export function formatXMatrixHeader(c: XMatrixCredentials): string {
  const parts = [`origin=${quote(c.origin)}`];
  if (c.destination !== undefined) parts.push(`destination=${quote(c.destination)}`);
  parts.push(`key=${quote(c.key)}`, `sig=${quote(c.sig)}`);
  return `X-Matrix ${parts.join(",")}`;
}

/** The JSON object a request signature covers; `content` left out when undefined. */
export function signedRequestObject(
  method: string,
  uri: string,
  origin: string,
  destination: string,
  content?: unknown,
): SignedRequestObject {
  const obj: SignedRequestObject = { method: method.toUpperCase(), uri, origin, destination };
  if (content !== undefined) obj.content = content;
  return obj;
}

/**
 * Signs a request and returns the Authorization header value. Pass `content` undefined for a request
 * without a body: the signed object then has no `content` key, which is what Matrix servers and the
 * reference implementation verify (the draft's `content: {}` is accepted on input, see federation-auth).
 */
/**
 * As signRequest, for a body already encoded as canonical JSON: the signed object is assembled
 * around it as text (its keys content < destination < method < origin < uri are already in
 * canonical order), so a large transaction is not encoded twice.
 */
export async function signRequestCanonicalBody(
  key: SigningKey,
  origin: ServerName,
  destination: ServerName,
  method: string,
  uri: string,
  canonicalContent: string,
): Promise<string> {
  const text = `{"content":${canonicalContent},"destination":${JSON.stringify(destination)},"method":${JSON.stringify(method.toUpperCase())},"origin":${JSON.stringify(origin)},"uri":${JSON.stringify(uri)}}`;
  const sig = encodeBase64(await key.sign(new TextEncoder().encode(text)));
  return formatXMatrixHeader({ origin, destination, key: key.keyId, sig });
}

export async function signRequest(
  key: SigningKey,
  origin: ServerName,
  destination: ServerName,
  method: string,
  uri: string,
  content?: unknown,
): Promise<string> {
  const bytes = canonicalJsonBytes(signedRequestObject(method, uri, origin, destination, content));
  const sig = encodeBase64(await key.sign(bytes));
  return formatXMatrixHeader({ origin, destination, key: key.keyId, sig });
}
