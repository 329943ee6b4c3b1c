// Matrix canonical JSON (appendices "Canonical JSON"): keys sorted by Unicode code point, integers
// within ±(2^53−1) only, no floats, shortest escapes, UTF-8. JSON.stringify already writes strings
// the way the grammar wants once lone surrogates are excluded, so only keys and numbers need care.

import { MatrixError } from "./errors.js";

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export function hasLoneSurrogate(s: string): boolean {
  return LONE_SURROGATE.test(s);
}

/**
 * Code-point order. UTF-16 order differs from it only where a surrogate meets U+E000..U+FFFF, so
 * compare code units after lifting surrogates above that range.
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800) x += x <= 0xdfff ? 0x2000 : -0x800;
    if (y >= 0xd800) y += y <= 0xdfff ? 0x2000 : -0x800;
    return x - y;
  }
  return a.length - b.length;
}

function encodeString(s: string): string {
  if (hasLoneSurrogate(s)) throw new MatrixError(400, "M_BAD_JSON", "String contains a lone surrogate");
  return JSON.stringify(s);
}

function encodeValue(v: unknown, out: string[]): void {
  switch (typeof v) {
    case "string":
      out.push(encodeString(v));
      return;
    case "number":
      if (!Number.isSafeInteger(v)) {
        throw new MatrixError(400, "M_BAD_JSON", `Canonical JSON allows only integers within ±(2^53−1), got ${v}`);
      }
      out.push(v === 0 ? "0" : String(v));
      return;
    case "boolean":
      out.push(v ? "true" : "false");
      return;
    case "object": {
      if (v === null) {
        out.push("null");
        return;
      }
      if (Array.isArray(v)) {
        out.push("[");
        for (let i = 0; i < v.length; i++) {
          if (i > 0) out.push(",");
          if (v[i] === undefined) throw new MatrixError(400, "M_BAD_JSON", "undefined in array");
          encodeValue(v[i], out);
        }
        out.push("]");
        return;
      }
      const obj = v as Record<string, unknown>;
      const keys = Object.keys(obj).filter((k) => obj[k] !== undefined);
      keys.sort(compareCodePoints);
      out.push("{");
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i] as string;
        if (i > 0) out.push(",");
        out.push(encodeString(k), ":");
        encodeValue(obj[k], out);
      }
      out.push("}");
      return;
    }
    default:
      throw new MatrixError(400, "M_BAD_JSON", `Value of type ${typeof v} is not JSON`);
  }
}

/** Canonical JSON text. Object members whose value is `undefined` are omitted, as JSON.stringify does. */
export function canonicalJson(value: unknown): string {
  const out: string[] = [];
  encodeValue(value, out);
  return out.join("");
}

const encoder = new TextEncoder();

export function canonicalJsonBytes(value: unknown): Uint8Array {
  return encoder.encode(canonicalJson(value));
}
