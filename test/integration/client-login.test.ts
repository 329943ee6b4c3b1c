import { describe, expect, it } from "vitest";
import { SERVER, call, uniqueName, registerUser, login, snapshot } from "./account-helpers.js";

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
