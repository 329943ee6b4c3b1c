// Server-side key backup through the client API in workerd: versions, keys at the three path levels,
// the replacement rule, count and etag, and the errors the spec names.
import { describe, expect, it } from "vitest";
import { C, call, enc, expectError, register } from "./keys.helpers.js";

const ALG = "m.megolm_backup.v1.curve25519-aes-sha2";
const key = (fmi: number, verified = false, fc = 0, marker = "x") => ({ first_message_index: fmi, forwarded_count: fc, is_verified: verified, session_data: { ciphertext: marker, ephemeral: "e", mac: "m" } });
const ROOM = "!backup:hub.test";

describe("key backup", () => {
  it("creates, reads, updates and deletes versions; only the newest is current", async () => {
    const u = await register("kb");
    expectError(await call("GET", `${C}/room_keys/version`, { token: u.token }), 404, "M_NOT_FOUND");
    const v1 = await call("POST", `${C}/room_keys/version`, { token: u.token, body: { algorithm: ALG, auth_data: { public_key: "pk1" } } });
    expect(v1.json).toEqual({ version: "1" });
    const v2 = await call("POST", `${C}/room_keys/version`, { token: u.token, body: { algorithm: ALG, auth_data: { public_key: "pk2" } } });
    expect(v2.json).toEqual({ version: "2" });
    expect((await call("GET", `${C}/room_keys/version`, { token: u.token })).json).toEqual({ algorithm: ALG, auth_data: { public_key: "pk2" }, count: 0, etag: "0", version: "2" });
    expect((await call("GET", `${C}/room_keys/version/1`, { token: u.token })).json["auth_data"]).toEqual({ public_key: "pk1" });
    expect((await call("PUT", `${C}/room_keys/version/2`, { token: u.token, body: { algorithm: ALG, auth_data: { public_key: "pk2", signatures: {} }, version: "2" } })).status).toBe(200);
    expect((await call("GET", `${C}/room_keys/version/2`, { token: u.token })).json["auth_data"]).toEqual({ public_key: "pk2", signatures: {} });
    expectError(await call("PUT", `${C}/room_keys/version/2`, { token: u.token, body: { algorithm: "other", auth_data: {} } }), 400, "M_INVALID_PARAM");
    expectError(await call("PUT", `${C}/room_keys/version/2`, { token: u.token, body: { algorithm: ALG, auth_data: {}, version: "1" } }), 400, "M_INVALID_PARAM");
    expect((await call("DELETE", `${C}/room_keys/version/2`, { token: u.token })).status).toBe(200);
    expect((await call("GET", `${C}/room_keys/version`, { token: u.token })).json["version"]).toBe("1");
    expectError(await call("GET", `${C}/room_keys/version/2`, { token: u.token }), 404, "M_NOT_FOUND");
    expectError(await call("DELETE", `${C}/room_keys/version/2`, { token: u.token }), 404, "M_NOT_FOUND");
    // A deleted version's number is not reused.
    expect((await call("POST", `${C}/room_keys/version`, { token: u.token, body: { algorithm: ALG, auth_data: {} } })).json).toEqual({ version: "3" });
    // Another user sees none of it.
    const other = await register("kbother");
    expectError(await call("GET", `${C}/room_keys/version/1`, { token: other.token }), 404, "M_NOT_FOUND");
  });

  it("stores keys at every path level, keeps the better key, and answers count and etag", async () => {
    const u = await register("kbkeys");
    const version = (await call("POST", `${C}/room_keys/version`, { token: u.token, body: { algorithm: ALG, auth_data: {} } })).json["version"] as string;
    const q = `?version=${version}`;
    const all = await call("PUT", `${C}/room_keys/keys${q}`, { token: u.token, body: { rooms: { [ROOM]: { sessions: { s1: key(5), s2: key(0) } } } } });
    expect(all.json).toEqual({ count: 2, etag: "1" });
    const room = await call("PUT", `${C}/room_keys/keys/${enc(ROOM)}${q}`, { token: u.token, body: { sessions: { s3: key(1) } } });
    expect(room.json).toEqual({ count: 3, etag: "2" });
    // A worse key (higher index, unverified) changes nothing, etag included.
    const worse = await call("PUT", `${C}/room_keys/keys/${enc(ROOM)}/s1${q}`, { token: u.token, body: key(9, false, 0, "worse") });
    expect(worse.json).toEqual({ count: 3, etag: "2" });
    // A verified key beats an unverified one even with a higher index; a lower index beats a higher one.
    expect((await call("PUT", `${C}/room_keys/keys/${enc(ROOM)}/s1${q}`, { token: u.token, body: key(7, true, 0, "verified") })).json).toEqual({ count: 3, etag: "3" });
    expect((await call("PUT", `${C}/room_keys/keys/${enc(ROOM)}/s3${q}`, { token: u.token, body: key(0, false, 0, "earlier") })).json).toEqual({ count: 3, etag: "4" });
    expect((await call("GET", `${C}/room_keys/keys/${enc(ROOM)}/s1${q}`, { token: u.token })).json).toEqual(key(7, true, 0, "verified"));
    expect((await call("GET", `${C}/room_keys/keys/${enc(ROOM)}${q}`, { token: u.token })).json).toEqual({ sessions: { s1: key(7, true, 0, "verified"), s2: key(0), s3: key(0, false, 0, "earlier") } });
    const everything = (await call("GET", `${C}/room_keys/keys${q}`, { token: u.token })).json;
    expect(Object.keys((everything["rooms"] as Record<string, { sessions: object }>)[ROOM]?.sessions ?? {}).sort()).toEqual(["s1", "s2", "s3"]);
    expect((await call("GET", `${C}/room_keys/version`, { token: u.token })).json).toMatchObject({ count: 3, etag: "4" });
    expectError(await call("GET", `${C}/room_keys/keys/${enc(ROOM)}/nosuch${q}`, { token: u.token }), 404, "M_NOT_FOUND");
    expect((await call("GET", `${C}/room_keys/keys/${enc("!empty:hub.test")}${q}`, { token: u.token })).json).toEqual({ sessions: {} });
    // Deleting at each level.
    expect((await call("DELETE", `${C}/room_keys/keys/${enc(ROOM)}/s1${q}`, { token: u.token })).json).toEqual({ count: 2, etag: "5" });
    expect((await call("DELETE", `${C}/room_keys/keys/${enc(ROOM)}${q}`, { token: u.token })).json).toEqual({ count: 0, etag: "6" });
  });

  it("refuses uploads to an old or unknown version and malformed keys, storing nothing", async () => {
    const u = await register("kbbad");
    await call("POST", `${C}/room_keys/version`, { token: u.token, body: { algorithm: ALG, auth_data: {} } });
    await call("POST", `${C}/room_keys/version`, { token: u.token, body: { algorithm: ALG, auth_data: {} } });
    const old = await call("PUT", `${C}/room_keys/keys?version=1`, { token: u.token, body: { rooms: { [ROOM]: { sessions: { s: key(0) } } } } });
    expect({ status: old.status, errcode: old.json["errcode"], current: old.json["current_version"] }).toEqual({ status: 403, errcode: "M_WRONG_ROOM_KEYS_VERSION", current: "2" });
    expectError(await call("PUT", `${C}/room_keys/keys?version=9`, { token: u.token, body: { rooms: {} } }), 404, "M_NOT_FOUND");
    expectError(await call("PUT", `${C}/room_keys/keys`, { token: u.token, body: { rooms: {} } }), 400, "M_MISSING_PARAM");
    expectError(await call("PUT", `${C}/room_keys/keys?version=2`, { token: u.token, body: { rooms: { [ROOM]: { sessions: { s: { ...key(0), is_verified: "yes" } } } } } }), 400, "M_BAD_JSON");
    expectError(await call("PUT", `${C}/room_keys/keys?version=2`, { token: u.token, body: { rooms: { "not-a-room": { sessions: {} } } } }), 400, "M_INVALID_PARAM");
    expectError(await call("POST", `${C}/room_keys/version`, { token: u.token, body: { algorithm: ALG, auth_data: "x" } }), 400, "M_BAD_JSON");
    expect((await call("GET", `${C}/room_keys/version`, { token: u.token })).json).toMatchObject({ count: 0, etag: "0", version: "2" });
  });
});
