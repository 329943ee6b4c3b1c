import { describe, expect, it } from "vitest";
import { decodeBase64, decodeBase64Url, encodeBase64, encodeBase64Url, tryDecodeBase64 } from "../../shared/base64.js";

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

// Matrix appendix "Unpadded Base64" vectors (reference section 1).
const VECTORS: Array<[string, string]> = [
  ["", ""],
  ["f", "Zg"],
  ["fo", "Zm8"],
  ["foo", "Zm9v"],
  ["foob", "Zm9vYg"],
  ["fooba", "Zm9vYmE"],
  ["foobar", "Zm9vYmFy"],
];

describe("unpadded base64: the specification's vectors", () => {
  for (const [input, output] of VECTORS) {
    it(`encodes ${JSON.stringify(input)} as ${JSON.stringify(output)}`, () => {
      expect(encodeBase64(ascii(input))).toBe(output);
    });
    it(`decodes ${JSON.stringify(output)} to ${JSON.stringify(input)}`, () => {
      expect(decodeBase64(output)).toEqual(ascii(input));
    });
  }
});

describe("base64: padded input", () => {
  const padded: Array<[string, string]> = [
    ["Zg==", "f"],
    ["Zm8=", "fo"],
    ["Zm9v", "foo"],
    ["Zm9vYg==", "foob"],
    ["Zm9vYmE=", "fooba"],
  ];
  for (const [text, plain] of padded) {
    it(`accepts correctly padded ${text}`, () => {
      expect(decodeBase64(text)).toEqual(ascii(plain));
    });
  }

  it("accepts padded URL-safe input", () => {
    expect(decodeBase64Url("-_8=")).toEqual(new Uint8Array([0xfb, 0xff]));
  });

  for (const text of ["Zg=", "Zm8==", "Zm9v=", "Zm9v==", "=", "==", "Zg===", "Zm9vY==="]) {
    it(`rejects wrongly padded ${text}`, () => {
      expect(() => decodeBase64(text)).toThrow();
      expect(tryDecodeBase64(text)).toBeUndefined();
    });
  }
});

describe("base64: the URL-safe variant", () => {
  const bytes = new Uint8Array([0xfb, 0xff, 0xbf, 0x3e]); // std "+/+/Pg", url "-_-_Pg"

  it("uses - and _ and no padding", () => {
    expect(encodeBase64(bytes)).toBe("+/+/Pg");
    expect(encodeBase64Url(bytes)).toBe("-_-_Pg");
  });

  it("round-trips through decodeBase64Url", () => {
    expect(decodeBase64Url("-_-_Pg")).toEqual(bytes);
  });

  it("encodes the section-1 vectors the same way as standard base64 when no + or / occurs", () => {
    for (const [input, output] of VECTORS) expect(encodeBase64Url(ascii(input))).toBe(output);
  });

  it("keeps the two alphabets apart", () => {
    expect(() => decodeBase64Url("+/+/Pg")).toThrow();
    expect(() => decodeBase64("-_-_Pg")).toThrow();
  });

  it("round-trips every byte value", () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    expect(decodeBase64Url(encodeBase64Url(all))).toEqual(all);
    expect(decodeBase64(encodeBase64(all))).toEqual(all);
  });
});

describe("base64: unused trailing bits", () => {
  it("ignores non-zero unused bits in the last character, as other implementations do", () => {
    expect(decodeBase64("Zh")).toEqual(ascii("f"));
    expect(decodeBase64("Zm9")).toEqual(ascii("fo"));
    expect(decodeBase64("Zm9vYmH")).toEqual(ascii("fooba"));
    expect(decodeBase64Url("Zh")).toEqual(ascii("f"));
  });

  it("decodes the specification's test seed, whose last character sets unused bits", () => {
    const seed = decodeBase64("YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1");
    expect(seed.length).toBe(32);
    expect(encodeBase64(seed)).toBe("YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA0");
  });
});

describe("base64: invalid input", () => {
  const invalid: Array<[string, string]> = [
    ["a character outside the alphabet", "Zm9v!"],
    ["embedded whitespace", "Zm 9v"],
    ["a trailing newline", "Zm9v\n"],
    ["an impossible length (4n+1)", "Zm9vY"],
    ["padding in the middle", "Zg==Zg"],
  ];
  for (const [name, text] of invalid) {
    it(`rejects ${name}`, () => {
      expect(() => decodeBase64(text)).toThrow();
      expect(() => decodeBase64Url(text)).toThrow();
    });
  }

  it("tryDecodeBase64 returns undefined for invalid text and non-strings, bytes otherwise", () => {
    expect(tryDecodeBase64("Zm9v!")).toBeUndefined();
    expect(tryDecodeBase64(42)).toBeUndefined();
    expect(tryDecodeBase64(null)).toBeUndefined();
    expect(tryDecodeBase64("Zm9vYmFy")).toEqual(ascii("foobar"));
  });
});
