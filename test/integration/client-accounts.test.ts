import { runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { RateLimiter } from "../../durable-objects/rate-limiter.js";

const SERVER = "hub.test";

interface CallOptions {
  body?: unknown;
  rawBody?: string;
  token?: string;
  headers?: Record<string, string>;
}

async function call(method: string, path: string, opts: CallOptions = {}) {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token !== undefined) headers["authorization"] = `Bearer ${opts.token}`;
  let body: string | undefined = opts.rawBody;
  if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers["content-type"] = "application/json";
  }
  const res = await exports.default.fetch(new Request(`https://${SERVER}${path}`, { method, headers, body }));
  const json = (await res.json()) as Record<string, unknown>;
  return { status: res.status, json, headers: res.headers };
}

let counter = 0;
/** A username no other test uses, so tests stay independent of order and of the rate limiter. */
const uniqueName = (stem: string) => `${stem}${Date.now().toString(36)}${++counter}`;

interface Session {
  user_id: string;
  access_token: string;
  device_id: string;
}

async function registerUser(username: string, password = "pw-" + username, extra: Record<string, unknown> = {}): Promise<Session> {
  const res = await call("POST", "/_matrix/client/v3/register", {
    body: { username, password, auth: { type: "m.login.dummy" }, ...extra },
  });
  expect(res.status).toBe(200);
  return res.json as unknown as Session;
}

async function login(body: Record<string, unknown>, headers: Record<string, string> = {}, prefix = "v3") {
  return call("POST", `/_matrix/client/${prefix}/login`, { body: { type: "m.login.password", ...body }, headers });
}

/** Every account row, so a test can show that a rejected request stored nothing. */
async function snapshot(): Promise<string> {
  const tables = ["users", "devices", "access_tokens"];
  const out: Record<string, unknown> = {};
  for (const t of tables) out[t] = (await env.DB.prepare(`SELECT * FROM ${t} ORDER BY 1, 2`).all()).results;
  return JSON.stringify(out);
}

async function sha256Hex(s: string): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(s)));
  return [...d].map((b) => b.toString(16).padStart(2, "0")).join("");
}

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

describe("login", () => {
  it("lists m.login.password as the login flow", async () => {
    const res = await call("GET", "/_matrix/client/v3/login");
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ flows: [{ type: "m.login.password" }] });
  });

  it("logs in by localpart, by full MXID and by the deprecated top-level user field", async () => {
    const username = uniqueName("login");
    const userId = `@${username}:${SERVER}`;
    await registerUser(username, "pw1");
    for (const who of [{ identifier: { type: "m.id.user", user: username } }, { identifier: { type: "m.id.user", user: userId } }, { user: username }]) {
      const res = await login({ ...who, password: "pw1" });
      expect(res.status, JSON.stringify(who)).toBe(200);
      expect(res.json["user_id"]).toBe(userId);
      expect(typeof res.json["access_token"]).toBe("string");
      expect(typeof res.json["device_id"]).toBe("string");
    }
  });

  it("treats the localpart case-insensitively", async () => {
    const username = uniqueName("case");
    await registerUser(username, "pw");
    const res = await login({ identifier: { type: "m.id.user", user: username.toUpperCase() }, password: "pw" });
    expect(res.status).toBe(200);
    expect(res.json["user_id"]).toBe(`@${username}:${SERVER}`);
  });

  it("rejects a wrong password, an unknown user and another server's user with 403 M_FORBIDDEN, storing nothing", async () => {
    const username = uniqueName("wrongpw");
    await registerUser(username, "right");
    const before = await snapshot();
    for (const body of [
      { identifier: { type: "m.id.user", user: username }, password: "wrong" },
      { identifier: { type: "m.id.user", user: uniqueName("nobody") }, password: "right" },
      { identifier: { type: "m.id.user", user: `@${username}:elsewhere.test` }, password: "right" },
    ]) {
      const res = await login(body);
      expect(res.status, JSON.stringify(body)).toBe(403);
      expect(res.json["errcode"]).toBe("M_FORBIDDEN");
    }
    expect(await snapshot()).toBe(before);
  });

  it("rejects unsupported login and identifier types with 400", async () => {
    const token = await login({ type: "m.login.token", token: "abc" });
    expect(token.status).toBe(400);
    expect(token.json["errcode"]).toBe("M_UNKNOWN");
    const phone = await login({ identifier: { type: "m.id.phone", country: "GB", phone: "1" }, password: "x" });
    expect(phone.status).toBe(400);
    expect(phone.json["errcode"]).toBe("M_UNKNOWN");
  });

  it("reusing a device_id replaces that device's previous token", async () => {
    const username = uniqueName("reuse");
    await registerUser(username, "pw");
    const first = await login({ user: username, password: "pw", device_id: "SAMEDEV" });
    expect((await call("GET", "/_matrix/client/v3/account/whoami", { token: first.json["access_token"] as string })).status).toBe(200);
    const second = await login({ user: username, password: "pw", device_id: "SAMEDEV" });
    expect(second.status).toBe(200);
    const old = await call("GET", "/_matrix/client/v3/account/whoami", { token: first.json["access_token"] as string });
    expect(old.status).toBe(401);
    expect(old.json["errcode"]).toBe("M_UNKNOWN_TOKEN");
    const fresh = await call("GET", "/_matrix/client/v3/account/whoami", { token: second.json["access_token"] as string });
    expect(fresh.json["device_id"]).toBe("SAMEDEV");
  });
});

describe("login flooding", () => {
  it("limits attempts per account with 429 M_LIMIT_EXCEEDED and a positive integer retry_after_ms", async () => {
    const username = uniqueName("flood");
    await registerUser(username, "right");
    const statuses: number[] = [];
    let limited: Awaited<ReturnType<typeof call>> | undefined;
    for (let i = 0; i < 20 && !limited; i++) {
      const res = await login({ identifier: { type: "m.id.user", user: username }, password: "wrong" });
      statuses.push(res.status);
      if (res.status === 429) limited = res;
    }
    expect(statuses.slice(0, -1).every((s) => s === 403)).toBe(true);
    expect(statuses.length).toBeGreaterThan(1);
    expect(limited?.json["errcode"]).toBe("M_LIMIT_EXCEEDED");
    const retry = limited?.json["retry_after_ms"];
    expect(Number.isInteger(retry)).toBe(true);
    expect(retry as number).toBeGreaterThan(0);
    expect(Number(limited?.headers.get("retry-after"))).toBeGreaterThan(0);
    // While limited, even the right password is refused, so guessing cannot continue.
    const right = await login({ identifier: { type: "m.id.user", user: `@${username}:${SERVER}` }, password: "right" });
    expect(right.status).toBe(429);
  });

  it("limits attempts per client address across different accounts", async () => {
    const headers = { "cf-connecting-ip": `203.0.113.${Date.now() % 250}` };
    const statuses: number[] = [];
    for (let i = 0; i < 30 && statuses.at(-1) !== 429; i++) {
      const res = await login({ identifier: { type: "m.id.user", user: uniqueName("spray") }, password: "x" }, headers);
      statuses.push(res.status);
      if (res.status === 429) {
        expect(res.json["errcode"]).toBe("M_LIMIT_EXCEEDED");
        expect(Number.isInteger(res.json["retry_after_ms"])).toBe(true);
        expect(res.json["retry_after_ms"] as number).toBeGreaterThan(0);
      }
    }
    expect(statuses.at(-1)).toBe(429);
    expect(statuses.slice(0, -1).every((s) => s === 403)).toBe(true);
    // Another address is not affected.
    const other = await login({ identifier: { type: "m.id.user", user: uniqueName("spray") }, password: "x" }, { "cf-connecting-ip": "198.51.100.1" });
    expect(other.status).toBe(403);
  });
});

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

describe("RateLimiter durable object", () => {
  const limiter = (key: string) => env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(key));

  it("allows a burst of `capacity`, then refuses with the wait until the next token", async () => {
    const key = uniqueName("burst");
    const stub = limiter(key);
    for (let i = 0; i < 3; i++) expect(await stub.take(key, 3, 0.5)).toEqual({ ok: true });
    const refused = await stub.take(key, 3, 0.5);
    expect(refused.ok).toBe(false);
    if (!refused.ok) {
      expect(Number.isInteger(refused.retryAfterMs)).toBe(true);
      expect(refused.retryAfterMs).toBeGreaterThan(0);
      expect(refused.retryAfterMs).toBeLessThanOrEqual(2000);
    }
  });

  it("refills over time at refillPerSecond", async () => {
    const key = uniqueName("refill");
    const stub = limiter(key);
    expect((await stub.take(key, 1, 50)).ok).toBe(true);
    const refused = await stub.take(key, 1, 50);
    expect(refused.ok).toBe(false);
    await new Promise((r) => setTimeout(r, 60));
    expect((await stub.take(key, 1, 50)).ok).toBe(true);
  });

  it("keeps separate buckets per key", async () => {
    const a = uniqueName("a");
    const b = uniqueName("b");
    expect((await limiter(a).take(a, 1, 0.01)).ok).toBe(true);
    expect((await limiter(a).take(a, 1, 0.01)).ok).toBe(false);
    expect((await limiter(b).take(b, 1, 0.01)).ok).toBe(true);
  });

  it("rejects nonsensical parameters", async () => {
    // Called on the instance directly: an exception thrown across RPC is also logged as uncaught.
    const key = uniqueName("bad");
    await runInDurableObject(limiter(key), (instance: RateLimiter) => {
      expect(() => instance.take(key, 0, 1)).toThrow(RangeError);
      expect(() => instance.take(key, 1, 0)).toThrow(RangeError);
      expect(() => instance.take(key, 1, Number.NaN)).toThrow(RangeError);
    });
  });
});
