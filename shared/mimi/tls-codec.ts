// The TLS presentation language (RFC 8446 §3) as MLS uses it (RFC 9420 §2.1.2), for MIMI bodies.
// Strict where ts-mls's own codec is lenient, because these bytes come from other providers: a
// variable-length prefix must be minimal and fit in what is left, an optional's presence octet is 0 or
// 1, an enum takes only the values its definition lists, and a body ends exactly where it should.
// Embedded MLS structures (MLSMessage, KeyPackage, Welcome, ...) are decoded by ts-mls, never here.

import type { Decoder } from "ts-mls/codec/tlsDecoder.js";

export type MimiCodecReason =
  /** The input ended inside a field. */
  | "truncated"
  /** A length prefix promises more bytes than the enclosing field holds. */
  | "overlong_length"
  /** A length prefix not in its shortest form, or the reserved 8-byte form. */
  | "noncanonical_length"
  /** An enum value the draft does not define. */
  | "unknown_enum"
  /** Bytes left over after the structure. */
  | "trailing_bytes"
  /** An embedded MLS structure ts-mls could not decode, or of the wrong kind. */
  | "invalid_mls"
  /** Decodable bytes with a value the structure forbids (presence octet 2, bad UTF-8, ...). */
  | "invalid_value";

/** Why a MIMI body was refused: which field (a dotted path such as `bundle.welcome`) and why. */
export interface MimiCodecError {
  readonly structure: string;
  readonly field: string;
  readonly reason: MimiCodecReason;
  readonly detail: string;
}

export type Decoded<T> = { ok: true; value: T } | { ok: false; error: MimiCodecError };

/** Internal: unwinds a decode to `decodeBody`, which turns it into a typed result. Never escapes. */
class Failure {
  constructor(
    readonly field: string,
    readonly reason: MimiCodecReason,
    readonly detail: string,
  ) {}
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();

export class Reader {
  private offset = 0;
  private readonly path: string[];

  constructor(
    private readonly buf: Uint8Array,
    path: string[] = [],
  ) {
    this.path = path;
  }

  get remaining(): number {
    return this.buf.length - this.offset;
  }

  fail(reason: MimiCodecReason, detail: string): never {
    throw new Failure(this.path.join(".") || "(body)", reason, detail);
  }

  /** Runs `read` with `name` appended to the field path used in errors. */
  field<T>(name: string, read: (r: Reader) => T): T {
    this.path.push(name);
    try {
      return read(this);
    } finally {
      this.path.pop();
    }
  }

  private take(n: number): Uint8Array {
    if (n > this.remaining) this.fail("truncated", `needs ${n} bytes, ${this.remaining} left`);
    const out = this.buf.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }

  peekU8(): number | undefined {
    return this.buf[this.offset];
  }

  u8(): number {
    return this.take(1)[0]!;
  }

  u16(): number {
    const b = this.take(2);
    return (b[0]! << 8) | b[1]!;
  }

  u32(): number {
    const b = this.take(4);
    return ((b[0]! << 24) >>> 0) + ((b[1]! << 16) | (b[2]! << 8) | b[3]!);
  }

  u64(): bigint {
    const b = this.take(8);
    let v = 0n;
    for (const byte of b) v = (v << 8n) | BigInt(byte);
    return v;
  }

  fixed(n: number): Uint8Array {
    return this.take(n).slice();
  }

  /** RFC 9420 §2.1.2 variable-length integer, minimal encoding required. */
  private varLength(): number {
    const first = this.peekU8();
    if (first === undefined) this.fail("truncated", "missing length prefix");
    const prefix = first >> 6;
    if (prefix === 3) this.fail("noncanonical_length", "8-byte length prefix is reserved");
    const size = 1 << prefix;
    const b = this.take(size);
    let v = b[0]! & 0x3f;
    for (let i = 1; i < size; i++) v = v * 256 + b[i]!;
    const minimal = v < 64 ? 1 : v < 16384 ? 2 : 4;
    if (size !== minimal) this.fail("noncanonical_length", `length ${v} written in ${size} bytes`);
    return v;
  }

  /** `opaque x<V>` */
  opaque(): Uint8Array {
    const n = this.varLength();
    if (n > this.remaining) this.fail("overlong_length", `length ${n} exceeds the ${this.remaining} bytes left`);
    return this.take(n).slice();
  }

  /** `opaque x<V>` holding UTF-8 text (the draft's `string` and URI fields). */
  utf8(): string {
    const bytes = this.opaque();
    try {
      return utf8.decode(bytes);
    } catch {
      return this.fail("invalid_value", "not valid UTF-8");
    }
  }

  /** `T x<V>`: items are read from exactly the prefixed bytes. */
  vector<T>(read: (r: Reader, index: number) => T): T[] {
    const n = this.varLength();
    if (n > this.remaining) this.fail("overlong_length", `length ${n} exceeds the ${this.remaining} bytes left`);
    const inner = new Reader(this.take(n), this.path);
    const out: T[] = [];
    while (inner.remaining > 0) {
      const i = out.length;
      out.push(inner.field(String(i), (r) => read(r, i)));
    }
    return out;
  }

  /** `optional<T>`: a presence octet of exactly 0 or 1. */
  optional<T>(read: (r: Reader) => T): T | undefined {
    const present = this.u8();
    if (present === 0) return undefined;
    if (present !== 1) this.fail("invalid_value", `presence octet ${present}`);
    return read(this);
  }

  /** A uint8 enum restricted to the values the draft defines. */
  enumU8<K extends string>(values: Readonly<Record<K, number>>): K {
    const v = this.u8();
    return this.enumName(values, v);
  }

  enumU16<K extends string>(values: Readonly<Record<K, number>>): K {
    return this.enumName(values, this.u16());
  }

  private enumName<K extends string>(values: Readonly<Record<K, number>>, v: number): K {
    for (const [name, n] of Object.entries(values) as [K, number][]) if (n === v) return name;
    return this.fail("unknown_enum", `value ${v}`);
  }

  /** An MLS structure decoded by ts-mls in place: its value and the exact bytes it occupied. */
  mls<T>(decode: Decoder<T>, what: string): { value: T; bytes: Uint8Array } {
    const start = this.offset;
    let result: [T, number] | undefined;
    try {
      result = decode(this.buf, start);
    } catch {
      result = undefined;
    }
    if (result === undefined || result[1] <= 0 || result[1] > this.remaining) this.fail("invalid_mls", `not a ${what}`);
    this.offset += result[1];
    return { value: result[0], bytes: this.buf.slice(start, start + result[1]) };
  }

  /** Tries `read`; on failure rewinds and answers undefined (for the draft's either-or readings). */
  attempt<T>(read: (r: Reader) => T): T | undefined {
    const start = this.offset;
    try {
      return read(this);
    } catch (e) {
      if (!(e instanceof Failure)) throw e;
      this.offset = start;
      return undefined;
    }
  }

  end(): void {
    if (this.remaining !== 0) this.fail("trailing_bytes", `${this.remaining} bytes after the structure`);
  }
}

/** Decodes a whole body: typed value or typed error, never a throw (ts-mls errors included). */
export function decodeBody<T>(structure: string, bytes: Uint8Array, read: (r: Reader) => T): Decoded<T> {
  const r = new Reader(bytes);
  try {
    const value = read(r);
    r.end();
    return { ok: true, value };
  } catch (e) {
    if (e instanceof Failure) return { ok: false, error: { structure, field: e.field, reason: e.reason, detail: e.detail } };
    return { ok: false, error: { structure, field: "(body)", reason: "invalid_value", detail: e instanceof Error ? e.message : String(e) } };
  }
}

export class Writer {
  private chunks: Uint8Array[] = [];
  private size = 0;

  raw(bytes: Uint8Array): this {
    this.chunks.push(bytes);
    this.size += bytes.length;
    return this;
  }

  u8(v: number): this {
    return this.raw(Uint8Array.of(v & 0xff));
  }

  u16(v: number): this {
    return this.raw(Uint8Array.of((v >> 8) & 0xff, v & 0xff));
  }

  u32(v: number): this {
    return this.raw(Uint8Array.of((v >>> 24) & 0xff, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff));
  }

  u64(v: bigint): this {
    if (v < 0n || v >= 1n << 64n) throw new RangeError("uint64 out of range");
    const b = new Uint8Array(8);
    let x = v;
    for (let i = 7; i >= 0; i--) {
      b[i] = Number(x & 0xffn);
      x >>= 8n;
    }
    return this.raw(b);
  }

  fixed(bytes: Uint8Array, n: number): this {
    if (bytes.length !== n) throw new RangeError(`expected ${n} bytes, got ${bytes.length}`);
    return this.raw(bytes);
  }

  private varLength(n: number): this {
    if (n < 64) return this.u8(n);
    if (n < 16384) return this.u16(n | 0x4000);
    if (n < 0x40000000) return this.u32((n | 0x80000000) >>> 0);
    throw new RangeError("vector longer than 2^30 - 1 bytes");
  }

  opaque(bytes: Uint8Array): this {
    return this.varLength(bytes.length).raw(bytes);
  }

  utf8(text: string): this {
    return this.opaque(utf8Encoder.encode(text));
  }

  vector<T>(items: readonly T[], write: (w: Writer, item: T) => void): this {
    const inner = new Writer();
    for (const item of items) write(inner, item);
    return this.opaque(inner.finish());
  }

  optional<T>(value: T | undefined, write: (w: Writer, v: T) => void): this {
    if (value === undefined) return this.u8(0);
    this.u8(1);
    write(this, value);
    return this;
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.size);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

/** Encodes with a fresh Writer. */
export function encodeBody(write: (w: Writer) => void): Uint8Array {
  const w = new Writer();
  write(w);
  return w.finish();
}
