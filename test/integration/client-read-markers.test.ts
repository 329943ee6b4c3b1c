// Read markers, receipts and typing from the client API.
import { afterEach, describe, expect, it, vi } from "vitest";
import { C, call, register, enc, createRoom, send, expectError } from "./client-calls.js";

afterEach(() => {
  vi.restoreAllMocks();
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
