// User directory search in workerd: users sharing a room with the searcher and members of public
// rooms are found by user ID or display name; others are not.
import { describe, expect, it } from "vitest";
import { C, call, enc, register } from "./client-helpers.js";

type Result = { user_id: string; display_name?: string };
const search = async (token: string, term: string, limit?: number) => (await call("POST", `${C}/user_directory/search`, token, { search_term: term, ...(limit !== undefined ? { limit } : {}) })).json;

describe("user directory", () => {
  it("finds room-mates and public-room members by ID or display name, and not strangers", async () => {
    const tag = `ud${Date.now().toString(36)}`;
    const me = await register(`${tag}me`);
    const mate = await register(`${tag}mate`);
    const pub = await register(`${tag}pub`);
    const stranger = await register(`${tag}stranger`);
    const shared = (await call("POST", `${C}/createRoom`, me.token, { preset: "private_chat", invite: [mate.userId] })).json["room_id"] as string;
    expect((await call("POST", `${C}/join/${enc(shared)}`, mate.token, {})).status).toBe(200);
    await call("PUT", `${C}/profile/${enc(mate.userId)}/displayname`, mate.token, { displayname: "Zebra Mate" });
    await call("POST", `${C}/createRoom`, pub.token, { visibility: "public", name: "open" });
    await call("POST", `${C}/createRoom`, stranger.token, { name: "closed" });

    const byId = (await search(me.token, tag))["results"] as Result[];
    expect(byId.map((r) => r.user_id).sort()).toEqual([me.userId, mate.userId, pub.userId].sort());
    const byName = await search(me.token, "zebra");
    expect(byName["results"]).toEqual([{ user_id: mate.userId, display_name: "Zebra Mate" }]);
    expect(byName["limited"]).toBe(false);
    const limited = await search(me.token, tag, 1);
    expect((limited["results"] as Result[]).length).toBe(1);
    expect(limited["limited"]).toBe(true);
    expect(((await search(me.token, "stranger"))["results"] as Result[]).map((r) => r.user_id)).not.toContain(stranger.userId);
    expect((await call("POST", `${C}/user_directory/search`, me.token, { search_term: 5 })).json["errcode"]).toBe("M_BAD_JSON");
    expect((await call("POST", `${C}/user_directory/search`, undefined, { search_term: "x" })).status).toBe(401);
  });
});
