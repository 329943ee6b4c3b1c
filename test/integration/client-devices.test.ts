// Devices and pushers through the client API in workerd: listing and renaming devices, deleting them
// behind m.login.password user-interactive auth (tokens, keys and pushers go with them, and users
// sharing a room hear of it), and pushers set, updated and deleted.
import { describe, expect, it } from "vitest";
import { C, call, createRoom, expectError, join, login, register, sync, uploadOk, type Session } from "./keys.helpers.js";

const devicesOf = async (s: Session) => ((await call("GET", `${C}/devices`, { token: s.token })).json["devices"] as Array<Record<string, unknown>>);

const pusher = (pushkey: string, extra: Record<string, unknown> = {}) => ({
  pushkey,
  kind: "http",
  app_id: "org.example.app",
  app_display_name: "Example",
  device_display_name: "Phone",
  lang: "en",
  data: { url: "https://push.example/_matrix/push/v1/notify", format: "event_id_only" },
  ...extra,
});

describe("devices", () => {
  it("lists, reads and renames the user's devices", async () => {
    const a = await register("dev", "DEVA");
    await login(a, "DEVB", "Laptop");
    expect((await devicesOf(a)).map((d) => [d["device_id"], d["display_name"]])).toEqual([
      ["DEVA", undefined],
      ["DEVB", "Laptop"],
    ]);
    expect((await call("PUT", `${C}/devices/DEVA`, { token: a.token, body: { display_name: "Desktop" } })).status).toBe(200);
    expect((await call("GET", `${C}/devices/DEVA`, { token: a.token })).json).toEqual({ device_id: "DEVA", display_name: "Desktop" });
    // An absent display_name changes nothing.
    expect((await call("PUT", `${C}/devices/DEVA`, { token: a.token, body: {} })).status).toBe(200);
    expect((await call("GET", `${C}/devices/DEVA`, { token: a.token })).json["display_name"]).toBe("Desktop");
    expectError(await call("GET", `${C}/devices/NOPE`, { token: a.token }), 404, "M_NOT_FOUND");
    expectError(await call("PUT", `${C}/devices/NOPE`, { token: a.token, body: { display_name: "x" } }), 404, "M_NOT_FOUND");
    expectError(await call("PUT", `${C}/devices/DEVA`, { token: a.token, body: { display_name: 5 } }), 400, "M_BAD_JSON");
    // Another user's device is not ours to see.
    const b = await register("devother", "DEVA");
    expect((await devicesOf(b)).map((d) => d["device_id"])).toEqual(["DEVA"]);
  });

  it("deletes a device only after m.login.password auth, and its tokens, keys and pushers go with it while room-mates hear of it", async () => {
    const a = await register("devdel", "KEEP");
    const gone = await login(a, "GONE");
    await uploadOk(gone, { device_keys: await gone.keys.deviceKeys({ olm: true, mls: false }) });
    expect((await call("POST", `${C}/pushers/set`, { token: gone.token, body: pusher("k-gone") })).status).toBe(200);
    const mate = await register("devmate");
    const roomId = await createRoom(a);
    await join(mate, roomId);
    const since = (await sync(mate)).next_batch;

    const first = await call("DELETE", `${C}/devices/GONE`, { token: a.token, body: {} });
    expect(first.status).toBe(401);
    expect(first.json["flows"]).toEqual([{ stages: ["m.login.password"] }]);
    const session = first.json["session"] as string;
    expect(typeof session).toBe("string");
    const wrong = await call("DELETE", `${C}/devices/GONE`, { token: a.token, body: { auth: { type: "m.login.password", identifier: { type: "m.id.user", user: a.userId }, password: "wrong", session } } });
    expect({ status: wrong.status, errcode: wrong.json["errcode"], flows: wrong.json["flows"] }).toEqual({ status: 401, errcode: "M_FORBIDDEN", flows: [{ stages: ["m.login.password"] }] });
    const otherUser = await call("DELETE", `${C}/devices/GONE`, { token: a.token, body: { auth: { type: "m.login.password", identifier: { type: "m.id.user", user: mate.userId }, password: "pw", session } } });
    expect(otherUser.status).toBe(401);
    expect((await devicesOf(a)).map((d) => d["device_id"])).toEqual(["KEEP", "GONE"]);

    const ok = await call("DELETE", `${C}/devices/GONE`, { token: a.token, body: { auth: { type: "m.login.password", identifier: { type: "m.id.user", user: a.userId }, password: "pw", session } } });
    expect(ok.status, JSON.stringify(ok.json)).toBe(200);
    expect((await devicesOf(a)).map((d) => d["device_id"])).toEqual(["KEEP"]);
    expectError(await call("GET", `${C}/account/whoami`, { token: gone.token }), 401, "M_UNKNOWN_TOKEN");
    const keys = await call("POST", `${C}/keys/query`, { token: mate.token, body: { device_keys: { [a.userId]: [] } } });
    expect((keys.json["device_keys"] as Record<string, unknown>)[a.userId]).toEqual({});
    expect((await call("GET", `${C}/pushers`, { token: a.token })).json).toEqual({ pushers: [] });
    const later = await sync(mate, since);
    expect(later.device_lists.changed).toContain(a.userId);
  });

  it("deletes several devices with POST /delete_devices behind the same auth", async () => {
    const a = await register("devmany", "D0");
    await login(a, "D1");
    await login(a, "D2");
    const body = { devices: ["D1", "D2", "UNKNOWN"] };
    const challenge = await call("POST", `${C}/delete_devices`, { token: a.token, body });
    expect(challenge.status).toBe(401);
    expect((await devicesOf(a)).length).toBe(3);
    const ok = await call("POST", `${C}/delete_devices`, { token: a.token, body: { ...body, auth: { type: "m.login.password", user: a.userId, password: "pw", session: challenge.json["session"] } } });
    expect(ok.status).toBe(200);
    expect((await devicesOf(a)).map((d) => d["device_id"])).toEqual(["D0"]);
    expectError(await call("POST", `${C}/delete_devices`, { token: a.token, body: { devices: "D0" } }), 400, "M_BAD_JSON");
  });
});

describe("pushers", () => {
  it("creates, updates and deletes (kind null) a pusher, and refuses a malformed one", async () => {
    const a = await register("push");
    expect((await call("GET", `${C}/pushers`, { token: a.token })).json).toEqual({ pushers: [] });
    expect((await call("POST", `${C}/pushers/set`, { token: a.token, body: pusher("key1") })).status).toBe(200);
    expect((await call("POST", `${C}/pushers/set`, { token: a.token, body: pusher("key1", { device_display_name: "Tablet" }) })).status).toBe(200);
    const listed = (await call("GET", `${C}/pushers`, { token: a.token })).json["pushers"] as Array<Record<string, unknown>>;
    expect(listed).toEqual([{ ...pusher("key1"), device_display_name: "Tablet" }]);
    expectError(await call("POST", `${C}/pushers/set`, { token: a.token, body: pusher("key2", { data: { url: "https://push.example/elsewhere" } }) }), 400, "M_INVALID_PARAM");
    expectError(await call("POST", `${C}/pushers/set`, { token: a.token, body: pusher("key2", { app_id: undefined }) }), 400, "M_MISSING_PARAM");
    expect((await call("GET", `${C}/pushers`, { token: a.token })).json["pushers"]).toHaveLength(1);
    expect((await call("POST", `${C}/pushers/set`, { token: a.token, body: { pushkey: "key1", app_id: "org.example.app", kind: null } })).status).toBe(200);
    expect((await call("GET", `${C}/pushers`, { token: a.token })).json).toEqual({ pushers: [] });
  });
});
