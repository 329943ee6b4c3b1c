// GET /rooms/{roomId}/context/{eventId}: the events around one event.
import { afterEach, describe, expect, it, vi } from "vitest";
import { C, call, register, enc, createRoom, send, expectError } from "./client-calls.js";

afterEach(() => {
  vi.restoreAllMocks();
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
