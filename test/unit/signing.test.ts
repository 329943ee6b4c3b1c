import * as ed from "@noble/ed25519";
import { describe, expect, it } from "vitest";
import { decodeBase64, encodeBase64, encodeBase64Url } from "../../shared/base64.js";
import { canonicalJson } from "../../shared/canonical-json.js";
import { getSignature, signatureKeyIds, signJson, signingBytes, verifyJsonSignature } from "../../shared/signed-json.js";
import {
  formatSigningKeySecret,
  generateSeed,
  parseSigningKeySecret,
  signingKeyFromSeed,
  verifyEd25519,
} from "../../shared/signing-key.js";

// Reference section 3: the specification's test signing key.
const SEED_B64 = "YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1";
const SEED = decodeBase64(SEED_B64);
const specKey = () => signingKeyFromSeed(decodeBase64(SEED_B64), "1");

// Reference section 4.
const S1_SIG = "K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ";
const S1_OUT = `{"signatures":{"domain":{"ed25519:1":"${S1_SIG}"}}}`;
const S2_SIG = "KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw";
const S2_OUT = `{"one":1,"signatures":{"domain":{"ed25519:1":"${S2_SIG}"}},"two":"Two"}`;

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

function flipBit(sigB64: string, byte: number): string {
  const raw = decodeBase64(sigB64);
  raw[byte] = (raw[byte] as number) ^ 0x01;
  return encodeBase64(raw);
}

describe("the specification's signing key (section 3)", () => {
  it("decodes to a 32-byte seed and gives key ID ed25519:1", async () => {
    expect(SEED.length).toBe(32);
    const key = await specKey();
    expect(key.keyId).toBe("ed25519:1");
    expect(key.publicKey.length).toBe(32);
    expect(key.publicKeyBase64).toBe(encodeBase64(key.publicKey));
  });

  it("derives the same public key as @noble/ed25519", async () => {
    const key = await specKey();
    expect(key.publicKey).toEqual(await ed.getPublicKeyAsync(SEED));
  });
});

describe("JSON signing vectors (section 4)", () => {
  it("S1: signing {} as domain gives the specification's signature", async () => {
    const signed = await signJson({}, "domain", await specKey());
    expect(canonicalJson(signed)).toBe(S1_OUT);
  });

  it('S2: signing {"one":1,"two":"Two"} as domain gives the specification\'s signature', async () => {
    const signed = await signJson(JSON.parse('{"one":1,"two":"Two"}') as object, "domain", await specKey());
    expect(canonicalJson(signed)).toBe(S2_OUT);
  });

  it("S1 and S2 outputs verify under the derived public key", async () => {
    const key = await specKey();
    expect(await verifyJsonSignature(JSON.parse(S1_OUT) as object, "domain", "ed25519:1", key.publicKey)).toBe(true);
    expect(await verifyJsonSignature(JSON.parse(S2_OUT) as object, "domain", "ed25519:1", key.publicKey)).toBe(true);
  });
});

describe("signJson", () => {
  it("keeps other entities' signatures and this entity's other keys", async () => {
    const input = { one: 1, two: "Two", signatures: { other: { "ed25519:x": "abc" }, domain: { "ed25519:old": "def" } } };
    const signed = await signJson(input, "domain", await specKey());
    expect(signed.signatures).toEqual({
      other: { "ed25519:x": "abc" },
      domain: { "ed25519:old": "def", "ed25519:1": S2_SIG },
    });
  });

  it("replaces this entity's earlier signature under the same key ID", async () => {
    const signed = await signJson({ signatures: { domain: { "ed25519:1": "stale" } } }, "domain", await specKey());
    expect(signed.signatures.domain).toEqual({ "ed25519:1": S1_SIG });
  });

  it("leaves unsigned out of the signed bytes but keeps it in the output", async () => {
    const input = { one: 1, two: "Two", unsigned: { age_ts: 1000000, "m.relations": { x: [1] } } };
    const signed = await signJson(input, "domain", await specKey());
    expect(signed.signatures.domain?.["ed25519:1"]).toBe(S2_SIG);
    expect(signed.unsigned).toEqual({ age_ts: 1000000, "m.relations": { x: [1] } });
    // Changing unsigned after signing does not break the signature.
    const changed = { ...signed, unsigned: { age_ts: 5 } };
    expect(await verifyJsonSignature(changed, "domain", "ed25519:1", (await specKey()).publicKey)).toBe(true);
  });

  it("does not modify its input", async () => {
    const input = { a: 1, signatures: { other: { "ed25519:x": "abc" } } };
    const before = JSON.stringify(input);
    await signJson(input, "domain", await specKey());
    expect(JSON.stringify(input)).toBe(before);
  });

  it("signingBytes drops signatures and unsigned only", () => {
    const bytes = signingBytes({ b: 2, a: 1, signatures: { x: {} }, unsigned: { y: 1 } });
    expect(new TextDecoder().decode(bytes)).toBe('{"a":1,"b":2}');
  });
});

describe("verifyJsonSignature", () => {
  const s2 = (): Record<string, unknown> => JSON.parse(S2_OUT) as Record<string, unknown>;

  it("is true for a valid signature", async () => {
    expect(await verifyJsonSignature(s2(), "domain", "ed25519:1", (await specKey()).publicKey)).toBe(true);
  });

  it("is false when one bit of the signature is flipped", async () => {
    const key = await specKey();
    for (const byte of [0, 31, 32, 63]) {
      const doc = s2();
      doc.signatures = { domain: { "ed25519:1": flipBit(S2_SIG, byte) } };
      expect(await verifyJsonSignature(doc, "domain", "ed25519:1", key.publicKey)).toBe(false);
    }
  });

  it("is false when the signed content changes", async () => {
    const doc = { ...s2(), one: 2 };
    expect(await verifyJsonSignature(doc, "domain", "ed25519:1", (await specKey()).publicKey)).toBe(false);
  });

  it("is false under a different public key", async () => {
    const other = await signingKeyFromSeed(new Uint8Array(32).fill(7), "1");
    expect(await verifyJsonSignature(s2(), "domain", "ed25519:1", other.publicKey)).toBe(false);
  });

  it("is false when the signature is missing", async () => {
    const pub = (await specKey()).publicKey;
    expect(await verifyJsonSignature({ one: 1, two: "Two" }, "domain", "ed25519:1", pub)).toBe(false);
    expect(await verifyJsonSignature(s2(), "other", "ed25519:1", pub)).toBe(false);
    expect(await verifyJsonSignature(s2(), "domain", "ed25519:2", pub)).toBe(false);
    expect(await verifyJsonSignature({ ...s2(), signatures: null }, "domain", "ed25519:1", pub)).toBe(false);
    expect(await verifyJsonSignature({ ...s2(), signatures: { domain: "x" } }, "domain", "ed25519:1", pub)).toBe(false);
    expect(await verifyJsonSignature({ ...s2(), signatures: { domain: { "ed25519:1": 5 } } }, "domain", "ed25519:1", pub)).toBe(false);
  });

  it("is false for a signature that is not valid base64", async () => {
    const doc = { ...s2(), signatures: { domain: { "ed25519:1": "!!not base64!!" } } };
    expect(await verifyJsonSignature(doc, "domain", "ed25519:1", (await specKey()).publicKey)).toBe(false);
  });

  it("is false for a signature of the wrong length", async () => {
    const short = encodeBase64(decodeBase64(S2_SIG).slice(0, 63));
    const doc = { ...s2(), signatures: { domain: { "ed25519:1": short } } };
    expect(await verifyJsonSignature(doc, "domain", "ed25519:1", (await specKey()).publicKey)).toBe(false);
  });

  it("is false for a public key of the wrong length, without throwing", async () => {
    const pub = (await specKey()).publicKey;
    expect(await verifyJsonSignature(s2(), "domain", "ed25519:1", pub.slice(0, 31))).toBe(false);
    expect(await verifyJsonSignature(s2(), "domain", "ed25519:1", new Uint8Array([...pub, 0]))).toBe(false);
    expect(await verifyJsonSignature(s2(), "domain", "ed25519:1", new Uint8Array(0))).toBe(false);
  });

  it("checks the given bytes when they are passed in", async () => {
    const pub = (await specKey()).publicKey;
    expect(await verifyJsonSignature(s2(), "domain", "ed25519:1", pub, utf8('{"one":1,"two":"Two"}'))).toBe(true);
    expect(await verifyJsonSignature(s2(), "domain", "ed25519:1", pub, utf8('{"one":1,"two":"Three"}'))).toBe(false);
  });
});

describe("getSignature and signatureKeyIds", () => {
  it("read well-formed entries and ignore malformed ones", () => {
    const doc = { signatures: { a: { "ed25519:1": "x", "ed25519:2": 3, "ed25519:3": "y" }, b: "z" } };
    expect(getSignature(doc, "a", "ed25519:1")).toBe("x");
    expect(getSignature(doc, "a", "ed25519:2")).toBeUndefined();
    expect(getSignature(doc, "b", "ed25519:1")).toBeUndefined();
    expect(getSignature(null, "a", "ed25519:1")).toBeUndefined();
    expect(signatureKeyIds(doc, "a")).toEqual(["ed25519:1", "ed25519:3"]);
    expect(signatureKeyIds(doc, "b")).toEqual([]);
    expect(signatureKeyIds({}, "a")).toEqual([]);
  });
});

describe("signing key secrets", () => {
  it("parses the specification key from ed25519:<version>:<seed>", async () => {
    const key = await parseSigningKeySecret(`ed25519:1:${SEED_B64}`);
    expect(key.keyId).toBe("ed25519:1");
    expect(canonicalJson(await signJson({}, "domain", key))).toBe(S1_OUT);
  });

  it("accepts the whitespace-separated form and surrounding whitespace", async () => {
    const key = await parseSigningKeySecret(`  ed25519 a_b1 ${SEED_B64}\n`);
    expect(key.keyId).toBe("ed25519:a_b1");
    expect(key.publicKey).toEqual((await specKey()).publicKey);
  });

  it("formatSigningKeySecret and parseSigningKeySecret round-trip", async () => {
    const seed = generateSeed();
    const secret = formatSigningKeySecret(seed, "auto_7");
    expect(secret).toMatch(/^ed25519:auto_7:[A-Za-z0-9+/]{43}$/);
    const parsed = await parseSigningKeySecret(secret);
    const direct = await signingKeyFromSeed(seed, "auto_7");
    expect(parsed.keyId).toBe("ed25519:auto_7");
    expect(parsed.publicKey).toEqual(direct.publicKey);
    const msg = utf8("round trip");
    expect(await parsed.sign(msg)).toEqual(await direct.sign(msg));
  });

  it("formats the specification seed in canonical base64 (unused trailing bits zero)", () => {
    expect(formatSigningKeySecret(SEED, "1")).toBe("ed25519:1:YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA0");
  });

  const malformed: Array<[string, string]> = [
    ["an empty string", ""],
    ["a missing seed", "ed25519:1"],
    ["another algorithm", `rsa:1:${SEED_B64}`],
    ["an extra part", `ed25519:1:${SEED_B64}:x`],
    ["a seed that is not base64", "ed25519:1:!!!!"],
    ["a seed of the wrong length", `ed25519:1:${encodeBase64(new Uint8Array(16))}`],
    ["an empty key version", `ed25519::${SEED_B64}`],
    ["a key version with bad characters", `ed25519:a-b:${SEED_B64}`],
  ];
  for (const [name, secret] of malformed) {
    it(`rejects ${name}`, async () => {
      await expect(parseSigningKeySecret(secret)).rejects.toThrow();
    });
  }

  it("signingKeyFromSeed rejects a seed that is not 32 bytes", async () => {
    await expect(signingKeyFromSeed(new Uint8Array(31), "1")).rejects.toThrow(/32 bytes/);
  });

  it("generateSeed gives 32 fresh random bytes", () => {
    const a = generateSeed();
    const b = generateSeed();
    expect(a.length).toBe(32);
    expect(a).not.toEqual(b);
  });
});

describe("WebCrypto and @noble/ed25519 agree", () => {
  const message = utf8('{"method":"GET","uri":"/_matrix/key/v2/server"}');

  async function webCryptoSign(seed: Uint8Array, msg: Uint8Array): Promise<Uint8Array> {
    const pub = await ed.getPublicKeyAsync(seed);
    const jwk = { kty: "OKP", crv: "Ed25519", d: encodeBase64Url(seed), x: encodeBase64Url(pub) };
    const key = await crypto.subtle.importKey("jwk", jwk, { name: "Ed25519" }, false, ["sign"]);
    return new Uint8Array(await crypto.subtle.sign("Ed25519", key, msg));
  }

  it("a WebCrypto signature verifies under @noble/ed25519", async () => {
    const sig = await webCryptoSign(SEED, message);
    expect(await ed.verifyAsync(sig, message, await ed.getPublicKeyAsync(SEED))).toBe(true);
  });

  it("a @noble/ed25519 signature verifies under WebCrypto", async () => {
    const sig = await ed.signAsync(message, SEED);
    const pub = await crypto.subtle.importKey("raw", await ed.getPublicKeyAsync(SEED), { name: "Ed25519" }, false, ["verify"]);
    expect(await crypto.subtle.verify("Ed25519", pub, sig, message)).toBe(true);
  });

  it("both produce the same deterministic signature, and SigningKey.sign matches them", async () => {
    const key = await specKey();
    const fromKey = await key.sign(message);
    expect(await webCryptoSign(SEED, message)).toEqual(await ed.signAsync(message, SEED));
    expect(fromKey).toEqual(await ed.signAsync(message, SEED));
  });

  it("verifyEd25519 accepts @noble/ed25519 signatures and rejects tampered ones", async () => {
    const seed = generateSeed();
    const pub = await ed.getPublicKeyAsync(seed);
    const sig = await ed.signAsync(message, seed);
    expect(await verifyEd25519(pub, sig, message)).toBe(true);
    const bad = sig.slice();
    bad[10] = (bad[10] as number) ^ 0x80;
    expect(await verifyEd25519(pub, bad, message)).toBe(false);
    expect(await verifyEd25519(pub, sig, utf8("another message"))).toBe(false);
  });

  it("SigningKey.sign output verifies under @noble/ed25519 for a random key", async () => {
    const key = await signingKeyFromSeed(generateSeed(), "r1");
    const sig = await key.sign(message);
    expect(await ed.verifyAsync(sig, message, key.publicKey)).toBe(true);
  });
});
