import { ciphersuites, type CiphersuiteName } from "ts-mls";
import { describe, expect, it } from "vitest";
import { algorithmOfCiphersuite, ciphersuiteOfAlgorithm, MLS_DEFAULT_ALGORITHM } from "../../shared/mls-algorithm.js";
import { decodeDeviceIdentity, encodeDeviceIdentity } from "../../shared/mls-identity.js";

const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0));
const key = Uint8Array.from({ length: 32 }, (_, i) => i + 1);

function rejects(bytes: number[] | Uint8Array, reason: RegExp, leafKey?: Uint8Array): void {
  const result = decodeDeviceIdentity(Uint8Array.from(bytes), leafKey);
  expect(result.ok).toBe(false);
  if (!result.ok) expect(result.reason).toMatch(reason);
}

describe("MLS credential identity (draft BasicCredential struct)", () => {
  it("encodes user_id, device_id and signature_key as three length-prefixed vectors", () => {
    const bytes = encodeDeviceIdentity({ userId: "@a:b.c", deviceId: "D", signatureKey: Uint8Array.of(1, 2, 3) });
    expect([...bytes]).toEqual([6, ...ascii("@a:b.c"), 1, ...ascii("D"), 3, 1, 2, 3]);
  });

  it("uses the 2- and 4-byte length forms exactly when the 1-byte form cannot hold the length", () => {
    const two = encodeDeviceIdentity({ userId: "@a:b.c", deviceId: "D", signatureKey: new Uint8Array(100) });
    expect([...two.subarray(9, 11)]).toEqual([0x40, 100]);
    const four = encodeDeviceIdentity({ userId: "@a:b.c", deviceId: "D", signatureKey: new Uint8Array(20000) });
    expect([...four.subarray(9, 13)]).toEqual([0x80, 0x00, 0x4e, 0x20]);
    expect(decodeDeviceIdentity(four).ok).toBe(true);
  });

  it("decodes what it encodes, checking the key against the leaf's", () => {
    const bytes = encodeDeviceIdentity({ userId: "@alice:example.org", deviceId: "ABCDEF", signatureKey: key });
    const result = decodeDeviceIdentity(bytes, key);
    expect(result).toEqual({ ok: true, identity: { userId: "@alice:example.org", deviceId: "ABCDEF", signatureKey: key } });
  });

  it("rejects a signature_key that is not the leaf node's signature key", () => {
    const bytes = encodeDeviceIdentity({ userId: "@alice:example.org", deviceId: "ABCDEF", signatureKey: key });
    rejects(bytes, /does not match the leaf/, key.map((b) => b ^ 1));
  });

  it("rejects a length not in its shortest form, and the invalid 11 prefix", () => {
    rejects([0x40, 6, ...ascii("@a:b.c"), 1, ...ascii("D"), 1, 9], /three MLS vectors/);
    rejects([0xc0, 0, 0, 0, 0, 0, 0, 6], /three MLS vectors/);
  });

  it("rejects truncated input and trailing bytes", () => {
    rejects([6, ...ascii("@a:b.c"), 1, ...ascii("D"), 3, 1, 2], /three MLS vectors/);
    rejects([6, ...ascii("@a:b.c"), 1, ...ascii("D"), 1, 9, 0], /trailing bytes/);
    rejects([], /three MLS vectors/);
  });

  it("rejects an invalid user ID, an empty or malformed device ID, bad UTF-8 and an empty key", () => {
    rejects([5, ...ascii("alice"), 1, ...ascii("D"), 1, 9], /not a valid user ID/);
    rejects([6, ...ascii("@a:b.c"), 0, 1, 9], /not a valid device ID/);
    rejects([6, ...ascii("@a:b.c"), 3, ...ascii("A B"), 1, 9], /not a valid device ID/);
    rejects([6, ...ascii("@a:b.c"), 1, 0xff, 1, 9], /not UTF-8/);
    rejects([6, ...ascii("@a:b.c"), 1, ...ascii("D"), 0], /signature_key is empty/);
  });

  it("refuses to encode an identity it would not decode", () => {
    expect(() => encodeDeviceIdentity({ userId: "alice", deviceId: "D", signatureKey: key })).toThrow(/user ID/);
    expect(() => encodeDeviceIdentity({ userId: "@a:b.c", deviceId: "", signatureKey: key })).toThrow(/device ID/);
    expect(() => encodeDeviceIdentity({ userId: "@a:b.c", deviceId: "D", signatureKey: new Uint8Array() })).toThrow(/signature key/);
  });
});

describe("room encryption algorithm names", () => {
  it("maps the draft's mandatory algorithm to MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519", () => {
    expect(MLS_DEFAULT_ALGORITHM).toBe("m.mls.v1.dhkemx25519-aes128gcm-sha256-ed25519");
    expect(ciphersuiteOfAlgorithm(MLS_DEFAULT_ALGORITHM)).toBe("MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519");
  });

  it("names every ciphersuite distinctly and maps each name back", () => {
    const names = Object.keys(ciphersuites) as CiphersuiteName[];
    expect(new Set(names.map(algorithmOfCiphersuite)).size).toBe(names.length);
    for (const n of names) expect(ciphersuiteOfAlgorithm(algorithmOfCiphersuite(n))).toBe(n);
  });

  it("knows no ciphersuite for Megolm or custom algorithms", () => {
    expect(ciphersuiteOfAlgorithm("m.megolm.v1.aes-sha2")).toBeUndefined();
    expect(ciphersuiteOfAlgorithm("org.example.my-encryption")).toBeUndefined();
  });
});
