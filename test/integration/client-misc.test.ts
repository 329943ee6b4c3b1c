import { exports } from "cloudflare:workers";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { fakeServer, noWellKnown, serve, serveKeys, stubFetch } from "./fake-remote.js";

const SERVER = "hub.test";
const C = "/_matrix/client/v3";

afterEach(() => {
  vi.restoreAllMocks();
});

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
  return { status: res.status, json };
}

let counter = 0;
const uniqueName = (stem: string) => `${stem}${Date.now().toString(36)}${++counter}`;

interface User {
  userId: string;
  token: string;
}

async function register(stem: string): Promise<User> {
  const res = await call("POST", `${C}/register`, { body: { username: uniqueName(stem), password: "pw", auth: { type: "m.login.dummy" } } });
  expect(res.status).toBe(200);
  return { userId: res.json["user_id"] as string, token: res.json["access_token"] as string };
}

const enc = encodeURIComponent;

async function createRoom(u: User, body: Record<string, unknown> = {}): Promise<string> {
  const res = await call("POST", `${C}/createRoom`, { token: u.token, body });
  expect(res.status).toBe(200);
  return res.json["room_id"] as string;
}

async function join(u: User, roomId: string): Promise<void> {
  const res = await call("POST", `${C}/join/${enc(roomId)}`, { token: u.token, body: {} });
  expect(res.status).toBe(200);
}

let txn = 0;
async function send(u: User, roomId: string, text: string): Promise<string> {
  const res = await call("PUT", `${C}/rooms/${enc(roomId)}/send/m.room.message/t${++txn}`, { token: u.token, body: { msgtype: "m.text", body: text } });
  expect(res.status).toBe(200);
  return res.json["event_id"] as string;
}

async function memberContent(u: User, roomId: string, target: string): Promise<Record<string, unknown>> {
  const res = await call("GET", `${C}/rooms/${enc(roomId)}/state/m.room.member/${enc(target)}`, { token: u.token });
  expect(res.status).toBe(200);
  return res.json;
}

function expectError(res: { status: number; json: Record<string, unknown> }, status: number, errcode: string): void {
  expect({ status: res.status, errcode: res.json["errcode"] }).toEqual({ status, errcode });
}

// ----------------------------------------------------------------------------------------------

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

describe("room aliases", () => {
  let owner: User;
  let roomId: string;
  beforeAll(async () => {
    owner = await register("aliasowner");
    roomId = await createRoom(owner, { preset: "public_chat" });
  });

  it("maps a new alias to a room and resolves it with this server in servers", async () => {
    const alias = `#${uniqueName("lobby")}:hub.test`;
    expect(await call("PUT", `${C}/directory/room/${enc(alias)}`, { token: owner.token, body: { room_id: roomId } })).toEqual({ status: 200, json: {} });
    expect(await call("GET", `${C}/directory/room/${enc(alias)}`)).toEqual({ status: 200, json: { room_id: roomId, servers: ["hub.test"] } });
  });

  it("answers 409 M_UNKNOWN for an alias that is taken", async () => {
    const alias = `#${uniqueName("taken")}:hub.test`;
    await call("PUT", `${C}/directory/room/${enc(alias)}`, { token: owner.token, body: { room_id: roomId } });
    expectError(await call("PUT", `${C}/directory/room/${enc(alias)}`, { token: owner.token, body: { room_id: roomId } }), 409, "M_UNKNOWN");
  });

  it("rejects a room_id of the wrong type, an alias on another server and a room the user is not in", async () => {
    const alias = `#${uniqueName("bad")}:hub.test`;
    expectError(await call("PUT", `${C}/directory/room/${enc(alias)}`, { token: owner.token, body: { room_id: 7 } }), 400, "M_BAD_JSON");
    expectError(await call("PUT", `${C}/directory/room/${enc("#x:elsewhere.example")}`, { token: owner.token, body: { room_id: roomId } }), 400, "M_INVALID_PARAM");
    expectError(await call("PUT", `${C}/directory/room/not-an-alias`, { token: owner.token, body: { room_id: roomId } }), 400, "M_INVALID_PARAM");
    const outsider = await register("aliasout");
    expectError(await call("PUT", `${C}/directory/room/${enc(alias)}`, { token: outsider.token, body: { room_id: roomId } }), 403, "M_FORBIDDEN");
  });

  it("answers 404 M_NOT_FOUND for an unknown alias", async () => {
    expectError(await call("GET", `${C}/directory/room/${enc("#never-made:hub.test")}`), 404, "M_NOT_FOUND");
    const u = await register("aliasdel404");
    expectError(await call("DELETE", `${C}/directory/room/${enc("#never-made:hub.test")}`, { token: u.token }), 404, "M_NOT_FOUND");
  });

  it("lets the creator delete an alias, and a room moderator too, but not another member", async () => {
    const member = await register("aliasmember");
    await join(member, roomId);
    const mine = `#${uniqueName("mine")}:hub.test`;
    await call("PUT", `${C}/directory/room/${enc(mine)}`, { token: member.token, body: { room_id: roomId } });
    const theirs = `#${uniqueName("theirs")}:hub.test`;
    await call("PUT", `${C}/directory/room/${enc(theirs)}`, { token: owner.token, body: { room_id: roomId } });
    expectError(await call("DELETE", `${C}/directory/room/${enc(theirs)}`, { token: member.token }), 403, "M_FORBIDDEN");
    expect((await call("DELETE", `${C}/directory/room/${enc(mine)}`, { token: member.token })).status).toBe(200);
    expectError(await call("GET", `${C}/directory/room/${enc(mine)}`), 404, "M_NOT_FOUND");
    const again = `#${uniqueName("again")}:hub.test`;
    await call("PUT", `${C}/directory/room/${enc(again)}`, { token: member.token, body: { room_id: roomId } });
    expect((await call("DELETE", `${C}/directory/room/${enc(again)}`, { token: owner.token })).status).toBe(200);
  });

  it("resolves a remote alias through the alias server's federation directory query", async () => {
    const u = await register("aliasremote");
    const alias = "#chat:dir.remote.example";
    stubFetch(
      noWellKnown,
      serve(`https://dir.remote.example:8448/_matrix/federation/v1/query/directory?room_alias=${enc(alias)}`, {
        room_id: "!abc:dir.remote.example",
        servers: ["dir.remote.example"],
      }),
    );
    expect(await call("GET", `${C}/directory/room/${enc(alias)}`, { token: u.token })).toEqual({
      status: 200,
      json: { room_id: "!abc:dir.remote.example", servers: ["dir.remote.example"] },
    });
    expectError(await call("GET", `${C}/directory/room/${enc("#missing:dir.remote.example")}`, { token: u.token }), 404, "M_NOT_FOUND");
  });

  it("answers other servers' GET /_matrix/federation/v1/query/directory for local aliases", async () => {
    const alias = `#${uniqueName("fed")}:hub.test`;
    await call("PUT", `${C}/directory/room/${enc(alias)}`, { token: owner.token, body: { room_id: roomId } });
    const remote = await fakeServer("dirasker.remote.example");
    stubFetch(noWellKnown, serveKeys(remote, () => remote.keyDocument()));
    const ask = async (a: string) => {
      const uri = `/_matrix/federation/v1/query/directory?room_alias=${enc(a)}`;
      return call("GET", uri, { headers: { authorization: await remote.sign(SERVER, "GET", uri) } });
    };
    expect(await ask(alias)).toEqual({ status: 200, json: { room_id: roomId, servers: ["hub.test"] } });
    expectError(await ask("#never-made:hub.test"), 404, "M_NOT_FOUND");
  });
});

describe("GET /rooms/{roomId}/context/{eventId}", () => {
  it("returns the event with earlier events newest first, later events oldest first, state and /messages tokens", async () => {
    const u = await register("ctx");
    const roomId = await createRoom(u, { name: "Context" });
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) ids.push(await send(u, roomId, `m${i}`));
    const res = await call("GET", `${C}/rooms/${enc(roomId)}/context/${enc(ids[3] as string)}?limit=4`, { token: u.token });
    expect(res.status).toBe(200);
    const idsOf = (k: string) => (res.json[k] as Array<{ event_id: string }>).map((e) => e.event_id);
    expect((res.json["event"] as { event_id: string }).event_id).toBe(ids[3]);
    expect(idsOf("events_before")).toEqual([ids[2], ids[1]]);
    expect(idsOf("events_after")).toEqual([ids[4], ids[5]]);
    const state = res.json["state"] as Array<{ type: string; content: Record<string, unknown> }>;
    expect(state.find((e) => e.type === "m.room.name")?.content).toEqual({ name: "Context" });
    expect(state.some((e) => e.type === "m.room.create")).toBe(true);
    // The tokens continue the window through /messages without gaps or repeats.
    const back = await call("GET", `${C}/rooms/${enc(roomId)}/messages?dir=b&limit=1&from=${res.json["start"]}`, { token: u.token });
    expect((back.json["chunk"] as Array<{ event_id: string }>)[0]?.event_id).toBe(ids[0]);
    const fwd = await call("GET", `${C}/rooms/${enc(roomId)}/messages?dir=f&limit=1&from=${res.json["end"]}`, { token: u.token });
    expect((fwd.json["chunk"] as Array<{ event_id: string }>)[0]?.event_id).toBe(ids[6]);
  });

  it("returns only the event itself for limit=0", async () => {
    const u = await register("ctx0");
    const roomId = await createRoom(u);
    const id = await send(u, roomId, "alone");
    const res = await call("GET", `${C}/rooms/${enc(roomId)}/context/${enc(id)}?limit=0`, { token: u.token });
    expect(res.status).toBe(200);
    expect(res.json["events_before"]).toEqual([]);
    expect(res.json["events_after"]).toEqual([]);
    expect((res.json["event"] as { content: unknown }).content).toEqual({ msgtype: "m.text", body: "alone" });
  });

  it("answers 404 for an unknown event and 403 for a non-member", async () => {
    const u = await register("ctx404");
    const roomId = await createRoom(u);
    const id = await send(u, roomId, "x");
    expectError(await call("GET", `${C}/rooms/${enc(roomId)}/context/${enc("$doesnotexistdoesnotexist")}`, { token: u.token }), 404, "M_NOT_FOUND");
    const other = await register("ctxout");
    expectError(await call("GET", `${C}/rooms/${enc(roomId)}/context/${enc(id)}`, { token: other.token }), 403, "M_FORBIDDEN");
    expectError(await call("GET", `${C}/rooms/${enc(roomId)}/context/${enc(id)}?limit=-1`, { token: u.token }), 400, "M_INVALID_PARAM");
  });
});

describe("PUT /rooms/{roomId}/redact/{eventId}/{txnId}", () => {
  it("sends an m.room.redaction naming the target in content and at the top level, once per transaction ID", async () => {
    const u = await register("redact");
    const roomId = await createRoom(u);
    const target = await send(u, roomId, "oops");
    const path = `${C}/rooms/${enc(roomId)}/redact/${enc(target)}/r1`;
    const res = await call("PUT", path, { token: u.token, body: { reason: "typo" } });
    expect(res.status).toBe(200);
    const redactionId = res.json["event_id"] as string;
    expect((await call("PUT", path, { token: u.token, body: { reason: "typo" } })).json["event_id"]).toBe(redactionId);
    const ev = await call("GET", `${C}/rooms/${enc(roomId)}/event/${enc(redactionId)}`, { token: u.token });
    expect(ev.json["type"]).toBe("m.room.redaction");
    expect(ev.json["content"]).toEqual({ redacts: target, reason: "typo" });
    expect(ev.json["redacts"]).toBe(target);
  });

  it("redacts in a room version 11 room the same way", async () => {
    const u = await register("redact11");
    const roomId = await createRoom(u, { room_version: "11" });
    const target = await send(u, roomId, "v11 message");
    const res = await call("PUT", `${C}/rooms/${enc(roomId)}/redact/${enc(target)}/r11`, { token: u.token, body: {} });
    expect(res.status).toBe(200);
    const ev = await call("GET", `${C}/rooms/${enc(roomId)}/event/${enc(res.json["event_id"] as string)}`, { token: u.token });
    expect(ev.json["content"]).toEqual({ redacts: target });
    expect(ev.json["redacts"]).toBe(target);
  });

  it("lets a moderator redact someone else's event but not a member without the redact level", async () => {
    const owner = await register("redowner");
    const roomId = await createRoom(owner, { preset: "public_chat" });
    const member = await register("redmember");
    await join(member, roomId);
    const ownerMsg = await send(owner, roomId, "owner's");
    const memberMsg = await send(member, roomId, "member's");
    expectError(await call("PUT", `${C}/rooms/${enc(roomId)}/redact/${enc(ownerMsg)}/x1`, { token: member.token, body: {} }), 403, "M_FORBIDDEN");
    expect((await call("PUT", `${C}/rooms/${enc(roomId)}/redact/${enc(memberMsg)}/x2`, { token: member.token, body: {} })).status).toBe(200);
    expect((await call("PUT", `${C}/rooms/${enc(roomId)}/redact/${enc(memberMsg)}/x3`, { token: owner.token, body: {} })).status).toBe(200);
  });

  it("answers 404 for an unknown event and 400 M_BAD_JSON for a non-string reason", async () => {
    const u = await register("red404");
    const roomId = await createRoom(u);
    const target = await send(u, roomId, "x");
    expectError(await call("PUT", `${C}/rooms/${enc(roomId)}/redact/${enc("$nosuchevent0000")}/t`, { token: u.token, body: {} }), 404, "M_NOT_FOUND");
    expectError(await call("PUT", `${C}/rooms/${enc(roomId)}/redact/${enc(target)}/t`, { token: u.token, body: { reason: 5 } }), 400, "M_BAD_JSON");
  });
});

describe("account data", () => {
  it("stores and returns global and per-room account data for the user only", async () => {
    const u = await register("acct");
    const roomId = await createRoom(u);
    const global = `${C}/user/${enc(u.userId)}/account_data/org.example.settings`;
    expectError(await call("GET", global, { token: u.token }), 404, "M_NOT_FOUND");
    expect((await call("PUT", global, { token: u.token, body: { theme: "dark" } })).status).toBe(200);
    expect((await call("PUT", global, { token: u.token, body: { theme: "light" } })).status).toBe(200);
    expect(await call("GET", global, { token: u.token })).toEqual({ status: 200, json: { theme: "light" } });
    const perRoom = `${C}/user/${enc(u.userId)}/rooms/${enc(roomId)}/account_data/org.example.settings`;
    expectError(await call("GET", perRoom, { token: u.token }), 404, "M_NOT_FOUND");
    await call("PUT", perRoom, { token: u.token, body: { pinned: true } });
    expect(await call("GET", perRoom, { token: u.token })).toEqual({ status: 200, json: { pinned: true } });
    expect((await call("GET", global, { token: u.token })).json).toEqual({ theme: "light" });
  });

  it("refuses another user's account data, server-managed types, non-objects and bad room IDs", async () => {
    const u = await register("acctbad");
    const other = await register("acctother");
    expectError(await call("GET", `${C}/user/${enc(other.userId)}/account_data/x.y`, { token: u.token }), 403, "M_FORBIDDEN");
    expectError(await call("PUT", `${C}/user/${enc(other.userId)}/account_data/x.y`, { token: u.token, body: {} }), 403, "M_FORBIDDEN");
    expectError(await call("PUT", `${C}/user/${enc(u.userId)}/account_data/m.fully_read`, { token: u.token, body: {} }), 405, "M_BAD_JSON");
    const notObject = await call("PUT", `${C}/user/${enc(u.userId)}/account_data/x.y`, { token: u.token, rawBody: "[1,2]", headers: { "content-type": "application/json" } });
    expect(notObject.status).toBe(400);
    expect(["M_BAD_JSON", "M_NOT_JSON"]).toContain(notObject.json["errcode"]);
    expectError(await call("PUT", `${C}/user/${enc(u.userId)}/rooms/not-a-room/account_data/x.y`, { token: u.token, body: {} }), 400, "M_INVALID_PARAM");
  });
});

describe("read markers, receipts and typing", () => {
  it("keeps the fully-read marker as room account data and accepts read receipts", async () => {
    const u = await register("rm");
    const roomId = await createRoom(u);
    const id = await send(u, roomId, "read me");
    const res = await call("POST", `${C}/rooms/${enc(roomId)}/read_markers`, { token: u.token, body: { "m.fully_read": id, "m.read": id } });
    expect(res).toEqual({ status: 200, json: {} });
    const stored = await call("GET", `${C}/user/${enc(u.userId)}/rooms/${enc(roomId)}/account_data/m.fully_read`, { token: u.token });
    expect(stored.json).toEqual({ event_id: id });
    expect(await call("POST", `${C}/rooms/${enc(roomId)}/receipt/m.read/${enc(id)}`, { token: u.token, body: {} })).toEqual({ status: 200, json: {} });
    expect((await call("POST", `${C}/rooms/${enc(roomId)}/receipt/m.read.private/${enc(id)}`, { token: u.token, body: { thread_id: "main" } })).status).toBe(200);
  });

  it("rejects wrong types, unknown receipt types and non-members", async () => {
    const u = await register("rmbad");
    const roomId = await createRoom(u);
    const id = await send(u, roomId, "x");
    expectError(await call("POST", `${C}/rooms/${enc(roomId)}/read_markers`, { token: u.token, body: { "m.fully_read": 1 } }), 400, "M_BAD_JSON");
    expectError(await call("POST", `${C}/rooms/${enc(roomId)}/receipt/m.seen/${enc(id)}`, { token: u.token, body: {} }), 400, "M_INVALID_PARAM");
    expectError(await call("POST", `${C}/rooms/${enc(roomId)}/receipt/m.read/${enc(id)}`, { token: u.token, body: { thread_id: 3 } }), 400, "M_BAD_JSON");
    const other = await register("rmout");
    expectError(await call("POST", `${C}/rooms/${enc(roomId)}/receipt/m.read/${enc(id)}`, { token: other.token, body: {} }), 403, "M_FORBIDDEN");
  });

  it("accepts a typing notice for oneself only, with a boolean typing flag", async () => {
    const u = await register("typ");
    const other = await register("typother");
    const roomId = await createRoom(u);
    const path = (who: string) => `${C}/rooms/${enc(roomId)}/typing/${enc(who)}`;
    expect(await call("PUT", path(u.userId), { token: u.token, body: { typing: true, timeout: 30000 } })).toEqual({ status: 200, json: {} });
    expect((await call("PUT", path(u.userId), { token: u.token, body: { typing: false } })).status).toBe(200);
    expectError(await call("PUT", path(u.userId), { token: u.token, body: { typing: "yes" } }), 400, "M_BAD_JSON");
    expectError(await call("PUT", path(u.userId), { token: u.token, body: { typing: true, timeout: "soon" } }), 400, "M_BAD_JSON");
    expectError(await call("PUT", path(other.userId), { token: u.token, body: { typing: true } }), 403, "M_FORBIDDEN");
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

describe("account data in /sync", () => {
  it("delivers global and room account data on an initial sync, and a change on the next incremental sync", async () => {
    const u = await register("acct");
    const created = await call("POST", `${C}/createRoom`, { token: u.token, body: {} });
    const roomId = created.json["room_id"] as string;
    const enc = encodeURIComponent;
    await call("PUT", `${C}/user/${enc(u.userId)}/account_data/m.direct`, { token: u.token, body: { "@x:hub.test": [roomId] } });
    await call("PUT", `${C}/user/${enc(u.userId)}/rooms/${enc(roomId)}/account_data/org.example.tag`, { token: u.token, body: { pinned: true } });
    const first = await call("GET", `${C}/sync`, { token: u.token });
    expect(first.json["account_data"]).toEqual({ events: [{ type: "m.direct", content: { "@x:hub.test": [roomId] } }] });
    const room = (first.json["rooms"] as { join: Record<string, { account_data: { events: unknown[] } }> }).join[roomId];
    expect(room?.account_data.events).toEqual([{ type: "org.example.tag", content: { pinned: true } }]);

    await call("PUT", `${C}/user/${enc(u.userId)}/account_data/org.example.theme`, { token: u.token, body: { dark: true } });
    const next = await call("GET", `${C}/sync?since=${first.json["next_batch"] as string}&timeout=0`, { token: u.token });
    expect(next.json["account_data"]).toEqual({ events: [{ type: "org.example.theme", content: { dark: true } }] });
  });
});
