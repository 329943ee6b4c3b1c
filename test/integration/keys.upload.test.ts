import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { JsonObject } from "../../shared/canonical-json.js";
import { LM_PREFIX } from "../../shared/federation-paths.js";
import { MLS_KEY_PACKAGE_ALGORITHM } from "../support/e2ee-keys.js";
import { C, call, enc, expectError, login, register, upload, uploadOk, type Session } from "./keys.helpers.js";

async function query(s: Session, request: Record<string, string[]>) {
  const res = await call("POST", `${C}/keys/query`, { token: s.token, body: { device_keys: request } });
  expect(res.status, JSON.stringify(res.json)).toBe(200);
  return res.json as { device_keys: Record<string, Record<string, JsonObject>>; failures: Record<string, unknown> };
}

async function storedRows(s: Session): Promise<{ device: string | null; oneTime: number; fallback: number }> {
  const device = await env.DB.prepare(`SELECT key_json FROM e2e_device_keys WHERE user_id = ? AND device_id = ?`).bind(s.userId, s.deviceId).first<{ key_json: string }>();
  const oneTime = await env.DB.prepare(`SELECT COUNT(*) AS n FROM e2e_one_time_keys WHERE user_id = ?`).bind(s.userId).first<{ n: number }>();
  const fallback = await env.DB.prepare(`SELECT COUNT(*) AS n FROM e2e_fallback_keys WHERE user_id = ?`).bind(s.userId).first<{ n: number }>();
  return { device: device?.key_json ?? null, oneTime: oneTime?.n ?? 0, fallback: fallback?.n ?? 0 };
}

describe("POST /keys/upload", () => {
  it("stores device keys, one-time keys and KeyPackages and answers the counts per algorithm", async () => {
    const s = await register("up");
    const counts = await uploadOk(s, {
      device_keys: await s.keys.deviceKeys(),
      one_time_keys: { "signed_curve25519:A1": await s.keys.signedCurve25519(), "signed_curve25519:A2": await s.keys.signedCurve25519(), ...(await s.keys.keyPackages(3)) },
    });
    expect(counts).toEqual({ signed_curve25519: 2, [MLS_KEY_PACKAGE_ALGORITHM]: 3 });
    // An upload with nothing new still reports the counts.
    expect(await uploadOk(s, {})).toEqual(counts);
  });

  it("accepts the same one-time key again but refuses different content under a used key ID", async () => {
    const s = await register("dup");
    const key = await s.keys.signedCurve25519();
    await uploadOk(s, { device_keys: await s.keys.deviceKeys(), one_time_keys: { "signed_curve25519:K": key } });
    expect(await uploadOk(s, { one_time_keys: { "signed_curve25519:K": key } })).toEqual({ signed_curve25519: 1 });
    const res = await upload(s, { one_time_keys: { "signed_curve25519:K": await s.keys.signedCurve25519(), "signed_curve25519:L": await s.keys.signedCurve25519() } });
    expectError(res, 400, "M_INVALID_PARAM");
    // Nothing of the refused upload was stored, not even its valid key L.
    expect((await storedRows(s)).oneTime).toBe(1);
  });

  it("refuses an invalid device credential with a clear error and stores nothing of the request", async () => {
    const s = await register("badcred");
    const good = await s.keys.deviceKeys();
    await uploadOk(s, { device_keys: good });
    const before = await storedRows(s);
    const tampered = { ...good, algorithms: ["m.megolm.v1.aes-sha2"] };
    const res = await upload(s, { device_keys: tampered, one_time_keys: { "signed_curve25519:Z": await s.keys.signedCurve25519() } });
    expectError(res, 400, "M_INVALID_PARAM");
    expect(String(res.json["error"])).toContain("signature");
    expect(await storedRows(s)).toEqual(before);
  });

  it("refuses device keys for another device, with M_INVALID_PARAM, and malformed ones with M_BAD_JSON", async () => {
    const s = await register("other");
    const other = await login(s, "DEV2");
    expectError(await upload(s, { device_keys: await other.keys.deviceKeys() }), 400, "M_INVALID_PARAM");
    expectError(await upload(s, { device_keys: { user_id: s.userId } }), 400, "M_BAD_JSON");
    expectError(await upload(s, { one_time_keys: ["not", "an", "object"] }), 400, "M_BAD_JSON");
    expect((await storedRows(s)).device).toBeNull();
  });

  it("refuses KeyPackages before the device has an MLS credential, and KeyPackages of another device", async () => {
    const s = await register("kpfirst");
    expectError(await upload(s, { one_time_keys: await s.keys.keyPackages(1) }), 400, "M_INVALID_PARAM");
    await uploadOk(s, { device_keys: await s.keys.deviceKeys() });
    const foreign = await s.keys.keyPackage({ identity: { userId: s.userId, deviceId: "ELSEWHERE" } });
    expectError(await upload(s, { one_time_keys: { [`${MLS_KEY_PACKAGE_ALGORITHM}:f`]: foreign } }), 400, "M_INVALID_PARAM");
    expect((await storedRows(s)).oneTime).toBe(0);
  });

  it("needs an access token and a JSON body", async () => {
    expectError(await call("POST", `${C}/keys/upload`, { body: {} }), 401, "M_MISSING_TOKEN");
    const s = await register("notjson");
    expectError(await call("POST", `${C}/keys/upload`, { token: s.token, rawBody: "{nope" }), 400, "M_NOT_JSON");
  });
});

describe("POST /keys/query for local users", () => {
  it("returns every device's signed object with its display name, or only the devices asked for", async () => {
    const s = await register("q");
    const s2 = await login(s, "DEV2", "Laptop");
    await uploadOk(s, { device_keys: await s.keys.deviceKeys() });
    await uploadOk(s2, { device_keys: await s2.keys.deviceKeys({ olm: true }) });
    const asker = await register("asker");
    const all = await query(asker, { [s.userId]: [] });
    expect(Object.keys(all.device_keys[s.userId] ?? {}).sort()).toEqual(["DEV1", "DEV2"]);
    const dev1 = all.device_keys[s.userId]?.["DEV1"] as JsonObject;
    const { signatures: _a, ...shown } = dev1;
    const { signatures: _b, ...uploaded } = await s.keys.deviceKeys();
    expect(shown["keys"]).toEqual(uploaded["keys"]);
    expect(dev1["unsigned"]).toBeUndefined(); // registered without a display name
    const one = await query(asker, { [s.userId]: ["DEV2"], "@nobody:hub.test": [] });
    expect(Object.keys(one.device_keys[s.userId] ?? {})).toEqual(["DEV2"]);
    expect(one.device_keys[s.userId]?.["DEV2"]?.["unsigned"]).toEqual({ device_display_name: "Laptop" });
    expect(one.device_keys["@nobody:hub.test"]).toEqual({});
    expect(one.failures).toEqual({});
  });

  it("stops serving a device's keys once it logs out", async () => {
    const s = await register("gone");
    const s2 = await login(s, "DEV2");
    await uploadOk(s2, { device_keys: await s2.keys.deviceKeys(), one_time_keys: await s2.keys.keyPackages(2) });
    expect((await call("POST", `${C}/logout`, { token: s2.token, body: {} })).status).toBe(200);
    const res = await query(s, { [s.userId]: [] });
    expect(res.device_keys[s.userId]).toEqual({});
    const claimed = await call("POST", `${C}/keys/claim`, { token: s.token, body: { one_time_keys: { [s.userId]: { DEV2: MLS_KEY_PACKAGE_ALGORITHM } } } });
    expect(claimed.json["one_time_keys"]).toEqual({});
  });

  it("refuses malformed queries", async () => {
    const s = await register("qbad");
    expectError(await call("POST", `${C}/keys/query`, { token: s.token, body: { device_keys: { "not-a-user": [] } } }), 400, "M_INVALID_PARAM");
    expectError(await call("POST", `${C}/keys/query`, { token: s.token, body: { device_keys: { [s.userId]: "DEV1" } } }), 400, "M_BAD_JSON");
    expectError(await call("POST", `${C}/keys/query`, { token: s.token, body: {} }), 400, "M_BAD_JSON");
  });
});

describe("the draft's device endpoint", () => {
  it("requires X-Matrix authentication", async () => {
    const s = await register("devep");
    await uploadOk(s, { device_keys: await s.keys.deviceKeys() });
    const res = await call("GET", `${LM_PREFIX}/user/${enc(s.userId)}/device/DEV1`);
    expectError(res, 401, "M_UNAUTHORIZED");
  });
});

describe("GET /keys/changes", () => {
  it("lists room-mates whose device keys changed after the token, and needs both tokens", async () => {
    const a = await register("cha");
    const b = await register("chb");
    const roomRes = await call("POST", `${C}/createRoom`, { token: a.token, body: { preset: "public_chat" } });
    const roomId = roomRes.json["room_id"] as string;
    expect((await call("POST", `${C}/join/${enc(roomId)}`, { token: b.token, body: {} })).status).toBe(200);
    const from = (await call("GET", `${C}/sync?timeout=0`, { token: a.token })).json["next_batch"] as string;
    await uploadOk(b, { device_keys: await b.keys.deviceKeys() });
    const to = (await call("GET", `${C}/sync?timeout=0&since=${from}`, { token: a.token })).json["next_batch"] as string;
    const res = await call("GET", `${C}/keys/changes?from=${from}&to=${to}`, { token: a.token });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ changed: [b.userId], left: [] });
    const later = await call("GET", `${C}/keys/changes?from=${to}&to=${to}`, { token: a.token });
    expect(later.json).toEqual({ changed: [], left: [] });
    expectError(await call("GET", `${C}/keys/changes?from=${from}`, { token: a.token }), 400, "M_MISSING_PARAM");
    expectError(await call("GET", `${C}/keys/changes?from=x&to=${to}`, { token: a.token }), 400, "M_INVALID_PARAM");
  });
});
