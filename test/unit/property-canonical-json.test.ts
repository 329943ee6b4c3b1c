// Property-based tests of canonical JSON and the strict parser (Matrix appendices "Canonical JSON"):
// what canonicalJson writes, parseStrictJson reads back unchanged; keys come out in code-point order
// (checked against an independent encoder written here); and every input the rules refuse (floats,
// integers beyond ±(2^53−1), lone surrogates, duplicate keys, garbage) ends as the right MatrixError,
// never as another exception. FUZZ_RUNS raises the iteration counts for long runs.

import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { canonicalJson, compareCodePoints, type JsonValue } from "../../shared/canonical-json.js";
import { MatrixError } from "../../shared/errors.js";
import { parseStrictJson, parseStrictJsonBytes } from "../../shared/strict-json.js";

const FUZZ_RUNS = Number(process.env["FUZZ_RUNS"] ?? "") || 0;
/** Moderate by default; FUZZ_RUNS (if larger) for long runs. */
const runs = (n: number): number => Math.max(n, FUZZ_RUNS);
/** Long runs (FUZZ_RUNS) get long per-test timeouts. */
const TIMEOUT = FUZZ_RUNS > 0 ? 600_000 : 30_000;
let cases = 0;
afterAll(() => console.log(`[fuzz] property-canonical-json: ${cases} cases`));

/** Runs a property, counting every generated case. */
function check<T>(arb: fc.Arbitrary<T>, numRuns: number, predicate: (v: T) => void): void {
  fc.assert(
    fc.property(arb, (v) => {
      cases++;
      predicate(v);
    }),
    { numRuns: runs(numRuns) },
  );
}

/** The MatrixError `run` throws; fails on any other exception or none. */
function matrixErrorOf(run: () => unknown): MatrixError {
  let thrown: unknown;
  try {
    run();
  } catch (e) {
    thrown = e;
  }
  if (!(thrown instanceof MatrixError)) throw new Error(`expected a MatrixError, got ${thrown === undefined ? "no error" : String(thrown)}`);
  return thrown;
}

/** Either a value or a MatrixError: anything else thrown fails the property. */
function valueOrMatrixError(run: () => unknown): { ok: true; value: unknown } | { ok: false; error: MatrixError } {
  try {
    return { ok: true, value: run() };
  } catch (e) {
    if (e instanceof MatrixError) return { ok: false, error: e };
    throw new Error(`not a MatrixError: ${String(e)}`);
  }
}

// Strings: any code points (astral ones as surrogate pairs, never a lone surrogate), plus the
// characters JSON must escape and a few that sort differently by code unit and by code point.
const tricky = fc.constantFrom("\u0000", "\u001f", '"', "\\", "/", "\u007f", "\u2028", "\ud7ff", "\ue000", "\uffff", "\u{10000}", "\u{1f600}", "\u{10ffff}", "é", "e\u0301");
const jsonString = fc.oneof(
  { weight: 3, arbitrary: fc.string({ unit: "binary", maxLength: 12 }) },
  { weight: 2, arbitrary: fc.array(fc.oneof(tricky, fc.string({ maxLength: 2 })), { maxLength: 6 }).map((parts) => parts.join("")) },
  { weight: 1, arbitrary: fc.constantFrom("", "__proto__", "constructor", "toString", "0", "1", "10", "-1", "01") },
);
const safeInt = fc.oneof(
  fc.integer({ min: -1000, max: 1000 }),
  fc.maxSafeInteger(),
  fc.constantFrom(Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 0, 1, -1, 2 ** 31, -(2 ** 31), 2 ** 32),
).filter((n) => !Object.is(n, -0));

/** Builds an object with own properties only (a "__proto__" key stays a key). */
function objectOf(entries: ReadonlyArray<readonly [string, JsonValue]>): { [k: string]: JsonValue } {
  const out: { [k: string]: JsonValue } = {};
  for (const [k, v] of entries) Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  return out;
}

const { json: jsonValue } = fc.letrec<{ json: JsonValue; obj: { [k: string]: JsonValue } }>((tie) => ({
  json: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    safeInt,
    jsonString,
    fc.array(tie("json"), { maxLength: 5 }),
    tie("obj"),
  ),
  obj: fc.uniqueArray(fc.tuple(jsonString, tie("json")), { selector: ([k]) => k, maxLength: 6 }).map(objectOf),
}));
const jsonObject = fc.uniqueArray(fc.tuple(jsonString, jsonValue), { selector: ([k]) => k, maxLength: 8 }).map(objectOf);

/** An independent canonical encoder: keys sorted by code points obtained with for-of iteration. */
function referenceEncode(v: JsonValue): string {
  if (v === null || typeof v === "boolean" || typeof v === "number") return JSON.stringify(v);
  if (typeof v === "string") return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(referenceEncode).join(",")}]`;
  const byCodePoints = (a: string, b: string): number => {
    const x = [...a].map((c) => c.codePointAt(0) as number);
    const y = [...b].map((c) => c.codePointAt(0) as number);
    for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return (x[i] as number) - (y[i] as number);
    return x.length - y.length;
  };
  const keys = Object.keys(v).sort(byCodePoints);
  return `{${keys.map((k) => `${JSON.stringify(k)}:${referenceEncode(v[k] as JsonValue)}`).join(",")}}`;
}

/** The same object with its keys inserted in another order, recursively. */
function reordered(v: JsonValue, seed: number): JsonValue {
  if (Array.isArray(v)) return v.map((x, i) => reordered(x, seed + i));
  if (v === null || typeof v !== "object") return v;
  const entries = Object.entries(v);
  const shuffled = entries.map((e, i) => [((i + 1) * (seed + 7919)) % 104729, e] as const).sort((a, b) => a[0] - b[0]).map(([, e]) => e);
  return objectOf(shuffled.map(([k, x]) => [k, reordered(x, seed + 1)] as const));
}

describe("canonical JSON round-trips", { timeout: TIMEOUT }, () => {
  it("parseStrictJson(canonicalJson(x)) deep-equals x for arbitrary JSON values within the rules", () => {
    check(jsonValue, 400, (x) => {
      expect(parseStrictJson(canonicalJson(x))).toEqual(x);
    });
  });

  it("round-trips objects with own __proto__, constructor and numeric-looking keys as plain keys", () => {
    check(jsonObject, 200, (x) => {
      const back = parseStrictJson(canonicalJson(x)) as Record<string, unknown>;
      expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
      expect(Object.keys(back).sort()).toEqual(Object.keys(x).sort());
      expect(back).toEqual(x);
    });
  });

  it("writes exactly what an independent encoder writes: keys by code point, shortest escapes, no whitespace", () => {
    check(jsonValue, 400, (x) => {
      expect(canonicalJson(x)).toBe(referenceEncode(x));
    });
  });

  it("is independent of key insertion order and idempotent", () => {
    check(fc.tuple(jsonObject, fc.nat(1000)), 200, ([x, seed]) => {
      const text = canonicalJson(x);
      expect(canonicalJson(reordered(x, seed))).toBe(text);
      expect(canonicalJson(parseStrictJson(text))).toBe(text);
    });
  });

  it("orders keys by code point, not by UTF-16 code unit", () => {
    check(fc.array(jsonString, { minLength: 2, maxLength: 8 }), 300, (keys) => {
      const sorted = [...new Set(keys)].sort(compareCodePoints);
      for (let i = 1; i < sorted.length; i++) {
        const a = [...(sorted[i - 1] as string)].map((c) => c.codePointAt(0) as number);
        const b = [...(sorted[i] as string)].map((c) => c.codePointAt(0) as number);
        const first = a.findIndex((cp, j) => cp !== b[j]);
        // Either a is a prefix of b, or at the first difference a's code point is smaller.
        if (first === -1) expect(a.length).toBeLessThan(b.length);
        else expect(a[first]).toBeLessThan(b[first] as number);
      }
    });
  });

  it("agrees with JSON.parse on every canonical text", () => {
    check(jsonValue, 200, (x) => {
      expect(JSON.parse(canonicalJson(x))).toEqual(x);
    });
  });
});

describe("canonical JSON refuses what the rules exclude", { timeout: TIMEOUT }, () => {
  const nonInteger = fc.double({ noDefaultInfinity: false }).filter((d) => !Number.isSafeInteger(d));
  const unsafeInteger = fc.oneof(
    fc.bigInt({ min: 2n ** 53n, max: 2n ** 70n }),
    fc.bigInt({ min: -(2n ** 70n), max: -(2n ** 53n) }),
  );
  const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));
  /** A string with one lone surrogate somewhere (a high one at the end, a low one at the start...). */
  const withLoneSurrogate = fc.tuple(fc.string({ unit: "binary-ascii", maxLength: 5 }), loneSurrogate, fc.string({ unit: "binary-ascii", maxLength: 5 })).map(([a, s, b]) => a + s + b);

  it("canonicalJson throws M_BAD_JSON for floats, NaN, infinities and unsafe integers anywhere in a value", () => {
    check(fc.tuple(jsonObject, fc.oneof(nonInteger, unsafeInteger.map(Number)), jsonString), 300, ([obj, bad, key]) => {
      const e = matrixErrorOf(() => canonicalJson({ ...obj, nested: [{ [key]: bad }] }));
      expect(e.errcode).toBe("M_BAD_JSON");
      expect(e.status).toBe(400);
    });
  });

  it("canonicalJson throws M_BAD_JSON for a lone surrogate in a value or a key", () => {
    check(fc.tuple(withLoneSurrogate, fc.boolean()), 200, ([s, asKey]) => {
      const e = matrixErrorOf(() => canonicalJson(asKey ? { [s]: 1 } : { k: [s] }));
      expect(e.errcode).toBe("M_BAD_JSON");
    });
  });

  it("canonicalJson throws M_BAD_JSON for values that are not JSON (bigint, functions, undefined in arrays)", () => {
    const notJson = fc.constantFrom<unknown>(10n, () => 1, Symbol("s"), [undefined]);
    check(notJson, 20, (v) => {
      expect(matrixErrorOf(() => canonicalJson({ a: v })).errcode).toBe("M_BAD_JSON");
    });
  });

  /** Puts `literal` into a valid document at a random place. */
  const inDocument = (literal: fc.Arbitrary<string>) =>
    fc.tuple(jsonObject, literal, fc.nat(2)).map(([obj, lit, where]) => {
      const doc = canonicalJson(obj);
      if (where === 0) return lit;
      if (where === 1) return `[${doc},${lit}]`;
      return `{"x":{"y":[1,${lit}]},"z":${doc}}`;
    });

  it("parseStrictJson refuses floats in any notation with M_BAD_JSON", () => {
    const floatLiteral = fc.oneof(
      fc.tuple(fc.integer({ min: -99999, max: 99999 }), fc.nat(999999)).map(([i, f]) => `${i}.${f}`),
      fc.tuple(fc.integer({ min: -9, max: 9 }), fc.constantFrom("e", "E", "e+", "e-", "E+", "E-"), fc.nat(30)).map(([i, e, x]) => `${i}${e}${x}`),
      fc.constantFrom("0.0", "-0.0", "1.0", "1e0", "0e0", "-0E-0", "1.5e300"),
    );
    check(inDocument(floatLiteral), 300, (text) => {
      const e = matrixErrorOf(() => parseStrictJson(text));
      expect(e.errcode).toBe("M_BAD_JSON");
    });
  });

  it("parseStrictJson refuses integers outside ±(2^53−1) with M_BAD_JSON", () => {
    check(inDocument(unsafeInteger.map(String)), 300, (text) => {
      expect(matrixErrorOf(() => parseStrictJson(text)).errcode).toBe("M_BAD_JSON");
    });
  });

  it("parseStrictJson refuses escaped and raw lone surrogates in strings and keys with M_BAD_JSON", () => {
    const escaped = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => `\\u${c.toString(16).padStart(4, "0")}`);
    const arb = fc.tuple(escaped, fc.boolean(), fc.boolean(), fc.string({ unit: "binary-ascii", maxLength: 4 }).map((s) => JSON.stringify(s).slice(1, -1)));
    check(arb, 300, ([surrogate, raw, asKey, around]) => {
      const s = raw ? (JSON.parse(`"${surrogate}"`) as string) : surrogate;
      const str = `"${around}${s}${around}"`;
      const text = asKey ? `{${str}:true}` : `{"k":[${str}]}`;
      expect(matrixErrorOf(() => parseStrictJson(text)).errcode).toBe("M_BAD_JSON");
    });
  });

  it("parseStrictJson accepts an escaped surrogate pair (control)", () => {
    check(fc.integer({ min: 0x10000, max: 0x10ffff }), 100, (cp) => {
      const s = String.fromCodePoint(cp);
      const esc = [...Array(2).keys()].map((i) => `\\u${s.charCodeAt(i).toString(16)}`).join("");
      expect(parseStrictJson(`"${esc}"`)).toBe(s);
    });
  });

  it("parseStrictJson refuses duplicate keys (also when spelled with different escapes) with M_BAD_JSON", () => {
    const arb = fc.tuple(jsonObject, jsonString, jsonValue, jsonValue, fc.boolean());
    check(arb, 300, ([obj, key, a, b, escapeSecond]) => {
      const second = escapeSecond ? `"${[...key].map((c) => [...Array(c.length).keys()].map((i) => `\\u${c.charCodeAt(i).toString(16).padStart(4, "0")}`).join("")).join("")}"` : JSON.stringify(key);
      const rest = canonicalJson(obj).slice(1, -1);
      const text = `{${JSON.stringify(key)}:${canonicalJson(a)}${rest ? `,${rest}` : ""},${second}:${canonicalJson(b)}}`;
      // The key may already be in obj: a duplicate all the same.
      expect(matrixErrorOf(() => parseStrictJson(text)).errcode).toBe("M_BAD_JSON");
    });
  });

  it("parseStrictJson refuses nesting deeper than the limit with M_BAD_JSON, without exhausting the stack", () => {
    check(fc.tuple(fc.integer({ min: 65, max: 200_000 }), fc.constantFrom("[", '{"a":'), fc.boolean()), 40, ([depth, open, closed]) => {
      const close = open === "[" ? "]" : "}";
      const text = open.repeat(depth) + (closed ? `1${close.repeat(depth)}` : "");
      expect(matrixErrorOf(() => parseStrictJson(text)).errcode).toBe("M_BAD_JSON");
    });
    // At the limit it parses.
    expect(parseStrictJson(`${"[".repeat(64)}${"]".repeat(64)}`)).toBeDefined();
  });

  it("parseStrictJson refuses strings and keys over their length limits with 413 M_TOO_LARGE", () => {
    check(fc.tuple(fc.integer({ min: 1, max: 2000 }), fc.boolean()), 40, ([extra, asKey]) => {
      const text = asKey ? `{"${"k".repeat(1024 + extra)}":1}` : `["${"s".repeat(262_144 + extra)}"]`;
      const e = matrixErrorOf(() => parseStrictJson(text));
      expect([e.status, e.errcode]).toEqual([413, "M_TOO_LARGE"]);
    });
  });
});

describe("parseStrictJson on arbitrary text", { timeout: TIMEOUT }, () => {
  /** Valid documents with random edits: inserted, deleted and replaced characters. */
  const mutated = fc
    .tuple(jsonValue, fc.array(fc.tuple(fc.nat(), fc.nat(2), fc.string({ unit: "binary", maxLength: 2 })), { minLength: 1, maxLength: 4 }))
    .map(([v, edits]) => {
      let s = canonicalJson(v);
      for (const [at, kind, text] of edits) {
        const i = s.length === 0 ? 0 : at % (s.length + 1);
        if (kind === 0) s = s.slice(0, i) + text + s.slice(i);
        else if (kind === 1) s = s.slice(0, i) + s.slice(i + 1);
        else s = s.slice(0, i) + text + s.slice(i + text.length);
      }
      return s;
    });
  const jsonish = fc.stringMatching(/^[\s[\]{}",:0-9.eE+\-truefalsn\\u]{0,40}$/);
  const text = fc.oneof(mutated, jsonish, fc.string({ unit: "binary", maxLength: 40 }), fc.json());

  it("returns a value or throws a MatrixError (M_NOT_JSON, M_BAD_JSON or M_TOO_LARGE), never anything else", () => {
    check(text, 1500, (s) => {
      const r = valueOrMatrixError(() => parseStrictJson(s));
      if (!r.ok) expect(["M_NOT_JSON", "M_BAD_JSON", "M_TOO_LARGE"]).toContain(r.error.errcode);
    });
  });

  it("accepts only what JSON.parse accepts, and then yields the same value", () => {
    check(text, 1000, (s) => {
      const r = valueOrMatrixError(() => parseStrictJson(s));
      let plain: { ok: true; value: unknown } | { ok: false };
      try {
        plain = { ok: true, value: JSON.parse(s) };
      } catch {
        plain = { ok: false };
      }
      if (r.ok) {
        expect(plain.ok).toBe(true);
        // Compared as canonical text: JSON.parse keeps -0, which Matrix JSON reads as 0.
        if (plain.ok) expect(canonicalJson(r.value)).toBe(canonicalJson(plain.value));
      }
      // Text JSON.parse refuses is never accepted.
      if (!plain.ok) expect(r.ok).toBe(false);
    });
  });

  it("parseStrictJsonBytes answers random bytes with an object or a MatrixError", () => {
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 64 }),
      fc.tuple(jsonObject, fc.uint8Array({ maxLength: 4 }), fc.nat()).map(([o, junk, at]) => {
        const b = new TextEncoder().encode(canonicalJson(o));
        const i = at % (b.length + 1);
        return new Uint8Array([...b.slice(0, i), ...junk, ...b.slice(i)]);
      }),
    );
    check(bytes, 800, (b) => {
      const r = valueOrMatrixError(() => parseStrictJsonBytes(b));
      if (r.ok) expect(typeof r.value === "object" && r.value !== null && !Array.isArray(r.value)).toBe(true);
      else expect(["M_NOT_JSON", "M_BAD_JSON", "M_TOO_LARGE"]).toContain(r.error.errcode);
    });
  });
});
