// The public room directory in workerd: rooms created public (or listed later) and their summaries,
// search and room-type filters, pagination, listing rights, the federation endpoints, and a remote
// server's directory asked over federation.
import { exports } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { C, call, enc, register } from "./client-helpers.js";
import { fakeServer, noWellKnown, serve, serveKeys, stubFetch } from "./fake-remote.js";

afterEach(() => {
  vi.restoreAllMocks();
});

type Chunk = Array<Record<string, unknown>>;
const tag = `dir${Date.now().toString(36)}`;

async function createRoom(token: string, body: Record<string, unknown>): Promise<string> {
  const res = await call("POST", `${C}/createRoom`, token, body);
  expect(res.status, JSON.stringify(res.json)).toBe(200);
  return res.json["room_id"] as string;
}

describe("public room directory", () => {
  it("lists public rooms with their summary, finds them by name, topic or alias, and pages through them", async () => {
    const a = await register("dir");
    const b = await register("dirb");
    const big = await createRoom(a.token, { visibility: "public", name: `${tag} Big room`, topic: "lots of people", room_alias_name: `${tag}big` });
    await call("POST", `${C}/join/${enc(big)}`, b.token, {});
    const small = await createRoom(a.token, { visibility: "public", name: `${tag} Small room` });
    const space = await createRoom(a.token, { visibility: "public", name: `${tag} Space`, creation_content: { type: "m.space" } });
    await createRoom(a.token, { name: `${tag} Private room` });

    const found = await call("POST", `${C}/publicRooms`, a.token, { filter: { generic_search_term: tag.toUpperCase() } });
    const chunk = found.json["chunk"] as Chunk;
    expect(chunk.map((r) => r["room_id"])).toEqual([big, ...[small, space].sort()]);
    expect(chunk[0]).toEqual({ room_id: big, name: `${tag} Big room`, topic: "lots of people", canonical_alias: `#${tag}big:hub.test`, num_joined_members: 2, world_readable: false, guest_can_join: false, join_rule: "public" });
    expect(chunk.find((r) => r["room_id"] === space)?.["room_type"]).toBe("m.space");
    expect(found.json["total_room_count_estimate"]).toBe(3);
    // By topic, by room type (null: rooms without a type).
    expect(((await call("POST", `${C}/publicRooms`, a.token, { filter: { generic_search_term: "LOTS OF" } })).json["chunk"] as Chunk).map((r) => r["room_id"])).toContain(big);
    const spaces = (await call("POST", `${C}/publicRooms`, a.token, { filter: { generic_search_term: tag, room_types: ["m.space"] } })).json["chunk"] as Chunk;
    expect(spaces.map((r) => r["room_id"])).toEqual([space]);
    const plain = (await call("POST", `${C}/publicRooms`, a.token, { filter: { generic_search_term: tag, room_types: [null] } })).json["chunk"] as Chunk;
    expect(plain.map((r) => r["room_id"])).toEqual([big, small]);
    // Pages of one.
    const first = await call("POST", `${C}/publicRooms`, a.token, { limit: 1, filter: { generic_search_term: tag } });
    expect((first.json["chunk"] as Chunk).map((r) => r["room_id"])).toEqual([big]);
    const second = await call("POST", `${C}/publicRooms`, a.token, { limit: 1, since: first.json["next_batch"], filter: { generic_search_term: tag } });
    expect((second.json["chunk"] as Chunk).length).toBe(1);
    expect(second.json["prev_batch"]).toBe("o0");
    // GET needs no token and lists the same rooms.
    const open = await call("GET", `${C}/publicRooms?limit=500`);
    expect((open.json["chunk"] as Chunk).map((r) => r["room_id"])).toEqual(expect.arrayContaining([big, small, space]));
    expect((await call("POST", `${C}/publicRooms`, a.token, { since: "garbage" })).json["errcode"]).toBe("M_INVALID_PARAM");
    expect((await call("POST", `${C}/publicRooms`, a.token, { filter: { room_types: "m.space" } })).json["errcode"]).toBe("M_BAD_JSON");
  });

  it("lists and unlists a room through /directory/list/room for members with the power to, and no one else", async () => {
    const a = await register("dirvis");
    const b = await register("dirvisb");
    const roomId = await createRoom(a.token, { preset: "public_chat", name: `${tag} Later` });
    const path = `${C}/directory/list/room/${enc(roomId)}`;
    expect((await call("GET", path)).json).toEqual({ visibility: "private" });
    expect((await call("PUT", path, b.token, { visibility: "public" })).json["errcode"]).toBe("M_FORBIDDEN");
    await call("POST", `${C}/join/${enc(roomId)}`, b.token, {});
    expect((await call("PUT", path, b.token, { visibility: "public" })).json["errcode"]).toBe("M_FORBIDDEN");
    expect((await call("PUT", path, a.token, { visibility: "public" })).status).toBe(200);
    expect((await call("GET", path)).json).toEqual({ visibility: "public" });
    const listed = (await call("POST", `${C}/publicRooms`, a.token, { filter: { generic_search_term: `${tag} Later` } })).json["chunk"] as Chunk;
    expect(listed.map((r) => r["room_id"])).toEqual([roomId]);
    expect((await call("PUT", path, a.token, { visibility: "private" })).status).toBe(200);
    expect((await call("POST", `${C}/publicRooms`, a.token, { filter: { generic_search_term: `${tag} Later` } })).json["chunk"]).toEqual([]);
    expect((await call("PUT", path, a.token, { visibility: "hidden" })).json["errcode"]).toBe("M_BAD_JSON");
    expect((await call("GET", `${C}/directory/list/room/${enc("!nosuch:hub.test")}`)).json["errcode"]).toBe("M_NOT_FOUND");
  });

  it("serves the directory to other servers, and asks another server's directory for a client", async () => {
    const a = await register("dirfed");
    const roomId = await createRoom(a.token, { visibility: "public", name: `${tag} Federated` });
    const remote = await fakeServer("dir.remote.example");
    stubFetch(noWellKnown, serveKeys(remote, () => remote.keyDocument()));
    const uri = "/_matrix/federation/v1/publicRooms?limit=500";
    const signed = await exports.default.fetch(new Request(`https://hub.test${uri}`, { headers: { authorization: await remote.sign("hub.test", "GET", uri) } }));
    const body = (await signed.json()) as { chunk: Chunk };
    expect(body.chunk.map((r) => r["room_id"])).toContain(roomId);
    const postBody = { filter: { generic_search_term: `${tag} Federated` } };
    const posted = await exports.default.fetch(
      new Request("https://hub.test/_matrix/federation/v1/publicRooms", { method: "POST", headers: { authorization: await remote.sign("hub.test", "POST", "/_matrix/federation/v1/publicRooms", postBody), "content-type": "application/json" }, body: JSON.stringify(postBody) }),
    );
    expect(((await posted.json()) as { chunk: Chunk }).chunk.map((r) => r["room_id"])).toEqual([roomId]);
    expect((await call("GET", "/_matrix/federation/v1/publicRooms")).status).toBe(401);

    vi.restoreAllMocks();
    const theirs = { chunk: [{ room_id: "!far:dir.remote.example", num_joined_members: 7, world_readable: false, guest_can_join: false }], total_room_count_estimate: 1 };
    const f = stubFetch(noWellKnown, serve("https://dir.remote.example:8448/_matrix/federation/v1/publicRooms", theirs));
    const asked = await call("POST", `${C}/publicRooms?server=dir.remote.example`, a.token, { limit: 5 });
    expect(asked.json).toEqual(theirs);
    expect(f.requests.find((r) => r.url.includes("/publicRooms"))?.headers.get("authorization")).toMatch(/^X-Matrix /);
  });
});
