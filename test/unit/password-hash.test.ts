import { describe, expect, it } from "vitest";
import { decodeBase64 } from "../../shared/base64.js";
import {
  PBKDF2_ITERATIONS,
  PBKDF2_MAX_ITERATIONS,
  constantTimeEqual,
  hashPassword,
  verifyPassword,
} from "../../shared/password-hash.js";

// Fewer iterations keep most tests fast; one test covers the production default.
const FAST = 1000;

describe("hashPassword", () => {
  it("encodes scheme, default iteration count, 16-byte salt and 32-byte hash", async () => {
    const stored = await hashPassword("hunter2");
    const [scheme, iterations, salt, hash, ...rest] = stored.split("$");
    expect(scheme).toBe("pbkdf2-sha256");
    expect(Number(iterations)).toBe(PBKDF2_ITERATIONS);
    expect(decodeBase64(salt!)).toHaveLength(16);
    expect(decodeBase64(hash!)).toHaveLength(32);
    expect(rest).toEqual([]);
    expect(await verifyPassword("hunter2", stored)).toBe(true);
  });

  it("uses a fresh salt each time, so equal passwords hash differently", async () => {
    const a = await hashPassword("same", FAST);
    const b = await hashPassword("same", FAST);
    expect(a).not.toBe(b);
    expect(a.split("$")[2]).not.toBe(b.split("$")[2]);
  });

  it("refuses iteration counts the Workers runtime would reject", async () => {
    await expect(hashPassword("x", PBKDF2_MAX_ITERATIONS + 1)).rejects.toThrow(RangeError);
    await expect(hashPassword("x", 0)).rejects.toThrow(RangeError);
  });
});

describe("verifyPassword", () => {
  it("accepts the right password and rejects a wrong one", async () => {
    const stored = await hashPassword("correct horse", FAST);
    expect(await verifyPassword("correct horse", stored)).toBe(true);
    expect(await verifyPassword("correct horsE", stored)).toBe(false);
    expect(await verifyPassword("", stored)).toBe(false);
  });

  it("honours the iteration count stored in the hash", async () => {
    const stored = await hashPassword("pw", 1234);
    expect(stored.split("$")[1]).toBe("1234");
    expect(await verifyPassword("pw", stored)).toBe(true);
    const retagged = stored.replace("$1234$", "$1235$");
    expect(await verifyPassword("pw", retagged)).toBe(false);
  });

  it("handles non-ASCII passwords as UTF-8", async () => {
    const stored = await hashPassword("pässwörd 🔑", FAST);
    expect(await verifyPassword("pässwörd 🔑", stored)).toBe(true);
    expect(await verifyPassword("passwort 🔑", stored)).toBe(false);
  });

  it("fails closed on malformed stored values instead of throwing", async () => {
    const good = await hashPassword("pw", FAST);
    const [, iters, salt, hash] = good.split("$");
    const bad = [
      "",
      "plaintext",
      `bcrypt$${iters}$${salt}$${hash}`,
      `pbkdf2-sha256$${iters}$${salt}`,
      `pbkdf2-sha256$${iters}$${salt}$${hash}$extra`,
      `pbkdf2-sha256$0$${salt}$${hash}`,
      `pbkdf2-sha256$-5$${salt}$${hash}`,
      `pbkdf2-sha256$${PBKDF2_MAX_ITERATIONS + 1}$${salt}$${hash}`,
      `pbkdf2-sha256$${iters}$!!!$${hash}`,
      `pbkdf2-sha256$${iters}$$${hash}`,
      `pbkdf2-sha256$${iters}$${salt}$${hash!.slice(0, 20)}`,
    ];
    for (const stored of bad) expect(await verifyPassword("pw", stored), stored).toBe(false);
  });
});

describe("constantTimeEqual", () => {
  it("is true only for equal bytes of equal length", () => {
    expect(constantTimeEqual(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 3]))).toBe(true);
    expect(constantTimeEqual(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 4]))).toBe(false);
    expect(constantTimeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2, 3]))).toBe(false);
    expect(constantTimeEqual(new Uint8Array([]), new Uint8Array([]))).toBe(true);
  });
});
