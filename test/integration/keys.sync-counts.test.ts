// The key counts /sync shows a device (device_one_time_keys_count, device_unused_fallback_key_types)
// are read from D1 once and then served by the user's stream until the keys change: uploads, claims
// (local or over federation) and logouts tell the stream, and the next sync reads D1 again.

import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { C, call, claim, login, register, sync, uploadOk, type Session } from "./keys.helpers.js";

async function signedKeys(s: Session, n: number, prefix: string): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) out[`signed_curve25519:${prefix}${i}`] = await s.keys.signedCurve25519();
  return out;
}

const otkCount = async (s: Session, since?: string) => (await sync(s, since)).device_one_time_keys_count["signed_curve25519"];

describe("key counts in /sync", () => {
  it("show one key fewer after another user claims one, though the previous sync had them cached", async () => {
    const owner = await register("cntclaim");
    await uploadOk(owner, { device_keys: await owner.keys.deviceKeys(), one_time_keys: await signedKeys(owner, 3, "a") });
    const first = await sync(owner);
    expect(first.device_one_time_keys_count["signed_curve25519"]).toBe(3);
    expect(await otkCount(owner, first.next_batch)).toBe(3);
    const claimer = await register("cntclaimer");
    await claim(claimer, { [owner.userId]: { [owner.deviceId]: "signed_curve25519" } });
    expect(await otkCount(owner, first.next_batch)).toBe(2);
  });

  it("show keys the device uploads after a sync, and a fallback key as used once it is handed out", async () => {
    const owner = await register("cntupload");
    await uploadOk(owner, { device_keys: await owner.keys.deviceKeys() });
    const first = await sync(owner);
    expect(first.device_one_time_keys_count).toEqual({ signed_curve25519: 0 });
    expect(first.device_unused_fallback_key_types).toEqual([]);
    await uploadOk(owner, { one_time_keys: await signedKeys(owner, 2, "b"), fallback_keys: { "signed_curve25519:fb": await owner.keys.signedCurve25519(true) } });
    const second = await sync(owner, first.next_batch);
    expect(second.device_one_time_keys_count["signed_curve25519"]).toBe(2);
    expect(second.device_unused_fallback_key_types).toEqual(["signed_curve25519"]);
    const claimer = await register("cntfb");
    for (let i = 0; i < 3; i++) await claim(claimer, { [owner.userId]: { [owner.deviceId]: "signed_curve25519" } });
    const third = await sync(owner, first.next_batch);
    expect(third.device_one_time_keys_count["signed_curve25519"]).toBe(0);
    expect(third.device_unused_fallback_key_types).toEqual([]);
  });

  it("are read from D1 once and then served by the user's stream until the keys change", async () => {
    const owner = await register("cntcache");
    await uploadOk(owner, { device_keys: await owner.keys.deviceKeys(), one_time_keys: await signedKeys(owner, 4, "c") });
    const first = await sync(owner);
    expect(first.device_one_time_keys_count["signed_curve25519"]).toBe(4);
    // Behind the API's back: a sync that asked D1 would now see 3.
    await env.DB.prepare(`DELETE FROM e2e_one_time_keys WHERE user_id = ? AND key_version = 'c0'`).bind(owner.userId).run();
    expect(await otkCount(owner, first.next_batch)).toBe(4);
    // Any change through the API makes the stream read D1 again: here a claim (3 - 1).
    await claim(await register("cntcacheclaimer"), { [owner.userId]: { [owner.deviceId]: "signed_curve25519" } });
    expect(await otkCount(owner, first.next_batch)).toBe(2);
  });

  it("start afresh for a device that logged out and logged in again with the same ID", async () => {
    const owner = await register("cntrelog");
    const second = await login(owner, "DEV2");
    await uploadOk(second, { device_keys: await second.keys.deviceKeys(), one_time_keys: await signedKeys(second, 2, "d") });
    expect(await otkCount(second)).toBe(2);
    expect((await call("POST", `${C}/logout`, { token: second.token, body: {} })).status).toBe(200);
    const again = await login(owner, "DEV2");
    expect(await otkCount(again)).toBe(0);
  });
});
