// Space hierarchy in workerd: a space's child rooms and sub-spaces breadth-first with their summaries
// and m.space.child events, rooms the user may not see left out, suggested_only, max_depth, paging.
import { describe, expect, it } from "vitest";
import { C, call, enc, register } from "./client-helpers.js";

const V1 = "/_matrix/client/v1";
type HRoom = { room_id: string; name?: string; room_type?: string; num_joined_members: number; children_state: Array<{ state_key: string; content: Record<string, unknown> }> };

async function room(token: string, body: Record<string, unknown>): Promise<string> {
  const res = await call("POST", `${C}/createRoom`, token, body);
  expect(res.status).toBe(200);
  return res.json["room_id"] as string;
}

async function addChild(token: string, space: string, child: string, suggested = false): Promise<void> {
  const res = await call("PUT", `${C}/rooms/${enc(space)}/state/m.space.child/${enc(child)}`, token, { via: ["hub.test"], ...(suggested ? { suggested: true } : {}) });
  expect(res.status).toBe(200);
}

describe("space hierarchy", () => {
  it("walks a space breadth-first, shows what the user may see, and honours suggested_only, max_depth and limit", async () => {
    const owner = await register("space");
    const viewer = await register("spaceview");
    const space = await room(owner.token, { preset: "public_chat", name: "Space", creation_content: { type: "m.space" } });
    const lobby = await room(owner.token, { preset: "public_chat", name: "Lobby" });
    const secret = await room(owner.token, { preset: "private_chat", name: "Secret" });
    const sub = await room(owner.token, { preset: "public_chat", name: "Sub", creation_content: { type: "m.space" } });
    const deep = await room(owner.token, { preset: "public_chat", name: "Deep" });
    await addChild(owner.token, space, lobby, true);
    await addChild(owner.token, space, secret);
    await addChild(owner.token, space, sub);
    await addChild(owner.token, sub, deep);
    // A child event without `via` is no child.
    await call("PUT", `${C}/rooms/${enc(space)}/state/m.space.child/${enc("!gone:hub.test")}`, owner.token, {});
    expect((await call("POST", `${C}/join/${enc(space)}`, viewer.token, {})).status).toBe(200);

    const res = await call("GET", `${V1}/rooms/${enc(space)}/hierarchy`, viewer.token);
    expect(res.status).toBe(200);
    const rooms = res.json["rooms"] as HRoom[];
    // Siblings come in the order of their m.space.child state keys (the room IDs).
    const level1 = [[lobby, "Lobby"], [sub, "Sub"]].sort((a, b) => (a[0] as string).localeCompare(b[0] as string)).map((x) => x[1]);
    expect(rooms.map((r) => r.name)).toEqual(["Space", ...level1, "Deep"]);
    const top = rooms[0] as HRoom;
    expect(top).toMatchObject({ room_id: space, room_type: "m.space", num_joined_members: 2, join_rule: "public" });
    expect(top.children_state.map((c) => c.state_key).sort()).toEqual([lobby, secret, sub].sort());
    expect(top.children_state.find((c) => c.state_key === lobby)?.content).toEqual({ via: ["hub.test"], suggested: true });
    // The owner, a member of the private room, sees it too.
    const ownerView = (await call("GET", `${V1}/rooms/${enc(space)}/hierarchy`, owner.token)).json["rooms"] as HRoom[];
    expect(ownerView.map((r) => r.name)).toContain("Secret");

    const suggested = (await call("GET", `${V1}/rooms/${enc(space)}/hierarchy?suggested_only=true`, viewer.token)).json["rooms"] as HRoom[];
    expect(suggested.map((r) => r.name)).toEqual(["Space", "Lobby"]);
    const shallow = (await call("GET", `${V1}/rooms/${enc(space)}/hierarchy?max_depth=0`, viewer.token)).json["rooms"] as HRoom[];
    expect(shallow.map((r) => r.name)).toEqual(["Space"]);
    const page1 = await call("GET", `${V1}/rooms/${enc(space)}/hierarchy?limit=2`, viewer.token);
    expect((page1.json["rooms"] as HRoom[]).length).toBe(2);
    const page2 = await call("GET", `${V1}/rooms/${enc(space)}/hierarchy?limit=2&from=${page1.json["next_batch"] as string}`, viewer.token);
    expect((page2.json["rooms"] as HRoom[]).map((r) => r.name)).toEqual(rooms.slice(2).map((r) => r.name));
    expect(page2.json["next_batch"]).toBeUndefined();

    const stranger = await register("spacestranger");
    expect((await call("GET", `${V1}/rooms/${enc(space)}/hierarchy`, stranger.token)).json["errcode"]).toBe("M_FORBIDDEN");
    expect((await call("GET", `${V1}/rooms/${enc(space)}/hierarchy?from=x`, viewer.token)).json["errcode"]).toBe("M_INVALID_PARAM");
  });
});
