import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { SERVER, call, uniqueName, registerUser, login, snapshot, sha256Hex, type Session } from "./account-helpers.js";

describe("GET /_matrix/client/versions", () => {
  it("advertises r0.6.1 and v1.1 through v1.11, and simplified sliding sync as its one unstable feature", async () => {
    const res = await call("GET", "/_matrix/client/versions");
    expect(res.status).toBe(200);
    const versions = res.json["versions"] as string[];
    expect(versions).toContain("r0.6.1");
    for (let i = 1; i <= 11; i++) expect(versions).toContain(`v1.${i}`);
    expect(res.json["unstable_features"]).toEqual({ "org.matrix.simplified_msc3575": true });
  });
});

describe("registration", () => {
  it("runs the matrix-js-sdk dance: 401 with flows and session, then dummy auth creates the account", async () => {
    const username = uniqueName("jssdk");
    const first = await call("POST", "/_matrix/client/v3/register", {
      body: { username, password: "s3cret", initial_device_display_name: "Jungle Phone" },
    });
    expect(first.status).toBe(401);
    expect(first.json["flows"]).toEqual([{ stages: ["m.login.dummy"] }]);
    expect(first.json["params"]).toEqual({});
    expect(typeof first.json["session"]).toBe("string");
    expect((first.json["session"] as string).length).toBeGreaterThan(10);
    expect(first.json).not.toHaveProperty("errcode");
    expect(await env.DB.prepare("SELECT 1 FROM users WHERE user_id = ?").bind(`@${username}:${SERVER}`).first()).toBeNull();

    const second = await call("POST", "/_matrix/client/v3/register", {
      body: {
        username,
        password: "s3cret",
        initial_device_display_name: "Jungle Phone",
        auth: { type: "m.login.dummy", session: first.json["session"] },
      },
    });
    expect(second.status).toBe(200);
    const s = second.json as unknown as Session;
    expect(s.user_id).toBe(`@${username}:${SERVER}`);
    expect(typeof s.access_token).toBe("string");
    expect(typeof s.device_id).toBe("string");

    const user = await env.DB.prepare("SELECT password_hash FROM users WHERE user_id = ?").bind(s.user_id).first<{ password_hash: string }>();
    expect(user?.password_hash).toMatch(/^pbkdf2-sha256\$100000\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/);
    const device = await env.DB.prepare("SELECT display_name FROM devices WHERE user_id = ? AND device_id = ?")
      .bind(s.user_id, s.device_id)
      .first<{ display_name: string }>();
    expect(device?.display_name).toBe("Jungle Phone");
  });

  it("stores access tokens only as SHA-256 hashes", async () => {
    const s = await registerUser(uniqueName("hashed"));
    const rows = (await env.DB.prepare("SELECT token_hash FROM access_tokens WHERE user_id = ?").bind(s.user_id).all<{ token_hash: string }>()).results;
    expect(rows.map((r) => r.token_hash)).toEqual([await sha256Hex(s.access_token)]);
    const leaked = await env.DB.prepare("SELECT 1 FROM access_tokens WHERE token_hash = ?").bind(s.access_token).first();
    expect(leaked).toBeNull();
  });

  it("accepts matrix-nio's dummy auth up front on r0, then r0 login and ?access_token= work", async () => {
    const username = uniqueName("nio");
    const reg = await call("POST", "/_matrix/client/r0/register", {
      body: { username, password: "niopass", auth: { type: "m.login.dummy" } },
    });
    expect(reg.status).toBe(200);
    expect(reg.json["user_id"]).toBe(`@${username}:${SERVER}`);

    const res = await login({ identifier: { type: "m.id.user", user: username }, password: "niopass", device_id: "NIODEVICE" }, {}, "r0");
    expect(res.status).toBe(200);
    expect(res.json["device_id"]).toBe("NIODEVICE");
    const who = await call("GET", `/_matrix/client/r0/account/whoami?access_token=${encodeURIComponent(res.json["access_token"] as string)}`);
    expect(who.status).toBe(200);
    expect(who.json).toEqual({ user_id: `@${username}:${SERVER}`, device_id: "NIODEVICE", is_guest: false });
  });

  it("generates a valid user ID when no username is given", async () => {
    const res = await call("POST", "/_matrix/client/v3/register", { body: { password: "pw", auth: { type: "m.login.dummy" } } });
    expect(res.status).toBe(200);
    expect(res.json["user_id"]).toMatch(new RegExp(`^@[a-z0-9]+:${SERVER.replace(".", "\\.")}$`));
  });

  it("honours a client-chosen device_id", async () => {
    const s = await registerUser(uniqueName("dev"), "pw", { device_id: "MYPHONE" });
    expect(s.device_id).toBe("MYPHONE");
  });

  it("with inhibit_login returns only user_id and creates no device or token", async () => {
    const username = uniqueName("inhibit");
    const res = await call("POST", "/_matrix/client/v3/register", {
      body: { username, password: "pw", inhibit_login: true, auth: { type: "m.login.dummy" } },
    });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ user_id: `@${username}:${SERVER}` });
    const userId = `@${username}:${SERVER}`;
    expect(await env.DB.prepare("SELECT 1 FROM devices WHERE user_id = ?").bind(userId).first()).toBeNull();
    expect(await env.DB.prepare("SELECT 1 FROM access_tokens WHERE user_id = ?").bind(userId).first()).toBeNull();
    expect((await login({ identifier: { type: "m.id.user", user: username }, password: "pw" })).status).toBe(200);
  });

  it("refuses a taken username with M_USER_IN_USE, before and after auth, storing nothing", async () => {
    const username = uniqueName("taken");
    await registerUser(username);
    const before = await snapshot();
    for (const auth of [undefined, { type: "m.login.dummy" }]) {
      const res = await call("POST", "/_matrix/client/v3/register", { body: { username, password: "other", auth } });
      expect(res.status).toBe(400);
      expect(res.json["errcode"]).toBe("M_USER_IN_USE");
    }
    expect(await snapshot()).toBe(before);
  });

  it("refuses invalid usernames with M_INVALID_USERNAME, storing nothing", async () => {
    // "@" + localpart + ":" + "hub.test" must stay within 255 characters.
    const tooLong = "a".repeat(255 - `@:${SERVER}`.length + 1);
    const fits = "b".repeat(255 - `@:${SERVER}`.length) + Date.now().toString(36);
    const before = await snapshot();
    for (const username of ["Alice", "al ice", "", tooLong, fits, "@bob:hub.test", "bob:x", "émile", "a\u0000b"]) {
      const res = await call("POST", "/_matrix/client/v3/register", {
        body: { username, password: "pw", auth: { type: "m.login.dummy" } },
      });
      expect(res.status, JSON.stringify(username)).toBe(400);
      expect(res.json["errcode"], JSON.stringify(username)).toBe("M_INVALID_USERNAME");
    }
    expect(await snapshot()).toBe(before);
  });

  it("accepts a username whose user ID is exactly 255 characters", async () => {
    const stem = uniqueName("max");
    const username = stem + "x".repeat(255 - `@:${SERVER}`.length - stem.length);
    const s = await registerUser(username);
    expect(s.user_id).toHaveLength(255);
  });

  it("refuses guest registration with 403 M_GUEST_ACCESS_FORBIDDEN", async () => {
    const before = await snapshot();
    const res = await call("POST", "/_matrix/client/v3/register?kind=guest", { body: {} });
    expect(res.status).toBe(403);
    expect(res.json["errcode"]).toBe("M_GUEST_ACCESS_FORBIDDEN");
    expect(await snapshot()).toBe(before);
  });

  it("refuses auth types other than m.login.dummy and a missing password, storing nothing", async () => {
    const before = await snapshot();
    const wrongType = await call("POST", "/_matrix/client/v3/register", {
      body: { username: uniqueName("badauth"), password: "pw", auth: { type: "m.login.recaptcha" } },
    });
    expect(wrongType.status).toBe(400);
    expect(wrongType.json["errcode"]).toBe("M_UNRECOGNIZED");
    const noPassword = await call("POST", "/_matrix/client/v3/register", {
      body: { username: uniqueName("nopw"), auth: { type: "m.login.dummy" } },
    });
    expect(noPassword.status).toBe(400);
    expect(noPassword.json["errcode"]).toBe("M_MISSING_PARAM");
    expect(await snapshot()).toBe(before);
  });

  it("answers an empty object with the auth flows, and no body at all with 400 M_NOT_JSON", async () => {
    const res = await call("POST", "/_matrix/client/v3/register", { body: {} });
    expect(res.status).toBe(401);
    expect(res.json["flows"]).toEqual([{ stages: ["m.login.dummy"] }]);
    const none = await call("POST", "/_matrix/client/v3/register");
    expect([none.status, none.json["errcode"]]).toEqual([400, "M_NOT_JSON"]);
  });
});

describe("GET register/available", () => {
  it("says available for a free valid name and errors for taken, invalid or missing names", async () => {
    const free = await call("GET", `/_matrix/client/v3/register/available?username=${uniqueName("free")}`);
    expect(free.status).toBe(200);
    expect(free.json).toEqual({ available: true });

    const username = uniqueName("avail");
    await registerUser(username);
    const taken = await call("GET", `/_matrix/client/r0/register/available?username=${username}`);
    expect(taken.status).toBe(400);
    expect(taken.json["errcode"]).toBe("M_USER_IN_USE");

    const invalid = await call("GET", "/_matrix/client/v3/register/available?username=Not%20Valid");
    expect(invalid.status).toBe(400);
    expect(invalid.json["errcode"]).toBe("M_INVALID_USERNAME");

    const missing = await call("GET", "/_matrix/client/v3/register/available");
    expect(missing.status).toBe(400);
    expect(missing.json["errcode"]).toBe("M_MISSING_PARAM");
  });
});
