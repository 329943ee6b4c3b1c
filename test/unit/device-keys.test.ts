import { describe, expect, it } from "vitest";
import type { JsonObject } from "../../shared/canonical-json.js";
import { MLS_ALGORITHM, MLS_KEY_PACKAGE_ALGORITHM, mlsCredentialKey, storedMlsSignatureKey, validateDeviceKeys } from "../../shared/device-keys.js";
import { deviceListUpdateEdu, parseE2eeEdu, toDeviceEdu } from "../../shared/e2ee-edus.js";
import { MatrixError } from "../../shared/errors.js";
import { inspectKeyPackage } from "../../shared/mls-key-package.js";
import { parseUploadedKeys } from "../../shared/one-time-keys.js";
import { generateSeed, signingKeyFromSeed } from "../../shared/signing-key.js";
import { KeyDevice, lifetimeEndingIn, signAs } from "../support/e2ee-keys.js";

const ALICE = "@alice:hub.test";

async function refusal(p: Promise<unknown>): Promise<{ errcode: string; message: string }> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(MatrixError);
    const m = e as MatrixError;
    expect(m.status).toBe(400);
    return { errcode: m.errcode, message: m.message };
  }
  throw new Error("expected a refusal");
}

describe("device credential objects", () => {
  it("accepts a double-ratchet device signed by its ed25519 key and drops unsigned", async () => {
    const d = await KeyDevice.create(ALICE, "OLMDEV");
    const obj: JsonObject = { ...(await d.deviceKeys({ olm: true })), unsigned: { device_display_name: "phone" } };
    const valid = await validateDeviceKeys(obj, { userId: ALICE, deviceId: "OLMDEV" });
    expect(valid.object["unsigned"]).toBeUndefined();
    expect(valid.object["keys"]).toEqual(obj["keys"]);
    expect(valid.mlsSignatureKey).toBeUndefined();
  });

  it("accepts an MLS device signed by the key its BasicCredential names", async () => {
    const d = await KeyDevice.create(ALICE, "MLSDEV");
    const valid = await validateDeviceKeys(await d.deviceKeys({ mls: true }), { userId: ALICE, deviceId: "MLSDEV" });
    expect(valid.mlsSignatureKey).toEqual(d.mls.key.publicKey);
    expect(storedMlsSignatureKey(valid.object)).toEqual(d.mls.key.publicKey);
  });

  it("accepts a device with both kinds of keys when every signing key signed", async () => {
    const d = await KeyDevice.create(ALICE, "BOTH");
    const valid = await validateDeviceKeys(await d.deviceKeys({ olm: true, mls: true }));
    expect(Object.keys(valid.object["keys"] as JsonObject)).toHaveLength(3);
  });

  it("refuses a device missing the signature of one of its keys", async () => {
    const d = await KeyDevice.create(ALICE, "BOTH");
    const full = await d.deviceKeys({ olm: true, mls: true });
    const sigs = (full["signatures"] as Record<string, Record<string, string>>)[ALICE] as Record<string, string>;
    const { [`ed25519:BOTH`]: _dropped, ...onlyMls } = sigs;
    const r = await refusal(validateDeviceKeys({ ...full, signatures: { [ALICE]: onlyMls } }));
    expect(r.errcode).toBe("M_INVALID_PARAM");
    expect(r.message).toContain("ed25519:BOTH");
  });

  it("refuses a device signed under another user ID", async () => {
    const d = await KeyDevice.create(ALICE, "DEV");
    const unsigned = { user_id: ALICE, device_id: "DEV", algorithms: [MLS_ALGORITHM], keys: { [d.mlsSigner.keyId]: mlsCredentialKey({ userId: ALICE, deviceId: "DEV", signatureKey: d.mls.key.publicKey }).value } };
    const r = await refusal(validateDeviceKeys(await signAs(unsigned, "@mallory:hub.test", [d.mlsSigner])));
    expect(r.errcode).toBe("M_INVALID_PARAM");
  });

  it("refuses a device altered after signing", async () => {
    const d = await KeyDevice.create(ALICE, "DEV");
    const obj = await d.deviceKeys({ olm: true });
    const r = await refusal(validateDeviceKeys({ ...obj, algorithms: ["m.olm.v1.curve25519-aes-sha2"] }));
    expect(r.errcode).toBe("M_INVALID_PARAM");
  });

  it("refuses a signature by a key other than the one listed", async () => {
    const d = await KeyDevice.create(ALICE, "DEV");
    const other = await signingKeyFromSeed(generateSeed(), "DEV");
    const { signatures: _s, ...bare } = await d.deviceKeys({ olm: true });
    const r = await refusal(validateDeviceKeys(await signAs(bare, ALICE, [other])));
    expect(r.errcode).toBe("M_INVALID_PARAM");
  });

  it("refuses an MLS credential that names another device", async () => {
    const d = await KeyDevice.create(ALICE, "DEV");
    const cred = mlsCredentialKey({ userId: ALICE, deviceId: "OTHER", signatureKey: d.mls.key.publicKey });
    const obj = await signAs({ user_id: ALICE, device_id: "DEV", algorithms: [MLS_ALGORITHM], keys: { [d.mlsSigner.keyId]: cred.value } }, ALICE, [d.mlsSigner]);
    const r = await refusal(validateDeviceKeys(obj));
    expect(r.message).toContain("different user or device");
  });

  it("refuses an MLS device without an MLS credential key", async () => {
    const d = await KeyDevice.create(ALICE, "DEV");
    const obj = await d.deviceKeys({ olm: true });
    const { signatures: _s, ...bare } = obj;
    const r = await refusal(validateDeviceKeys(await signAs({ ...bare, algorithms: [MLS_ALGORITHM] }, ALICE, [d.ed25519])));
    expect(r.message).toContain("m.mls.v1.credential.ed25519");
  });

  it("refuses key IDs whose version is not the device ID, and objects for another device", async () => {
    const d = await KeyDevice.create(ALICE, "DEV");
    const { signatures: _s, ...bare } = await d.deviceKeys({ olm: true });
    const wrongVersion = await signAs({ ...bare, keys: { ...(bare.keys as JsonObject), "curve25519:ELSE": "abc" } }, ALICE, [d.ed25519]);
    expect((await refusal(validateDeviceKeys(wrongVersion))).errcode).toBe("M_INVALID_PARAM");
    expect((await refusal(validateDeviceKeys(await d.deviceKeys({ olm: true }), { deviceId: "OTHER" }))).errcode).toBe("M_INVALID_PARAM");
  });

  it("answers shape errors with M_BAD_JSON", async () => {
    for (const bad of [null, [], { user_id: "nope" }, { user_id: ALICE, device_id: "D", algorithms: "x", keys: {}, signatures: {} }, { user_id: ALICE, device_id: "D", algorithms: ["a"], keys: { "ed25519:D": 5 }, signatures: { [ALICE]: {} } }]) {
      expect((await refusal(validateDeviceKeys(bad))).errcode).toBe("M_BAD_JSON");
    }
  });

  it("refuses a device with no key able to sign", async () => {
    const obj = { user_id: ALICE, device_id: "D", algorithms: ["m.olm.v1.curve25519-aes-sha2"], keys: { "curve25519:D": "abc" }, signatures: { [ALICE]: {} } };
    expect((await refusal(validateDeviceKeys(obj))).message).toContain("must include an ed25519");
  });
});

describe("uploaded one-time keys and KeyPackages", () => {
  const ctxFor = (d: KeyDevice) => ({ now: Date.now(), userId: d.userId, deviceId: d.deviceId, mlsSignatureKey: d.mls.key.publicKey });

  it("accepts KeyPackages of the device and Olm keys, keeping canonical JSON", async () => {
    const d = await KeyDevice.create(ALICE, "DEV");
    const keys = await parseUploadedKeys(
      { ...(await d.keyPackages(2)), "signed_curve25519:AAAA": await d.signedCurve25519(), "curve25519:AAAB": "plainkey" },
      "one_time_keys",
      ctxFor(d),
    );
    expect(keys.map((k) => `${k.algorithm}:${k.version}`).sort()).toEqual(["curve25519:AAAB", `${MLS_KEY_PACKAGE_ALGORITHM}:kp0`, `${MLS_KEY_PACKAGE_ALGORITHM}:kp1`, "signed_curve25519:AAAA"]);
    expect(keys.find((k) => k.algorithm === "curve25519")?.json).toBe('"plainkey"');
    // The default MLS lifetime reaches past any representable date: no expiry.
    expect(keys.find((k) => k.algorithm === MLS_KEY_PACKAGE_ALGORITHM)?.expiresTs).toBeNull();
  });

  it("records a KeyPackage's lifetime end as its expiry", async () => {
    const d = await KeyDevice.create(ALICE, "DEV");
    const kp = await d.keyPackage({ lifetime: lifetimeEndingIn(3600) });
    const info = await inspectKeyPackage(kp, Date.now());
    expect(info.expiresTs).toBeGreaterThan(Date.now() + 3500_000);
    expect(info.identity.deviceId).toBe("DEV");
  });

  it("refuses a KeyPackage whose lifetime has ended", async () => {
    const d = await KeyDevice.create(ALICE, "DEV");
    const now = BigInt(Math.floor(Date.now() / 1000));
    const kp = await d.keyPackage({ lifetime: { notBefore: now - 100n, notAfter: now - 10n } });
    expect((await refusal(parseUploadedKeys({ [`${MLS_KEY_PACKAGE_ALGORITHM}:old`]: kp }, "one_time_keys", ctxFor(d)))).message).toContain("lifetime has ended");
  });

  it("refuses KeyPackages signed by another key, naming another device, or not decoding", async () => {
    const d = await KeyDevice.create(ALICE, "DEV");
    const seed = generateSeed();
    const otherKey = { seed, publicKey: (await signingKeyFromSeed(seed, "X")).publicKey };
    const cases: Array<[string, string]> = [
      [await d.keyPackage({ signWith: otherKey }), "MLS credential key"],
      [await d.keyPackage({ identity: { userId: ALICE, deviceId: "OTHER" } }), "another user or device"],
      ["bm90IGEga2V5IHBhY2thZ2U", "does not decode"],
    ];
    for (const [kp, reason] of cases) {
      const r = await refusal(parseUploadedKeys({ [`${MLS_KEY_PACKAGE_ALGORITHM}:x`]: kp }, "one_time_keys", ctxFor(d)));
      expect(r.errcode).toBe("M_INVALID_PARAM");
      expect(r.message).toContain(reason);
    }
  });

  it("refuses KeyPackages from a device that published no MLS credential", async () => {
    const d = await KeyDevice.create(ALICE, "DEV");
    const r = await refusal(parseUploadedKeys(await d.keyPackages(1), "one_time_keys", { now: Date.now(), userId: ALICE, deviceId: "DEV" }));
    expect(r.message).toContain("MLS credential");
  });

  it("refuses two fallback keys of one algorithm and malformed key IDs", async () => {
    const d = await KeyDevice.create(ALICE, "DEV");
    const twice = { "signed_curve25519:A": await d.signedCurve25519(true), "signed_curve25519:B": await d.signedCurve25519(true) };
    expect((await refusal(parseUploadedKeys(twice, "fallback_keys", ctxFor(d)))).message).toContain("one key per algorithm");
    expect((await refusal(parseUploadedKeys({ nocolon: "k" }, "one_time_keys", ctxFor(d)))).errcode).toBe("M_INVALID_PARAM");
    expect((await refusal(parseUploadedKeys({ "curve25519:A": 5 }, "one_time_keys", ctxFor(d)))).errcode).toBe("M_BAD_JSON");
  });
});

describe("key distribution EDUs", () => {
  it("round-trips the draft's to-device EDU", () => {
    const edu = toDeviceEdu(ALICE, { target: "@bob:p1.test", targetDevice: "BOBDEV", messageType: "m.room.encrypted", message: { ciphertext: "x" } });
    expect(edu).toEqual({ type: "m.direct_to_device", sender: ALICE, content: { target: "@bob:p1.test", target_device: "BOBDEV", message_type: "m.room.encrypted", message: { ciphertext: "x" } } });
    expect(parseE2eeEdu(edu)).toEqual({ kind: "to_device", sender: ALICE, messages: [{ target: "@bob:p1.test", targetDevice: "BOBDEV", messageType: "m.room.encrypted", message: { ciphertext: "x" } }] });
  });

  it("reads Matrix's to-device EDU with its message ID", () => {
    const parsed = parseE2eeEdu({ edu_type: "m.direct_to_device", content: { sender: ALICE, type: "m.room_key_request", message_id: "m1", messages: { "@bob:p1.test": { "*": { a: 1 }, D1: { b: 2 } } } } });
    expect(parsed).toMatchObject({ kind: "to_device", sender: ALICE, messageId: "m1" });
    expect(parsed?.kind === "to_device" ? parsed.messages.map((m) => m.targetDevice) : []).toEqual(["*", "D1"]);
  });

  it("reads both device-list shapes and ignores malformed EDUs", () => {
    expect(parseE2eeEdu(deviceListUpdateEdu(ALICE, [], ["OLD"]))).toEqual({ kind: "device_list", userId: ALICE, changed: [], removed: ["OLD"] });
    expect(parseE2eeEdu({ edu_type: "m.device_list_update", content: { user_id: ALICE, device_id: "D", deleted: true } })).toEqual({ kind: "device_list", userId: ALICE, changed: [], removed: ["D"] });
    expect(parseE2eeEdu({ type: "m.direct_to_device", sender: "nobody", content: { target: "@bob:p1.test", target_device: "D", message_type: "t", message: {} } })).toBeUndefined();
    expect(parseE2eeEdu({ type: "m.typing", content: {} })).toBeUndefined();
    expect(parseE2eeEdu("edu")).toBeUndefined();
  });
});
