// Room aliases: creating, resolving and deleting them.
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { fakeServer, noWellKnown, serve, serveKeys, stubFetch } from "./fake-remote.js";
import { SERVER, C, call, uniqueName, type User, register, enc, createRoom, join, expectError } from "./client-calls.js";

afterEach(() => {
  vi.restoreAllMocks();
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
