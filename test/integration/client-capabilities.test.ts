// The capabilities clients read at startup, and the other endpoints they probe.
import { afterEach, describe, expect, it, vi } from "vitest";
import { C, call, register, expectError } from "./client-calls.js";

afterEach(() => {
  vi.restoreAllMocks();
});

describe("GET /capabilities", () => {
  it("names the LM version as default, lists the versions rooms can be created in and allows profile changes only", async () => {
    const u = await register("caps");
    const res = await call("GET", `${C}/capabilities`, { token: u.token });
    expect(res.status).toBe(200);
    const caps = res.json["capabilities"] as Record<string, Record<string, unknown>>;
    expect(caps["m.room_versions"]?.["default"]).toBe("org.matrix.i-d.ralston-mimi-linearized-matrix.02");
    expect(caps["m.room_versions"]?.["available"]).toEqual({
      "org.matrix.i-d.ralston-mimi-linearized-matrix.02": "unstable",
      "11": "stable",
      "12": "stable",
    });
    expect(caps["m.change_password"]).toEqual({ enabled: false });
    expect(caps["m.set_displayname"]).toEqual({ enabled: true });
    expect(caps["m.set_avatar_url"]).toEqual({ enabled: true });
  });

  it("is served under r0 too and needs an access token", async () => {
    const u = await register("capsr0");
    expect((await call("GET", "/_matrix/client/r0/capabilities", { token: u.token })).status).toBe(200);
    expectError(await call("GET", `${C}/capabilities`), 401, "M_MISSING_TOKEN");
  });
});

describe("other endpoints clients probe", () => {
  it("answers GET voip/turnServer with no TURN servers", async () => {
    const u = await register("turn");
    expect(await call("GET", `${C}/voip/turnServer`, { token: u.token })).toEqual({ status: 200, json: {} });
  });

  it("leaves the MSC4143 RTC transports probe unrecognized", async () => {
    const u = await register("rtc");
    expectError(await call("GET", "/_matrix/client/unstable/org.matrix.msc4143/rtc/transports", { token: u.token }), 404, "M_UNRECOGNIZED");
  });
});
