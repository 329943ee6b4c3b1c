import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, uniqueName, registerUser, login, snapshot } from "./account-helpers.js";

describe("access tokens", () => {
  it("work as a Bearer header and as ?access_token=, and whoami reports the owner", async () => {
    const s = await registerUser(uniqueName("who"));
    const expected = { user_id: s.user_id, device_id: s.device_id, is_guest: false };
    const bearer = await call("GET", "/_matrix/client/v3/account/whoami", { token: s.access_token });
    expect(bearer.status).toBe(200);
    expect(bearer.json).toEqual(expected);
    const query = await call("GET", `/_matrix/client/v3/account/whoami?access_token=${encodeURIComponent(s.access_token)}`);
    expect(query.status).toBe(200);
    expect(query.json).toEqual(expected);
  });

  it("a missing token is 401 M_MISSING_TOKEN", async () => {
    for (const [method, path] of [
      ["GET", "/_matrix/client/v3/account/whoami"],
      ["POST", "/_matrix/client/v3/logout"],
      ["POST", "/_matrix/client/r0/logout/all"],
    ] as const) {
      const res = await call(method, path);
      expect(res.status).toBe(401);
      expect(res.json["errcode"]).toBe("M_MISSING_TOKEN");
    }
  });

  it("an unknown token is 401 M_UNKNOWN_TOKEN with soft_logout false", async () => {
    const res = await call("GET", "/_matrix/client/v3/account/whoami", { token: "sbt_not_a_real_token" });
    expect(res.status).toBe(401);
    expect(res.json["errcode"]).toBe("M_UNKNOWN_TOKEN");
    expect(res.json["soft_logout"]).toBe(false);
  });

  it("logout invalidates the token even though it was cached, deletes the device and spares other devices", async () => {
    const s = await registerUser(uniqueName("logout"), "pw");
    const other = await login({ user: s.user_id, password: "pw" });
    // Warm this isolate's token cache first.
    expect((await call("GET", "/_matrix/client/v3/account/whoami", { token: s.access_token })).status).toBe(200);

    const out = await call("POST", "/_matrix/client/v3/logout", { token: s.access_token });
    expect(out.status).toBe(200);
    expect(out.json).toEqual({});
    const after = await call("GET", "/_matrix/client/v3/account/whoami", { token: s.access_token });
    expect(after.status).toBe(401);
    expect(after.json["errcode"]).toBe("M_UNKNOWN_TOKEN");
    expect(after.json["soft_logout"]).toBe(false);
    expect(await env.DB.prepare("SELECT 1 FROM devices WHERE user_id = ? AND device_id = ?").bind(s.user_id, s.device_id).first()).toBeNull();

    const still = await call("GET", "/_matrix/client/v3/account/whoami", { token: other.json["access_token"] as string });
    expect(still.status).toBe(200);
  });

  it("logout/all invalidates every token and device of the user", async () => {
    const s = await registerUser(uniqueName("logoutall"), "pw");
    const other = await login({ user: s.user_id, password: "pw" });
    const otherToken = other.json["access_token"] as string;
    expect((await call("GET", "/_matrix/client/v3/account/whoami", { token: otherToken })).status).toBe(200);

    const out = await call("POST", "/_matrix/client/r0/logout/all", { token: s.access_token });
    expect(out.status).toBe(200);
    for (const token of [s.access_token, otherToken]) {
      const res = await call("GET", "/_matrix/client/v3/account/whoami", { token });
      expect(res.status).toBe(401);
      expect(res.json["errcode"]).toBe("M_UNKNOWN_TOKEN");
    }
    expect(await env.DB.prepare("SELECT 1 FROM devices WHERE user_id = ?").bind(s.user_id).first()).toBeNull();
    expect(await env.DB.prepare("SELECT 1 FROM access_tokens WHERE user_id = ?").bind(s.user_id).first()).toBeNull();
  });
});

describe("malformed bodies", () => {
  it("non-JSON bodies are 400 M_NOT_JSON and store nothing", async () => {
    const before = await snapshot();
    for (const [path, rawBody] of [
      ["/_matrix/client/v3/register", "not json"],
      ["/_matrix/client/v3/register", "[1,2]"],
      ["/_matrix/client/v3/login", "{"],
      ["/_matrix/client/v3/login", ""],
      ["/_matrix/client/r0/login", '"m.login.password"'],
    ] as const) {
      const res = await call("POST", path, { rawBody, headers: { "content-type": "application/json" } });
      expect(res.status, `${path} ${rawBody}`).toBe(400);
      expect(res.json["errcode"], `${path} ${rawBody}`).toBe("M_NOT_JSON");
    }
    expect(await snapshot()).toBe(before);
  });

  it("fields of the wrong type are 400 M_BAD_JSON and store nothing", async () => {
    const dummy = { type: "m.login.dummy" };
    const before = await snapshot();
    const cases: Array<[string, unknown]> = [
      ["register", { username: 42, password: "pw", auth: dummy }],
      ["register", { username: uniqueName("t"), password: true, auth: dummy }],
      ["register", { username: uniqueName("t"), password: "pw", inhibit_login: "yes", auth: dummy }],
      ["register", { username: uniqueName("t"), password: "pw", auth: "m.login.dummy" }],
      ["register", { username: uniqueName("t"), password: "pw", auth: { type: 7 } }],
      ["register", { username: uniqueName("t"), password: "pw", device_id: ["A"], auth: dummy }],
      ["login", { type: "m.login.password", user: "x", password: 123 }],
      ["login", { type: "m.login.password", identifier: "x", password: "pw" }],
      ["login", { type: ["m.login.password"], user: "x", password: "pw" }],
      ["login", { type: "m.login.password", identifier: { type: "m.id.user", user: 5 }, password: "pw" }],
    ];
    for (const [endpoint, body] of cases) {
      const res = await call("POST", `/_matrix/client/v3/${endpoint}`, { body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.json["errcode"], JSON.stringify(body)).toBe("M_BAD_JSON");
    }
    // Floats and duplicate keys are not Matrix JSON either.
    for (const rawBody of ['{"type":"m.login.password","user":"x","password":"p","n":1.5}', '{"type":"m.login.password","type":"x"}']) {
      const res = await call("POST", "/_matrix/client/v3/login", { rawBody });
      expect(res.status).toBe(400);
      expect(res.json["errcode"]).toBe("M_BAD_JSON");
    }
    expect(await snapshot()).toBe(before);
  });
});
