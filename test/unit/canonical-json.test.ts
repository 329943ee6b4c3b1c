import { describe, expect, it } from "vitest";
import { canonicalJson, canonicalJsonBytes, compareCodePoints, hasLoneSurrogate } from "../../shared/canonical-json.js";
import { MatrixError } from "../../shared/errors.js";

function expectBadJson(f: () => unknown): void {
  let thrown: unknown;
  try {
    f();
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(MatrixError);
  expect((thrown as MatrixError).errcode).toBe("M_BAD_JSON");
  expect((thrown as MatrixError).status).toBe(400);
}

/** Reference order: compare the sequences of Unicode code points. */
function codePointOrder(a: string, b: string): number {
  const x = Array.from(a, (c) => c.codePointAt(0) as number);
  const y = Array.from(b, (c) => c.codePointAt(0) as number);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return (x[i] as number) - (y[i] as number);
  }
  return x.length - y.length;
}

describe("canonicalJson: the specification's examples (vectors C1-C10)", () => {
  const vectors: Array<[string, string, string]> = [
    ["C1", `{}`, `{}`],
    ["C2", `{"one": 1, "two": "Two"}`, `{"one":1,"two":"Two"}`],
    ["C3", `{"b": "2", "a": "1"}`, `{"a":"1","b":"2"}`],
    ["C4", `{"b":"2","a":"1"}`, `{"a":"1","b":"2"}`],
    [
      "C5",
      `{"auth": {"success": true, "mxid": "@john.doe:example.com", "profile": {"display_name": "John Doe", "three_pids": [{"medium": "email", "address": "john.doe@example.org"}, {"medium": "msisdn", "address": "123456789"}]}}}`,
      `{"auth":{"mxid":"@john.doe:example.com","profile":{"display_name":"John Doe","three_pids":[{"address":"john.doe@example.org","medium":"email"},{"address":"123456789","medium":"msisdn"}]},"success":true}}`,
    ],
    ["C6", `{"a": "日本語"}`, `{"a":"日本語"}`],
    ["C7", `{"本": 2, "日": 1}`, `{"日":1,"本":2}`],
    ["C9", `{"a": null}`, `{"a":null}`],
    ["C10", `{"a": -0, "b": 1e10}`, `{"a":0,"b":10000000000}`],
  ];
  for (const [name, input, expected] of vectors) {
    it(`${name}: ${input.length > 40 ? input.slice(0, 40) + "…" : input} canonicalises to the expected text`, () => {
      expect(canonicalJson(JSON.parse(input))).toBe(expected);
    });
  }

  it("C8: a \\u65E5 escape in the input is written as the raw UTF-8 bytes e6 97 a5", () => {
    const input = '{"a": "\\u65E5"}';
    expect(input).toContain("\\u65E5"); // the escape really is in the input text
    const out = canonicalJson(JSON.parse(input));
    expect(out).toBe('{"a":"日"}');
    const bytes = canonicalJsonBytes(JSON.parse(input));
    // {"a":" = 7b 22 61 22 3a 22, then the character, then "}
    expect(Array.from(bytes)).toEqual([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xe6, 0x97, 0xa5, 0x22, 0x7d]);
  });
});

describe("canonicalJson: key order is by Unicode code point", () => {
  it("puts an astral-plane key after keys in U+E000..U+FFFF, unlike UTF-16 order", () => {
    const astral = "\u{1F600}"; // surrogates D83D DE00, which UTF-16 order puts before U+E000
    const obj = { [astral]: 1, "\uE000": 2, "\uFFFF": 3, "\uFB01": 4 };
    expect(canonicalJson(obj)).toBe(`{"\uE000":2,"\uFB01":4,"\uFFFF":3,"${astral}":1}`);
    // Sanity check that the naive sort really gets this wrong.
    expect(Object.keys(obj).sort()[0]).toBe(astral);
  });

  it("orders keys sharing a prefix by the first differing code point, then by length", () => {
    const obj = { ab: 1, a: 2, "a\u{10000}": 3, "a\uFFFD": 4, "a\u00e9": 5, B: 6 };
    expect(canonicalJson(obj)).toBe(`{"B":6,"a":2,"ab":1,"a\u00e9":5,"a\uFFFD":4,"a\u{10000}":3}`);
  });

  it("orders astral-plane keys among themselves by code point", () => {
    const obj = { "\u{20000}": 1, "\u{1F600}": 2, "\u{10FFFF}": 3, "\u{10000}": 4 };
    expect(canonicalJson(obj)).toBe(`{"\u{10000}":4,"\u{1F600}":2,"\u{20000}":1,"\u{10FFFF}":3}`);
  });

  it("compareCodePoints agrees in sign with code-point order on boundary characters", () => {
    const chars = ["", "A", "\u007f", "\u00ff", "\u07ff", "\u0800", "\uD7FF", "\uE000", "\uF8FF", "\uFFFD", "\uFFFF",
      "\u{10000}", "\u{1F600}", "\u{10FFFF}"];
    const strings: string[] = [];
    for (const a of chars) for (const b of chars) strings.push(a + b);
    const disagreements: string[] = [];
    for (const a of strings) {
      for (const b of strings) {
        if (Math.sign(compareCodePoints(a, b)) !== Math.sign(codePointOrder(a, b))) {
          disagreements.push(`${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
        }
      }
    }
    expect(strings.length).toBeGreaterThan(100);
    expect(disagreements).toEqual([]);
  });

  it("sorts nested objects' keys too, and keeps array order", () => {
    expect(canonicalJson({ z: [{ b: 1, a: 2 }, 3, "x"], a: { d: true, c: false } })).toBe(
      '{"a":{"c":false,"d":true},"z":[{"a":2,"b":1},3,"x"]}',
    );
  });
});

describe("canonicalJson: numbers", () => {
  it("accepts the integers ±(2^53−1)", () => {
    expect(canonicalJson({ max: 9007199254740991, min: -9007199254740991 })).toBe(
      '{"max":9007199254740991,"min":-9007199254740991}',
    );
  });

  it("rejects integers beyond ±(2^53−1) with M_BAD_JSON", () => {
    expectBadJson(() => canonicalJson({ n: 9007199254740992 }));
    expectBadJson(() => canonicalJson({ n: -9007199254740992 }));
    expectBadJson(() => canonicalJson([1e21]));
  });

  it("rejects floats, NaN and infinities with M_BAD_JSON", () => {
    expectBadJson(() => canonicalJson({ n: 1.5 }));
    expectBadJson(() => canonicalJson({ n: -0.1 }));
    expectBadJson(() => canonicalJson(NaN));
    expectBadJson(() => canonicalJson({ n: Infinity }));
    expectBadJson(() => canonicalJson({ n: -Infinity }));
  });

  it("writes -0 as 0", () => {
    expect(canonicalJson(-0)).toBe("0");
    expect(canonicalJson({ a: -0, b: [-0] })).toBe('{"a":0,"b":[0]}');
  });

  it("writes whole numbers given in exponent form without an exponent", () => {
    expect(canonicalJson({ a: 1e15, b: -2e3 })).toBe('{"a":1000000000000000,"b":-2000}');
  });
});

describe("canonicalJson: string escapes", () => {
  it("uses the short forms \\b \\t \\n \\f \\r \\\" \\\\", () => {
    expect(canonicalJson("\b\t\n\f\r\"\\")).toBe('"\\b\\t\\n\\f\\r\\"\\\\"');
  });

  it("writes every other C0 control as \\u00XX with lowercase hex", () => {
    const short = new Set([0x08, 0x09, 0x0a, 0x0c, 0x0d]);
    for (let c = 0; c < 0x20; c++) {
      if (short.has(c)) continue;
      expect(canonicalJson(String.fromCharCode(c))).toBe(`"\\u00${c.toString(16).padStart(2, "0")}"`);
    }
    expect(canonicalJson("\u001f\u000b\u001a")).toBe('"\\u001f\\u000b\\u001a"');
  });

  it("writes U+007F, '/', U+2028, U+2029 and non-ASCII characters raw", () => {
    const s = "\u007f/\u2028\u2029é\u{1F600}";
    expect(canonicalJson(s)).toBe(`"${s}"`);
    const bytes = canonicalJsonBytes("\u007f/\u2028");
    expect(Array.from(bytes)).toEqual([0x22, 0x7f, 0x2f, 0xe2, 0x80, 0xa8, 0x22]);
  });

  it("applies the same escapes to object keys", () => {
    expect(canonicalJson({ "a\nb\u0001": 1 })).toBe('{"a\\nb\\u0001":1}');
  });

  it("rejects strings and keys holding a lone surrogate with M_BAD_JSON", () => {
    expectBadJson(() => canonicalJson("\uD800"));
    expectBadJson(() => canonicalJson("x\uDC00"));
    expectBadJson(() => canonicalJson("\uDE00\uD83D")); // a reversed pair is two lone surrogates
    expectBadJson(() => canonicalJson({ "\uD83D": 1 }));
    expectBadJson(() => canonicalJson([{ a: "ok\uDBFFok" }]));
  });

  it("accepts a properly paired surrogate", () => {
    expect(canonicalJson("\uD83D\uDE00")).toBe('"\u{1F600}"');
  });
});

describe("hasLoneSurrogate", () => {
  it("finds unpaired high and low surrogates and accepts pairs", () => {
    expect(hasLoneSurrogate("abc")).toBe(false);
    expect(hasLoneSurrogate("\uD83D\uDE00")).toBe(false);
    expect(hasLoneSurrogate("\uD83D")).toBe(true);
    expect(hasLoneSurrogate("\uDE00")).toBe(true);
    expect(hasLoneSurrogate("\uD83D\uD83D\uDE00")).toBe(true);
    expect(hasLoneSurrogate("\uD83D\uDE00\uDE00")).toBe(true);
  });
});

describe("canonicalJson: other values", () => {
  it("writes booleans and null, with no whitespace anywhere", () => {
    expect(canonicalJson([true, false, null, {}, []])).toBe("[true,false,null,{},[]]");
  });

  it("omits object members whose value is undefined", () => {
    expect(canonicalJson({ a: undefined, b: 1 })).toBe('{"b":1}');
  });

  it("rejects undefined in arrays, functions, bigints and symbols with M_BAD_JSON", () => {
    expectBadJson(() => canonicalJson([undefined]));
    expectBadJson(() => canonicalJson({ f: () => 1 }));
    expectBadJson(() => canonicalJson({ n: 1n }));
    expectBadJson(() => canonicalJson(Symbol("x")));
    expectBadJson(() => canonicalJson(undefined));
  });

  it("orders array-index keys by code point too, not numerically as JavaScript objects keep them", () => {
    expect(canonicalJson({ b: 1, "9": 2, "10": 3, a: { "2": 0, "1": 0 } })).toBe('{"10":3,"9":2,"a":{"1":0,"2":0},"b":1}');
    // 4294967294 is the largest array index; 4294967295 is an ordinary key, kept where it was inserted.
    expect(canonicalJson({ b: 1, "4294967295": 2, a: 3, "4294967294": 4 })).toBe('{"4294967294":4,"4294967295":2,"a":3,"b":1}');
    expect(canonicalJson({ b: 1, "4294967295": 2, a: 3 })).toBe('{"4294967295":2,"a":3,"b":1}');
  });

  it("writes own keys only, ignoring an inherited toJSON method, and leaves its input as it was", () => {
    const withToJson = Object.assign(Object.create({ toJSON: () => "no" }) as object, { y: 2, x: 1 });
    expect(canonicalJson({ z: 1, a: withToJson })).toBe('{"a":{"x":1,"y":2},"z":1}');
    const nested = { b: [{ d: 1, c: 2 }], a: 0 };
    expect(canonicalJson(nested)).toBe('{"a":0,"b":[{"c":2,"d":1}]}');
    expect(Object.keys(nested)).toEqual(["b", "a"]);
  });

  it("writes a __proto__ own property as an ordinary key", () => {
    const obj = JSON.parse('{"__proto__": {"x": 1}, "a": 2}') as unknown;
    expect(canonicalJson(obj)).toBe('{"__proto__":{"x":1},"a":2}');
  });
});
