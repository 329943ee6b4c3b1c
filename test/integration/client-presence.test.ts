// Presence through the client API in workerd: set and read one's status, refused for others, and
// shown in /sync to users sharing a room (all on an initial sync, changes on an incremental one).
import { describe, expect, it } from "vitest";
import { C, call, enc, register } from "./client-helpers.js";

type Presence = { type: string; sender: string; content: Record<string, unknown> };
const presenceOf = (sync: Record<string, unknown>) => (sync["presence"] as { events: Presence[] }).events;

describe("presence", () => {
  it("sets and reads a status, refuses setting someone else's and bad states", async () => {
    const a = await register("pres");
    const b = await register("presb");
    expect((await call("GET", `${C}/presence/${enc(a.userId)}/status`, b.token)).json).toEqual({ presence: "offline" });
    expect((await call("PUT", `${C}/presence/${enc(a.userId)}/status`, a.token, { presence: "online", status_msg: "here" })).status).toBe(200);
    const seen = await call("GET", `${C}/presence/${enc(a.userId)}/status`, b.token);
    expect(seen.json).toMatchObject({ presence: "online", status_msg: "here", currently_active: true });
    expect(typeof seen.json["last_active_ago"]).toBe("number");
    expect((await call("PUT", `${C}/presence/${enc(a.userId)}/status`, b.token, { presence: "offline" })).json["errcode"]).toBe("M_FORBIDDEN");
    expect((await call("PUT", `${C}/presence/${enc(a.userId)}/status`, a.token, { presence: "busy" })).json["errcode"]).toBe("M_INVALID_PARAM");
    expect((await call("PUT", `${C}/presence/${enc(a.userId)}/status`, a.token, { presence: "online", status_msg: 5 })).json["errcode"]).toBe("M_BAD_JSON");
    expect((await call("GET", `${C}/presence/${enc("@nobody:hub.test")}/status`, a.token)).json["errcode"]).toBe("M_NOT_FOUND");
    expect((await call("GET", `${C}/presence/${enc(a.userId)}/status`, a.token)).json).toMatchObject({ presence: "online", status_msg: "here" });
  });

  it("shows room-mates' presence in /sync: all on an initial sync, a change on the next incremental sync, and no one else's", async () => {
    const a = await register("psync");
    const b = await register("psyncb");
    const outsider = await register("psyncout");
    const roomId = (await call("POST", `${C}/createRoom`, a.token, { preset: "public_chat" })).json["room_id"] as string;
    expect((await call("POST", `${C}/join/${enc(roomId)}`, b.token, {})).status).toBe(200);
    await call("PUT", `${C}/presence/${enc(b.userId)}/status`, b.token, { presence: "unavailable", status_msg: "lunch" });
    await call("PUT", `${C}/presence/${enc(outsider.userId)}/status`, outsider.token, { presence: "online" });
    const initial = await call("GET", `${C}/sync?timeout=0`, a.token);
    const events = presenceOf(initial.json);
    expect(events.map((e) => e.sender)).toEqual([b.userId]);
    expect(events[0]).toMatchObject({ type: "m.presence", content: { presence: "unavailable", status_msg: "lunch", currently_active: false } });
    const next = initial.json["next_batch"] as string;
    // Nothing changed: a short poll shows no presence.
    expect(presenceOf((await call("GET", `${C}/sync?timeout=0&since=${next}`, a.token)).json)).toEqual([]);
    // A change wakes a waiting sync and shows up there.
    const waiting = call("GET", `${C}/sync?timeout=10000&since=${next}`, a.token);
    await new Promise((r) => setTimeout(r, 200));
    await call("PUT", `${C}/presence/${enc(b.userId)}/status`, b.token, { presence: "online" });
    const woke = await waiting;
    expect(presenceOf(woke.json).map((e) => [e.sender, e.content["presence"]])).toEqual([[b.userId, "online"]]);
  });
});
