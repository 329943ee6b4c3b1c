// Cross-signing through the client API in workerd: uploading master, self-signing and user-signing
// keys (the first upload free, a replacement behind m.login.password), signatures on devices and
// master keys, and what keys/query then shows to the user and to others.
import { describe, expect, it } from "vitest";
import type { JsonObject } from "../../shared/canonical-json.js";
import { generateSeed, signingKeyFromSeed } from "../../shared/signing-key.js";

interface CrossKey {
  keyId: string;
  publicKeyBase64: string;
  sign(bytes: Uint8Array): Promise<Uint8Array>;
}
import { signAs } from "../support/e2ee-keys.js";
import { C, call, createRoom, expectError, join, register, sync, uploadOk, type Session } from "./keys.helpers.js";

/** A cross-signing key: its key ID's version is the public key itself, which has '+' and '/'. */
async function crossKey(): Promise<CrossKey> {
  const key = await signingKeyFromSeed(generateSeed(), "x");
  return { keyId: `ed25519:${key.publicKeyBase64}`, publicKeyBase64: key.publicKeyBase64, sign: (b) => key.sign(b) };
}

const keyObject = (userId: string, usage: string, k: CrossKey): JsonObject => ({ user_id: userId, usage: [usage], keys: { [k.keyId]: k.publicKeyBase64 } });

interface Identity {
  master: CrossKey;
  ssk: CrossKey;
  usk: CrossKey;
  body: { master_key: JsonObject; self_signing_key: JsonObject; user_signing_key: JsonObject };
}

async function identity(userId: string): Promise<Identity> {
  const [master, ssk, usk] = [await crossKey(), await crossKey(), await crossKey()];
  return {
    master,
    ssk,
    usk,
    body: {
      master_key: keyObject(userId, "master", master),
      self_signing_key: await signAs(keyObject(userId, "self_signing", ssk), userId, [master]),
      user_signing_key: await signAs(keyObject(userId, "user_signing", usk), userId, [master]),
    },
  };
}

const query = async (s: Session, userId: string) => (await call("POST", `${C}/keys/query`, { token: s.token, body: { device_keys: { [userId]: [] } } })).json;
const uploadSigning = (s: Session, body: Record<string, unknown>) => call("POST", `${C}/keys/device_signing/upload`, { token: s.token, body });
const password = (s: Session, session?: unknown) => ({ type: "m.login.password", identifier: { type: "m.id.user", user: s.userId }, password: s.password, session });

describe("cross-signing", () => {
  it("stores the first keys without auth, shows master and self-signing keys to all and the user-signing key only to its owner", async () => {
    const a = await register("xs");
    const other = await register("xsother");
    const id = await identity(a.userId);
    const res = await uploadSigning(a, id.body);
    expect(res.status, JSON.stringify(res.json)).toBe(200);
    const mine = await query(a, a.userId);
    expect((mine["master_keys"] as Record<string, unknown>)[a.userId]).toEqual(id.body.master_key);
    expect((mine["self_signing_keys"] as Record<string, unknown>)[a.userId]).toEqual(id.body.self_signing_key);
    expect((mine["user_signing_keys"] as Record<string, unknown>)[a.userId]).toEqual(id.body.user_signing_key);
    const theirs = await query(other, a.userId);
    expect((theirs["master_keys"] as Record<string, unknown>)[a.userId]).toEqual(id.body.master_key);
    expect(theirs["user_signing_keys"]).toEqual({});
    // The same keys again are no replacement: no auth needed.
    expect((await uploadSigning(a, id.body)).status).toBe(200);
  });

  it("refuses keys not signed by the master key, keys of another user, and a replacement without the password", async () => {
    const a = await register("xsbad");
    const id = await identity(a.userId);
    const stranger = await crossKey();
    expectError(await uploadSigning(a, { ...id.body, self_signing_key: await signAs(keyObject(a.userId, "self_signing", id.ssk), a.userId, [stranger]) }), 400, "M_INVALID_SIGNATURE");
    expectError(await uploadSigning(a, { master_key: keyObject("@someone:hub.test", "master", id.master) }), 400, "M_INVALID_PARAM");
    expectError(await uploadSigning(a, { self_signing_key: id.body.self_signing_key }), 400, "M_MISSING_PARAM");
    expectError(await uploadSigning(a, { master_key: { ...keyObject(a.userId, "master", id.master), usage: ["self_signing"] } }), 400, "M_INVALID_PARAM");
    expect((await query(a, a.userId))["master_keys"]).toEqual({});
    expect((await uploadSigning(a, id.body)).status).toBe(200);

    const next = await identity(a.userId);
    const challenge = await uploadSigning(a, next.body);
    expect(challenge.status).toBe(401);
    expect(challenge.json["flows"]).toEqual([{ stages: ["m.login.password"] }]);
    expect(((await query(a, a.userId))["master_keys"] as Record<string, unknown>)[a.userId]).toEqual(id.body.master_key);
    const ok = await uploadSigning(a, { ...next.body, auth: password(a, challenge.json["session"]) });
    expect(ok.status, JSON.stringify(ok.json)).toBe(200);
    expect(((await query(a, a.userId))["master_keys"] as Record<string, unknown>)[a.userId]).toEqual(next.body.master_key);
  });

  it("takes signatures on the user's device (self-signing key), master key (device key) and another user's master key (user-signing key), and shows them", async () => {
    const a = await register("xssig");
    const b = await register("xssigb");
    const roomId = await createRoom(a);
    await join(b, roomId);
    const device = await a.keys.deviceKeys({ olm: true, mls: false });
    await uploadOk(a, { device_keys: device });
    const idA = await identity(a.userId);
    const idB = await identity(b.userId);
    expect((await uploadSigning(a, idA.body)).status).toBe(200);
    expect((await uploadSigning(b, idB.body)).status).toBe(200);
    const since = (await sync(b)).next_batch;

    const signedDevice = await signAs(device, a.userId, [idA.ssk]);
    const signedMaster = await signAs(idA.body.master_key, a.userId, [a.keys.ed25519]);
    const signedB = await signAs(idB.body.master_key, a.userId, [idA.usk]);
    const forged = await signAs({ ...device, algorithms: ["forged"] }, a.userId, [idA.ssk]);
    const res = await call("POST", `${C}/keys/signatures/upload`, {
      token: a.token,
      body: { [a.userId]: { [a.deviceId]: signedDevice, [idA.master.publicKeyBase64]: signedMaster, NODEVICE: signedDevice }, [b.userId]: { [idB.master.publicKeyBase64]: signedB } },
    });
    expect(res.status).toBe(200);
    expect(res.json["failures"]).toEqual({ [a.userId]: { NODEVICE: { errcode: "M_NOT_FOUND", error: expect.any(String) } } });
    const bad = await call("POST", `${C}/keys/signatures/upload`, { token: a.token, body: { [a.userId]: { [a.deviceId]: forged } } });
    expect((bad.json["failures"] as Record<string, Record<string, { errcode: string }>>)[a.userId]?.[a.deviceId]?.errcode).toBe("M_INVALID_PARAM");

    // b sees a's device signed by a's self-signing key, and a's master key signed by a's device.
    const seenByB = await query(b, a.userId);
    const dev = ((seenByB["device_keys"] as Record<string, Record<string, JsonObject>>)[a.userId] as Record<string, JsonObject>)[a.deviceId] as { signatures: Record<string, Record<string, string>> };
    expect(Object.keys(dev.signatures[a.userId] ?? {}).sort()).toEqual([`ed25519:${a.deviceId}`, idA.ssk.keyId].sort());
    const masterSeen = (seenByB["master_keys"] as Record<string, { signatures?: Record<string, Record<string, string>> }>)[a.userId];
    expect(Object.keys(masterSeen?.signatures?.[a.userId] ?? {})).toEqual([`ed25519:${a.deviceId}`]);
    // a's signature on b's master key is a's to see, not b's or anyone else's.
    const bByA = (await query(a, b.userId))["master_keys"] as Record<string, { signatures?: Record<string, unknown> }>;
    expect(Object.keys(bByA[b.userId]?.signatures ?? {})).toEqual([a.userId]);
    const bByB = (await query(b, b.userId))["master_keys"] as Record<string, { signatures?: Record<string, unknown> }>;
    expect(bByB[b.userId]?.signatures).toBeUndefined();
    // b's client hears that a's keys changed.
    expect((await sync(b, since)).device_lists.changed).toContain(a.userId);
  });
});
