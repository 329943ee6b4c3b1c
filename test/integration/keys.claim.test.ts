import { describe, expect, it } from "vitest";
import { MLS_KEY_PACKAGE_ALGORITHM, lifetimeEndingIn } from "../support/e2ee-keys.js";
import { C, call, claim, expectError, register, sync, uploadOk, type Session } from "./keys.helpers.js";

const KP = MLS_KEY_PACKAGE_ALGORITHM;

/** The one key a claim handed out for `s`'s device, as [key ID, key]; undefined when none. */
function claimedKey(result: Awaited<ReturnType<typeof claim>>, s: Session): [string, unknown] | undefined {
  const keys = result[s.userId]?.[s.deviceId];
  if (!keys) return undefined;
  const entries = Object.entries(keys);
  expect(entries.length).toBe(1);
  return entries[0];
}

async function withSignedKeys(s: Session, n: number, prefix = "k"): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) out[`signed_curve25519:${prefix}${i}`] = await s.keys.signedCurve25519();
  return out;
}

describe("POST /keys/claim", () => {
  it("hands out each one-time key exactly once under 80 concurrent claims for 50 keys", async () => {
    const owner = await register("conc");
    await uploadOk(owner, { device_keys: await owner.keys.deviceKeys(), one_time_keys: await withSignedKeys(owner, 50) });
    const claimers = await Promise.all(Array.from({ length: 8 }, (_, i) => register(`claimer${i}`)));
    const results = await Promise.all(
      Array.from({ length: 80 }, (_, i) => claim(claimers[i % claimers.length] as Session, { [owner.userId]: { [owner.deviceId]: "signed_curve25519" } })),
    );
    const handedOut = results.map((r) => claimedKey(r, owner)).filter((k): k is [string, unknown] => k !== undefined);
    const ids = handedOut.map(([id]) => id);
    expect(ids).toHaveLength(50);
    expect(new Set(ids).size).toBe(50);
    expect(new Set(handedOut.map(([, key]) => JSON.stringify(key))).size).toBe(50);
    expect((await sync(owner)).device_one_time_keys_count["signed_curve25519"]).toBe(0);
  });

  it("hands out each KeyPackage once under concurrency, then the last-resort one to everyone left", async () => {
    const owner = await register("kpconc");
    const lastResort = await owner.keys.keyPackage();
    await uploadOk(owner, {
      device_keys: await owner.keys.deviceKeys(),
      one_time_keys: await owner.keys.keyPackages(12),
      fallback_keys: { [`${KP}:last`]: lastResort },
    });
    const claimer = await register("kpclaimer");
    const results = await Promise.all(Array.from({ length: 20 }, () => claim(claimer, { [owner.userId]: { [owner.deviceId]: KP } })));
    const handedOut = results.map((r) => claimedKey(r, owner) as [string, unknown]);
    const regular = handedOut.filter(([id]) => id !== `${KP}:last`);
    expect(regular).toHaveLength(12);
    expect(new Set(regular.map(([id]) => id)).size).toBe(12);
    expect(handedOut.filter(([id, key]) => id === `${KP}:last` && key === lastResort)).toHaveLength(8);
  });

  it("hands out the fallback key only when no one-time key is left, reuses it, and reports it used", async () => {
    const owner = await register("fb");
    const fallback = await owner.keys.signedCurve25519(true);
    await uploadOk(owner, {
      device_keys: await owner.keys.deviceKeys(),
      one_time_keys: { "signed_curve25519:only": await owner.keys.signedCurve25519() },
      fallback_keys: { "signed_curve25519:fb1": fallback },
    });
    expect((await sync(owner)).device_unused_fallback_key_types).toEqual(["signed_curve25519"]);
    const c = await register("fbclaimer");
    const ask = { [owner.userId]: { [owner.deviceId]: "signed_curve25519" } };
    expect(claimedKey(await claim(c, ask), owner)?.[0]).toBe("signed_curve25519:only");
    expect((await sync(owner)).device_unused_fallback_key_types).toEqual(["signed_curve25519"]);
    expect(claimedKey(await claim(c, ask), owner)).toEqual(["signed_curve25519:fb1", fallback]);
    expect(claimedKey(await claim(c, ask), owner)).toEqual(["signed_curve25519:fb1", fallback]);
    const after = await sync(owner);
    expect(after.device_unused_fallback_key_types).toEqual([]);
    expect(after.device_one_time_keys_count).toEqual({ signed_curve25519: 0 });
    // A replacement fallback key is unused again; re-uploading the used one does not reset it.
    await uploadOk(owner, { fallback_keys: { "signed_curve25519:fb1": fallback } });
    expect((await sync(owner)).device_unused_fallback_key_types).toEqual([]);
    await uploadOk(owner, { fallback_keys: { "signed_curve25519:fb2": await owner.keys.signedCurve25519(true) } });
    expect((await sync(owner)).device_unused_fallback_key_types).toEqual(["signed_curve25519"]);
  });

  it("never hands out a KeyPackage or last-resort KeyPackage whose lifetime has ended", async () => {
    const owner = await register("exp");
    // A few seconds of life, so a loaded machine still uploads and counts them before they end.
    const short = lifetimeEndingIn(4);
    await uploadOk(owner, {
      device_keys: await owner.keys.deviceKeys(),
      one_time_keys: { [`${KP}:short`]: await owner.keys.keyPackage({ lifetime: short }), [`${KP}:long`]: await owner.keys.keyPackage({ lifetime: lifetimeEndingIn(3600) }) },
      fallback_keys: { [`${KP}:lastshort`]: await owner.keys.keyPackage({ lifetime: short }) },
    });
    expect((await sync(owner)).device_one_time_keys_count[KP]).toBe(2);
    // Lifetimes count whole seconds: wait past the end of the short ones.
    const end = Number(short.notAfter) * 1000 + 1000;
    await new Promise((r) => setTimeout(r, Math.max(0, end - Date.now()) + 300));
    expect((await sync(owner)).device_one_time_keys_count[KP]).toBe(1);
    expect((await sync(owner)).device_unused_fallback_key_types).toEqual([]);
    const c = await register("expclaimer");
    const ask = { [owner.userId]: { [owner.deviceId]: KP } };
    expect(claimedKey(await claim(c, ask), owner)?.[0]).toBe(`${KP}:long`);
    expect(await claim(c, ask)).toEqual({});
  }, 20_000);

  it("answers only for devices that have keys of the algorithm, and ignores unknown users", async () => {
    const owner = await register("none");
    await uploadOk(owner, { device_keys: await owner.keys.deviceKeys(), one_time_keys: await withSignedKeys(owner, 1) });
    const c = await register("noneclaimer");
    const result = await claim(c, { [owner.userId]: { [owner.deviceId]: "curve25519", NODEVICE: "signed_curve25519" }, "@ghost:hub.test": { X: "signed_curve25519" } });
    expect(result).toEqual({});
  });

  it("refuses malformed claims", async () => {
    const c = await register("claimbad");
    expectError(await call("POST", `${C}/keys/claim`, { token: c.token, body: {} }), 400, "M_BAD_JSON");
    expectError(await call("POST", `${C}/keys/claim`, { token: c.token, body: { one_time_keys: { [c.userId]: { DEV1: 5 } } } }), 400, "M_BAD_JSON");
    expectError(await call("POST", `${C}/keys/claim`, { token: c.token, body: { one_time_keys: { nobody: {} } } }), 400, "M_INVALID_PARAM");
    // Bounded so that one claim stays within D1's statements per invocation.
    const tooMany = Object.fromEntries(Array.from({ length: 451 }, (_, i) => [`D${i}`, "signed_curve25519"]));
    expectError(await call("POST", `${C}/keys/claim`, { token: c.token, body: { one_time_keys: { [c.userId]: tooMany } } }), 400, "M_INVALID_PARAM");
  });
});
