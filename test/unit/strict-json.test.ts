import { describe, expect, it } from "vitest";
import { canonicalJson } from "../../shared/canonical-json.js";
import { MatrixError } from "../../shared/errors.js";
import {
  DEFAULT_JSON_LIMITS,
  parseStrictJson,
  parseStrictJsonBytes,
  parseStrictJsonObject,
} from "../../shared/strict-json.js";

type Code = "M_NOT_JSON" | "M_BAD_JSON" | "M_TOO_LARGE";
const STATUS: Record<Code, number> = { M_NOT_JSON: 400, M_BAD_JSON: 400, M_TOO_LARGE: 413 };

function rejection(f: () => unknown): MatrixError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(MatrixError);
    return e as MatrixError;
  }
  throw new Error("expected a MatrixError, but nothing was thrown");
}

function expectRejected(text: string, errcode: Code): void {
  const e = rejection(() => parseStrictJson(text));
  const input = text.length > 60 ? `${text.slice(0, 60)}… (${text.length} chars)` : text;
  expect({ input, errcode: e.errcode, status: e.status }).toEqual({ input, errcode, status: STATUS[errcode] });
  expect(e.message.length).toBeGreaterThan(0);
}

const nest = (depth: number): string => "[".repeat(depth) + "]".repeat(depth);
const nestObjects = (depth: number): string => '{"a":'.repeat(depth - 1) + "{}" + "}".repeat(depth - 1);

describe("parseStrictJson: accepts what Matrix allows", () => {
  it("parses objects, arrays, strings, integers, booleans and null with any JSON whitespace", () => {
    expect(parseStrictJson(' \t\r\n{ "a" : [ 1 , -2 , "x" , true , false , null , { } , [ ] ] }\n')).toEqual({
      a: [1, -2, "x", true, false, null, {}, []],
    });
  });

  it("accepts integers at ±(2^53−1)", () => {
    expect(parseStrictJson("[9007199254740991,-9007199254740991,0]")).toEqual([9007199254740991, -9007199254740991, 0]);
  });

  it("reads -0 as 0", () => {
    expect(Object.is(parseStrictJson("-0"), 0)).toBe(true);
  });

  it("decodes the standard escapes and a valid escaped surrogate pair", () => {
    expect(parseStrictJson('"\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u0041 \\u00e9"')).toBe('" \\ / \b \f \n \r \t A é');
    expect(parseStrictJson('"\\uD83D\\uDE00"')).toBe("\u{1F600}");
    expect(parseStrictJson('{"\\ud83d\\ude00":1}')).toEqual({ "\u{1F600}": 1 });
  });

  it("accepts raw non-ASCII text, U+2028 and U+007F in strings", () => {
    expect(parseStrictJson('"日本語\u2028\u007f\u{1F600}"')).toBe("日本語\u2028\u007f\u{1F600}");
  });

  it("accepts nesting exactly at the depth limit", () => {
    expect(() => parseStrictJson(nest(DEFAULT_JSON_LIMITS.maxDepth))).not.toThrow();
    expect(() => parseStrictJson(nestObjects(DEFAULT_JSON_LIMITS.maxDepth))).not.toThrow();
    expect(parseStrictJson("[[1]]", { maxDepth: 2 })).toEqual([[1]]);
  });

  it("accepts keys and strings exactly at their length limits", () => {
    const key = "k".repeat(DEFAULT_JSON_LIMITS.maxKeyLength);
    expect(parseStrictJson(`{"${key}":1}`)).toEqual({ [key]: 1 });
    expect(parseStrictJson('"abcd"', { maxStringLength: 4 })).toBe("abcd");
  });
});

describe("parseStrictJson: rejects numbers Matrix forbids with M_BAD_JSON", () => {
  for (const text of ["1.5", "1e3", "1E3", "-0.0", "0.0", "1e-3", "2E+2", '{"a":[1.0]}']) {
    it(`rejects the float ${text}`, () => expectRejected(text, "M_BAD_JSON"));
  }
  for (const text of ["9007199254740992", "-9007199254740992", "1" + "0".repeat(30), '{"a":18446744073709551616}']) {
    it(`rejects the out-of-range integer ${text.length > 24 ? text.slice(0, 24) + "…" : text}`, () =>
      expectRejected(text, "M_BAD_JSON"));
  }
});

describe("parseStrictJson: rejects lone surrogates with M_BAD_JSON", () => {
  it("rejects an escaped high surrogate alone", () => expectRejected('"\\uD83D"', "M_BAD_JSON"));
  it("rejects an escaped low surrogate alone", () => expectRejected('"a\\uDE00b"', "M_BAD_JSON"));
  it("rejects an escaped pair in reversed order", () => expectRejected('"\\uDE00\\uD83D"', "M_BAD_JSON"));
  it("rejects a lone surrogate in an object key", () => expectRejected('{"\\uD800":1}', "M_BAD_JSON"));
  it("rejects a raw lone surrogate in the input text", () => expectRejected('"\uD800"', "M_BAD_JSON"));
});

describe("parseStrictJson: rejects duplicate keys with M_BAD_JSON", () => {
  it("rejects a duplicate key at the top level", () => expectRejected('{"a":1,"b":2,"a":1}', "M_BAD_JSON"));
  it("rejects a duplicate key at depth", () => expectRejected('{"x":[{"y":{"a":1,"a":2}}]}', "M_BAD_JSON"));
  it("rejects keys that are equal only after unescaping", () => expectRejected('{"a":1,"\\u0061":2}', "M_BAD_JSON"));
  it("rejects a duplicate __proto__ key", () => expectRejected('{"__proto__":1,"__proto__":2}', "M_BAD_JSON"));
  it("allows the same key in sibling objects", () => {
    expect(parseStrictJson('[{"a":1},{"a":2}]')).toEqual([{ a: 1 }, { a: 2 }]);
  });
});

describe("parseStrictJson: enforces limits", () => {
  it("rejects arrays nested deeper than the limit with M_BAD_JSON", () => {
    expectRejected(nest(DEFAULT_JSON_LIMITS.maxDepth + 1), "M_BAD_JSON");
    const e = rejection(() => parseStrictJson("[[[1]]]", { maxDepth: 2 }));
    expect(e.errcode).toBe("M_BAD_JSON");
  });

  it("rejects objects nested deeper than the limit with M_BAD_JSON", () => {
    expectRejected(nestObjects(DEFAULT_JSON_LIMITS.maxDepth + 1), "M_BAD_JSON");
  });

  it("survives pathologically deep input without a stack overflow", () => {
    expectRejected(nest(100_000), "M_BAD_JSON");
  });

  it("rejects an object key over the key limit with 413 M_TOO_LARGE", () => {
    expectRejected(`{"${"k".repeat(DEFAULT_JSON_LIMITS.maxKeyLength + 1)}":1}`, "M_TOO_LARGE");
  });

  it("rejects a string over the string limit with 413 M_TOO_LARGE", () => {
    expectRejected(`["${"s".repeat(DEFAULT_JSON_LIMITS.maxStringLength + 1)}"]`, "M_TOO_LARGE");
    const e = rejection(() => parseStrictJson('{"a":"abcde"}', { maxStringLength: 4 }));
    expect([e.errcode, e.status]).toEqual(["M_TOO_LARGE", 413]);
  });

  it("measures length after unescaping", () => {
    expect(parseStrictJson('"\\u0041\\u0042"', { maxStringLength: 2 })).toBe("AB");
  });
});

describe("parseStrictJson: rejects malformed JSON with M_NOT_JSON", () => {
  const cases: Array<[string, string]> = [
    ["empty input", ""],
    ["whitespace only", "  "],
    ["unterminated object", '{"a":1'],
    ["trailing comma in object", '{"a":1,}'],
    ["trailing comma in array", "[1,]"],
    ["missing colon", '{"a" 1}'],
    ["single-quoted key", "{'a':1}"],
    ["unquoted key", "{a:1}"],
    ["leading zero", "01"],
    ["plus sign", "+1"],
    ["bare minus", "-"],
    ["NaN", "NaN"],
    ["truncated literal", "tru"],
    ["unterminated string", '"abc'],
    ["raw control character in a string", '"a\u0001b"'],
    ["raw newline in a string", '"a\nb"'],
    ["unknown escape", '"\\x41"'],
    ["short \\u escape", '"\\u12"'],
    ["non-hex \\u escape", '"\\u12G4"'],
    ["trailing garbage", '{"a":1} x'],
    ["two documents", "{}{}"],
    ["two numbers", "1 2"],
    ["a comment", '{"a":1}//'],
  ];
  for (const [name, text] of cases) {
    it(`rejects ${name}`, () => expectRejected(text, "M_NOT_JSON"));
  }
});

describe("parseStrictJson: __proto__ keys", () => {
  it("makes __proto__ an own property and leaves the prototype alone", () => {
    const v = parseStrictJson('{"__proto__":{"polluted":true},"a":1}') as Record<string, unknown>;
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
    expect(Object.prototype.hasOwnProperty.call(v, "__proto__")).toBe(true);
    expect(Object.keys(v)).toEqual(["__proto__", "a"]);
    expect(Object.getOwnPropertyDescriptor(v, "__proto__")?.value).toEqual({ polluted: true });
    expect((v as { polluted?: unknown }).polluted).toBeUndefined();
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
  });

  it("keeps __proto__ as an own property at depth and with a null value", () => {
    const v = parseStrictJson('{"x":[{"__proto__":null}]}') as { x: Array<Record<string, unknown>> };
    const inner = v.x[0] as Record<string, unknown>;
    expect(Object.getPrototypeOf(inner)).toBe(Object.prototype);
    expect(Object.keys(inner)).toEqual(["__proto__"]);
    expect(Object.getOwnPropertyDescriptor(inner, "__proto__")?.value).toBeNull();
  });

  it("round-trips a __proto__ key through canonical JSON", () => {
    const text = '{"__proto__":{"b":1},"a":2}';
    expect(canonicalJson(parseStrictJson(text))).toBe(text);
  });
});

describe("parseStrictJsonObject", () => {
  it("returns a top-level object", () => {
    expect(parseStrictJsonObject('{"a":{"b":[]}}')).toEqual({ a: { b: [] } });
  });

  for (const text of ["[]", "1", '"s"', "null", "true"]) {
    it(`rejects the non-object top level ${text} with 400 M_NOT_JSON`, () => {
      const e = rejection(() => parseStrictJsonObject(text));
      expect([e.errcode, e.status]).toEqual(["M_NOT_JSON", 400]);
    });
  }

  it("passes limits through", () => {
    const e = rejection(() => parseStrictJsonObject('{"a":[[]]}', { maxDepth: 2 }));
    expect(e.errcode).toBe("M_BAD_JSON");
  });
});

describe("parseStrictJsonBytes", () => {
  const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

  it("parses valid UTF-8 including multi-byte characters", () => {
    expect(parseStrictJsonBytes(utf8('{"日":"\u{1F600}"}'))).toEqual({ 日: "\u{1F600}" });
  });

  const bad: Array<[string, number[]]> = [
    ["a stray 0xff byte", [0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]],
    ["an overlong encoding of '/'", [0x7b, 0x22, 0xc0, 0xaf, 0x22, 0x3a, 0x31, 0x7d]],
    ["a truncated multi-byte sequence", [0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xe6, 0x97, 0x22, 0x7d]],
    ["a UTF-8-encoded surrogate", [0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x7d]],
    ["a lone continuation byte", [0x7b, 0x80, 0x7d]],
  ];
  for (const [name, bytes] of bad) {
    it(`rejects ${name} with 400 M_NOT_JSON`, () => {
      const e = rejection(() => parseStrictJsonBytes(new Uint8Array(bytes)));
      expect([e.errcode, e.status]).toEqual(["M_NOT_JSON", 400]);
    });
  }

  it("applies the strict rules after decoding", () => {
    expect(rejection(() => parseStrictJsonBytes(utf8('{"a":1.5}'))).errcode).toBe("M_BAD_JSON");
    expect(rejection(() => parseStrictJsonBytes(utf8("[1]"))).errcode).toBe("M_NOT_JSON");
  });
});

describe("parseStrictJson(canonicalJson(x)) round trip", () => {
  const documents: unknown[] = [
    {},
    [],
    { a: 1, b: [true, false, null], c: { d: "e" } },
    { max: 9007199254740991, min: -9007199254740991, zero: 0 },
    { controls: "\u0000\u0001\b\t\n\u000b\f\r\u001f\u007f", quotes: '"\\/' },
    { "日本語": "本", "\u{1F600}": "\u{10FFFF}", "\uE000": "\uFFFF", "\u2028": "\u2029" },
    { nested: [[[{ x: [[], {}] }]]] },
    { "": "", " ": " " },
    { type: "m.room.message", content: { body: "hi", msgtype: "m.text" }, origin_server_ts: 1700000000000, depth: 12 },
    "just a string",
    -42,
    null,
  ];
  documents.forEach((doc, i) => {
    it(`reproduces document ${i}: ${JSON.stringify(doc).slice(0, 50)}`, () => {
      expect(parseStrictJson(canonicalJson(doc))).toEqual(doc);
    });
  });
});
