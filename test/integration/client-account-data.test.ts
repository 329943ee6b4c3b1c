// Account data, global and per room, and its delivery in /sync.
import { afterEach, describe, expect, it, vi } from "vitest";
import { C, call, register, enc, createRoom, expectError } from "./client-calls.js";

afterEach(() => {
  vi.restoreAllMocks();
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
