// Profiles: display names and avatars, and their propagation into room membership.
import { afterEach, describe, expect, it, vi } from "vitest";
import { fakeServer, noWellKnown, serve, serveKeys, stubFetch } from "./fake-remote.js";
import { SERVER, C, call, register, enc, createRoom, memberContent, expectError } from "./client-calls.js";

afterEach(() => {
  vi.restoreAllMocks();
});

describe("profiles", () => {
  it("starts empty, then stores and returns a display name and avatar", async () => {
    const u = await register("prof");
    const base = `${C}/profile/${enc(u.userId)}`;
    const empty = await call("GET", base);
    expect(empty).toEqual({ status: 200, json: {} });
    expectError(await call("GET", `${base}/displayname`), 404, "M_NOT_FOUND");
    expect((await call("PUT", `${base}/displayname`, { token: u.token, body: { displayname: "Alice" } })).status).toBe(200);
    expect((await call("PUT", `${base}/avatar_url`, { token: u.token, body: { avatar_url: "mxc://hub.test/abc123" } })).status).toBe(200);
    expect(await call("GET", `${base}/displayname`)).toEqual({ status: 200, json: { displayname: "Alice" } });
    expect(await call("GET", `${base}/avatar_url`)).toEqual({ status: 200, json: { avatar_url: "mxc://hub.test/abc123" } });
    expect((await call("GET", base)).json).toEqual({ displayname: "Alice", avatar_url: "mxc://hub.test/abc123" });
  });

  it("PUT profile/{userId} sets both fields at once and refuses custom fields", async () => {
    const u = await register("profall");
    const base = `${C}/profile/${enc(u.userId)}`;
    expect((await call("PUT", base, { token: u.token, body: { displayname: "Bo", avatar_url: "mxc://hub.test/bo" } })).status).toBe(200);
    expect((await call("GET", base)).json).toEqual({ displayname: "Bo", avatar_url: "mxc://hub.test/bo" });
    expectError(await call("PUT", base, { token: u.token, body: { "org.example.job": "x" } }), 400, "M_INVALID_PARAM");
    expectError(await call("PUT", `${base}/org.example.job`, { token: u.token, body: { "org.example.job": "x" } }), 400, "M_INVALID_PARAM");
  });

  it("publishes a change as a new join event in every joined room, keeping the other member content", async () => {
    const u = await register("profpub");
    const r1 = await createRoom(u);
    const r2 = await createRoom(u);
    const base = `${C}/profile/${enc(u.userId)}`;
    await call("PUT", `${base}/avatar_url`, { token: u.token, body: { avatar_url: "mxc://hub.test/face" } });
    await call("PUT", `${base}/displayname`, { token: u.token, body: { displayname: "Carol" } });
    for (const r of [r1, r2]) {
      expect(await memberContent(u, r, u.userId)).toEqual({ membership: "join", displayname: "Carol", avatar_url: "mxc://hub.test/face" });
    }
    const members = await call("GET", `${C}/rooms/${enc(r1)}/joined_members`, { token: u.token });
    expect((members.json["joined"] as Record<string, unknown>)[u.userId]).toEqual({ display_name: "Carol", avatar_url: "mxc://hub.test/face" });
  });

  it("DELETE of a field clears it in the profile and in member events", async () => {
    const u = await register("profdel");
    const r = await createRoom(u);
    const base = `${C}/profile/${enc(u.userId)}`;
    await call("PUT", `${base}/displayname`, { token: u.token, body: { displayname: "Dee" } });
    expect((await call("DELETE", `${base}/displayname`, { token: u.token })).status).toBe(200);
    expectError(await call("GET", `${base}/displayname`), 404, "M_NOT_FOUND");
    expect(await memberContent(u, r, u.userId)).toEqual({ membership: "join" });
  });

  it("rejects wrong types with 400 M_BAD_JSON and a non-mxc avatar with M_INVALID_PARAM", async () => {
    const u = await register("proftype");
    const base = `${C}/profile/${enc(u.userId)}`;
    expectError(await call("PUT", `${base}/displayname`, { token: u.token, body: { displayname: 42 } }), 400, "M_BAD_JSON");
    expectError(await call("PUT", `${base}/avatar_url`, { token: u.token, body: { avatar_url: ["mxc://x/y"] } }), 400, "M_BAD_JSON");
    expectError(await call("PUT", `${base}/avatar_url`, { token: u.token, body: { avatar_url: "https://example.org/a.png" } }), 400, "M_INVALID_PARAM");
    expectError(await call("PUT", `${base}/displayname`, { token: u.token, body: { displayname: "x".repeat(257) } }), 400, "M_BAD_JSON");
    expectError(await call("PUT", `${base}/displayname`, { token: u.token, body: {} }), 400, "M_MISSING_PARAM");
  });

  it("refuses changing another user's profile with 403", async () => {
    const a = await register("profa");
    const b = await register("profb");
    const res = await call("PUT", `${C}/profile/${enc(b.userId)}/displayname`, { token: a.token, body: { displayname: "Mallory" } });
    expectError(res, 403, "M_FORBIDDEN");
    expect((await call("GET", `${C}/profile/${enc(b.userId)}`)).json).toEqual({});
  });

  it("answers 404 M_NOT_FOUND for a local user that does not exist", async () => {
    expectError(await call("GET", `${C}/profile/${enc("@nobody-here:hub.test")}`), 404, "M_NOT_FOUND");
  });

  it("asks a remote user's server through the federation profile query when no room has their member event", async () => {
    const u = await register("profremote");
    const target = "@zed:profile.remote.example";
    const f = stubFetch(
      noWellKnown,
      serve(`https://profile.remote.example:8448/_matrix/federation/v1/query/profile?user_id=${enc(target)}`, { displayname: "Zed" }),
    );
    expect(await call("GET", `${C}/profile/${enc(target)}`, { token: u.token })).toEqual({ status: 200, json: { displayname: "Zed" } });
    const asked = f.requests.find((r) => r.url.includes("/query/profile"));
    expect(asked?.headers.get("authorization")).toMatch(/^X-Matrix /);
    expectError(await call("GET", `${C}/profile/${enc(target)}/avatar_url`, { token: u.token }), 404, "M_NOT_FOUND");
  });

  it("answers 404 for a remote user its server does not know, and needs a token for remote lookups", async () => {
    const u = await register("profremote404");
    stubFetch(noWellKnown);
    const target = "@ghost:gone.remote.example";
    expectError(await call("GET", `${C}/profile/${enc(target)}`, { token: u.token }), 404, "M_NOT_FOUND");
    expectError(await call("GET", `${C}/profile/${enc(target)}`), 401, "M_MISSING_TOKEN");
  });

  it("serves a local profile to other servers through GET /_matrix/federation/v1/query/profile", async () => {
    const u = await register("proffed");
    await call("PUT", `${C}/profile/${enc(u.userId)}/displayname`, { token: u.token, body: { displayname: "Fed" } });
    const remote = await fakeServer("asker.remote.example");
    stubFetch(noWellKnown, serveKeys(remote, () => remote.keyDocument()));
    const ask = async (query: string) => {
      const uri = `/_matrix/federation/v1/query/profile?${query}`;
      return call("GET", uri, { headers: { authorization: await remote.sign(SERVER, "GET", uri) } });
    };
    expect(await ask(`user_id=${enc(u.userId)}`)).toEqual({ status: 200, json: { displayname: "Fed" } });
    expect(await ask(`user_id=${enc(u.userId)}&field=avatar_url`)).toEqual({ status: 200, json: {} });
    expectError(await ask(`user_id=${enc("@nobody-here:hub.test")}`), 404, "M_NOT_FOUND");
    expectError(await call("GET", `/_matrix/federation/v1/query/profile?user_id=${enc(u.userId)}`), 401, "M_UNAUTHORIZED");
  });
});
