// PUT /rooms/{roomId}/redact/{eventId}/{txnId}: redacting events.
import { afterEach, describe, expect, it, vi } from "vitest";
import { C, call, register, enc, createRoom, join, send, expectError } from "./client-calls.js";

afterEach(() => {
  vi.restoreAllMocks();
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
