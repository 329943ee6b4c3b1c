// Strict parser for inbound JSON (federation bodies, events). JSON.parse accepts things Matrix must
// refuse: duplicate keys (last wins silently), floats, integers beyond ±(2^53−1) and escaped lone
// surrogates. This recursive-descent parser rejects those and bounds depth and lengths, so hostile
// input gets a clear M_NOT_JSON / M_BAD_JSON instead of surprises later.

import { MatrixError } from "./errors.js";
import type { JsonValue } from "./canonical-json.js";
import { hasLoneSurrogate } from "./canonical-json.js";

export interface JsonLimits {
  maxDepth: number;
  maxKeyLength: number;
  maxStringLength: number;
}

export const DEFAULT_JSON_LIMITS: JsonLimits = { maxDepth: 64, maxKeyLength: 1024, maxStringLength: 262_144 };

class Parser {
  private i = 0;
  constructor(
    private readonly s: string,
    private readonly limits: JsonLimits,
  ) {}

  private notJson(what: string): MatrixError {
    return new MatrixError(400, "M_NOT_JSON", `Invalid JSON at offset ${this.i}: ${what}`);
  }

  private badJson(what: string): MatrixError {
    return new MatrixError(400, "M_BAD_JSON", `${what} at offset ${this.i}`);
  }

  private ws(): void {
    const s = this.s;
    for (;;) {
      const c = s.charCodeAt(this.i);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) this.i++;
      else return;
    }
  }

  parseDocument(): JsonValue {
    this.ws();
    const v = this.value(0);
    this.ws();
    if (this.i !== this.s.length) throw this.notJson("trailing characters");
    return v;
  }

  private value(depth: number): JsonValue {
    const c = this.s.charCodeAt(this.i);
    switch (c) {
      case 0x7b /* { */:
        return this.object(depth + 1);
      case 0x5b /* [ */:
        return this.array(depth + 1);
      case 0x22 /* " */:
        return this.string(this.limits.maxStringLength, "string");
      case 0x74 /* t */:
        return this.literal("true", true);
      case 0x66 /* f */:
        return this.literal("false", false);
      case 0x6e /* n */:
        return this.literal("null", null);
      default:
        if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.number();
        throw this.notJson(Number.isNaN(c) ? "unexpected end of input" : "unexpected character");
    }
  }

  private literal<T extends JsonValue>(word: string, v: T): T {
    if (!this.s.startsWith(word, this.i)) throw this.notJson("unexpected token");
    this.i += word.length;
    return v;
  }

  private number(): number {
    const s = this.s;
    const start = this.i;
    if (s.charCodeAt(this.i) === 0x2d) this.i++;
    const first = s.charCodeAt(this.i);
    if (first === 0x30) this.i++;
    else if (first >= 0x31 && first <= 0x39) while (isDigit(s.charCodeAt(this.i))) this.i++;
    else throw this.notJson("bad number");
    const next = s.charCodeAt(this.i);
    if (next === 0x2e || next === 0x65 || next === 0x45) {
      throw this.badJson("Floating-point numbers are not allowed in Matrix JSON");
    }
    const n = Number(s.slice(start, this.i));
    if (!Number.isSafeInteger(n)) throw this.badJson("Integer outside ±(2^53−1)");
    return n === 0 ? 0 : n;
  }

  private string(maxLength: number, what: string): string {
    const s = this.s;
    const start = ++this.i;
    let escaped = false;
    for (;;) {
      const c = s.charCodeAt(this.i);
      if (c === 0x22) break;
      if (Number.isNaN(c)) throw this.notJson("unterminated string");
      if (c < 0x20) throw this.notJson("control character in string");
      if (c === 0x5c) {
        escaped = true;
        const e = s.charCodeAt(this.i + 1);
        if (e === 0x75 /* u */) {
          if (!/^[0-9A-Fa-f]{4}$/.test(s.slice(this.i + 2, this.i + 6))) throw this.notJson("bad \\u escape");
          this.i += 6;
          continue;
        }
        // " \ / b f n r t
        if (e !== 0x22 && e !== 0x5c && e !== 0x2f && e !== 0x62 && e !== 0x66 && e !== 0x6e && e !== 0x72 && e !== 0x74) {
          throw this.notJson("bad escape");
        }
        this.i += 2;
        continue;
      }
      this.i++;
    }
    const raw = s.slice(start, this.i);
    this.i++;
    const out = escaped ? (JSON.parse(`"${raw}"`) as string) : raw;
    if (out.length > maxLength) throw new MatrixError(413, "M_TOO_LARGE", `${what} longer than ${maxLength}`);
    if (hasLoneSurrogate(out)) throw this.badJson("Lone surrogate in string");
    return out;
  }

  private array(depth: number): JsonValue[] {
    if (depth > this.limits.maxDepth) throw this.badJson(`JSON nested deeper than ${this.limits.maxDepth}`);
    this.i++;
    const out: JsonValue[] = [];
    this.ws();
    if (this.s.charCodeAt(this.i) === 0x5d) {
      this.i++;
      return out;
    }
    for (;;) {
      this.ws();
      out.push(this.value(depth));
      this.ws();
      const c = this.s.charCodeAt(this.i++);
      if (c === 0x5d) return out;
      if (c !== 0x2c) throw this.notJson("expected , or ]");
    }
  }

  private object(depth: number): { [k: string]: JsonValue } {
    if (depth > this.limits.maxDepth) throw this.badJson(`JSON nested deeper than ${this.limits.maxDepth}`);
    this.i++;
    const out: { [k: string]: JsonValue } = {};
    const seen = new Set<string>();
    this.ws();
    if (this.s.charCodeAt(this.i) === 0x7d) {
      this.i++;
      return out;
    }
    for (;;) {
      this.ws();
      if (this.s.charCodeAt(this.i) !== 0x22) throw this.notJson("expected object key");
      const key = this.string(this.limits.maxKeyLength, "object key");
      if (seen.has(key)) throw this.badJson(`Duplicate key ${JSON.stringify(key)}`);
      seen.add(key);
      this.ws();
      if (this.s.charCodeAt(this.i++) !== 0x3a) throw this.notJson("expected :");
      this.ws();
      const v = this.value(depth);
      // "__proto__" must become an own property, never the prototype.
      if (key === "__proto__") Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
      else out[key] = v;
      this.ws();
      const c = this.s.charCodeAt(this.i++);
      if (c === 0x7d) return out;
      if (c !== 0x2c) throw this.notJson("expected , or }");
    }
  }
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** Parses JSON text under Matrix's strict rules; throws MatrixError (M_NOT_JSON, M_BAD_JSON, M_TOO_LARGE). */
export function parseStrictJson(text: string, limits: Partial<JsonLimits> = {}): JsonValue {
  return new Parser(text, { ...DEFAULT_JSON_LIMITS, ...limits }).parseDocument();
}

/** As parseStrictJson, and the top level must be an object (every Matrix request body is one). */
export function parseStrictJsonObject(text: string, limits: Partial<JsonLimits> = {}): { [k: string]: JsonValue } {
  const v = parseStrictJson(text, limits);
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new MatrixError(400, "M_NOT_JSON", "Request body must be a JSON object");
  }
  return v;
}

const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/** Decodes UTF-8 strictly (invalid bytes are M_NOT_JSON) before parsing. */
export function parseStrictJsonBytes(bytes: Uint8Array, limits: Partial<JsonLimits> = {}): { [k: string]: JsonValue } {
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    throw new MatrixError(400, "M_NOT_JSON", "Body is not valid UTF-8");
  }
  return parseStrictJsonObject(text, limits);
}
