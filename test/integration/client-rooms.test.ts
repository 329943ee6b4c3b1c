// The client errors around rooms that clients expect, and that nothing is stored when they happen.

import { exports } from "cloudflare:workers";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

const C = "/_matrix/client/v3";

async function call(method: string, path: string, token?: string, body?: unknown, rawBody?: string) {
  const headers: Record<string, string> = {};
  if (token) headers["authorization"] = `Bearer ${token}`;
  if (body !== undefined || rawBody !== undefined) headers["content-type"] = "application/json";
  const res = await exports.default.fetch(
    new Request(`https://hub.test${path}`, { method, headers, body: rawBody ?? (body === undefined ? undefined : JSON.stringify(body)) }),
  );
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

let n = 0;
async function register(stem: string): Promise<{ userId: string; token: string }> {
  const r = await call("POST", `${C}/register`, undefined, { username: `${stem}${++n}${Date.now().toString(36)}`, password: "pw-pw-pw-pw", auth: { type: "m.login.dummy" } });
  return { userId: r.json["user_id"] as string, token: r.json["access_token"] as string };
}

const eventCount = async (roomId: string) => (await env.ROOM.get(env.ROOM.idFromName(roomId)).info())?.lastPos ?? 0;

describe("room errors clients expect", () => {
  it("answers an event over 65,536 bytes of canonical JSON with 413 M_TOO_LARGE and stores nothing", async () => {
    const alice = await register("big");
    const roomId = (await call("POST", `${C}/createRoom`, alice.token, {})).json["room_id"] as string;
    const before = await eventCount(roomId);
    const res = await call("PUT", `${C}/rooms/${encodeURIComponent(roomId)}/send/m.room.message/t1`, alice.token, { msgtype: "m.text", body: "x".repeat(70_000) });
    expect(res.status).toBe(413);
    expect(res.json["errcode"]).toBe("M_TOO_LARGE");
    expect(await eventCount(roomId)).toBe(before);
  });

  it("answers a request body far over the cap with 413 M_TOO_LARGE before reading it all", async () => {
    const alice = await register("huge");
    const roomId = (await call("POST", `${C}/createRoom`, alice.token, {})).json["room_id"] as string;
    const res = await call("PUT", `${C}/rooms/${encodeURIComponent(roomId)}/send/m.room.message/t2`, alice.token, undefined, JSON.stringify({ body: "y".repeat(1_000_000) }));
    expect(res.status).toBe(413);
    expect(res.json["errcode"]).toBe("M_TOO_LARGE");
  });

  it("answers a send to a room the user is not in with 403 M_FORBIDDEN and stores nothing", async () => {
    const alice = await register("owner");
    const mallory = await register("outsider");
    const roomId = (await call("POST", `${C}/createRoom`, alice.token, {})).json["room_id"] as string;
    const before = await eventCount(roomId);
    const res = await call("PUT", `${C}/rooms/${encodeURIComponent(roomId)}/send/m.room.message/t3`, mallory.token, { msgtype: "m.text", body: "let me in" });
    expect(res.status).toBe(403);
    expect(res.json["errcode"]).toBe("M_FORBIDDEN");
    expect(await eventCount(roomId)).toBe(before);
  });

  it("answers a state change or a send by a user who is not in the room, or to a room not known here, with 403 M_FORBIDDEN", async () => {
    const alice = await register("keeper");
    const mallory = await register("stranger");
    const roomId = (await call("POST", `${C}/createRoom`, alice.token, { name: "Kept" })).json["room_id"] as string;
    const before = await eventCount(roomId);
    const state = await call("PUT", `${C}/rooms/${encodeURIComponent(roomId)}/state/m.room.name/`, mallory.token, { name: "Taken" });
    expect(state.status).toBe(403);
    expect(state.json["errcode"]).toBe("M_FORBIDDEN");
    expect(await eventCount(roomId)).toBe(before);
    const unknown = `!nowhere${Date.now()}:${roomId.split(":")[1]}`;
    const send = await call("PUT", `${C}/rooms/${encodeURIComponent(unknown)}/send/m.room.message/t9`, alice.token, { msgtype: "m.text", body: "anyone?" });
    expect(send.status).toBe(403);
    expect(send.json["errcode"]).toBe("M_FORBIDDEN");
  });

  it("answers a state change beyond the sender's power with 403 M_FORBIDDEN and keeps the state", async () => {
    const alice = await register("admin");
    const bob = await register("member");
    const roomId = (await call("POST", `${C}/createRoom`, alice.token, { preset: "public_chat", name: "Original" })).json["room_id"] as string;
    await call("POST", `${C}/join/${encodeURIComponent(roomId)}`, bob.token, {});
    const res = await call("PUT", `${C}/rooms/${encodeURIComponent(roomId)}/state/m.room.name/`, bob.token, { name: "Hijacked" });
    expect(res.status).toBe(403);
    expect(res.json["errcode"]).toBe("M_FORBIDDEN");
    const name = await call("GET", `${C}/rooms/${encodeURIComponent(roomId)}/state/m.room.name/`, alice.token);
    expect(name.json["name"]).toBe("Original");
  });

  it("answers an unknown room version with 400 M_UNSUPPORTED_ROOM_VERSION", async () => {
    const alice = await register("ver");
    const res = await call("POST", `${C}/createRoom`, alice.token, { room_version: "999" });
    expect(res.status).toBe(400);
    expect(res.json["errcode"]).toBe("M_UNSUPPORTED_ROOM_VERSION");
  });

  it("repeats a send with the same transaction ID without storing it twice", async () => {
    const alice = await register("txn");
    const roomId = (await call("POST", `${C}/createRoom`, alice.token, {})).json["room_id"] as string;
    const path = `${C}/rooms/${encodeURIComponent(roomId)}/send/m.room.message/same`;
    const first = await call("PUT", path, alice.token, { msgtype: "m.text", body: "once" });
    const before = await eventCount(roomId);
    const again = await call("PUT", path, alice.token, { msgtype: "m.text", body: "once" });
    expect(again.json["event_id"]).toBe(first.json["event_id"]);
    expect(await eventCount(roomId)).toBe(before);
  });
});

describe("redaction", () => {
  it("serves a redacted message stripped, with redacted_because, in /messages, /event and /sync", async () => {
    const alice = await register("red");
    const roomId = (await call("POST", `${C}/createRoom`, alice.token, {})).json["room_id"] as string;
    const r = encodeURIComponent(roomId);
    const sent = (await call("PUT", `${C}/rooms/${r}/send/m.room.message/m1`, alice.token, { msgtype: "m.text", body: "oops, secret" })).json["event_id"] as string;
    const red = await call("PUT", `${C}/rooms/${r}/redact/${encodeURIComponent(sent)}/r1`, alice.token, { reason: "typo" });
    expect(red.status).toBe(200);
    const redactionId = red.json["event_id"] as string;

    const event = await call("GET", `${C}/rooms/${r}/event/${encodeURIComponent(sent)}`, alice.token);
    expect(event.json["content"]).toEqual({});
    expect((event.json["unsigned"] as { redacted_because: { event_id: string } }).redacted_because.event_id).toBe(redactionId);

    const page = await call("GET", `${C}/rooms/${r}/messages?dir=b&limit=5`, alice.token);
    const inPage = (page.json["chunk"] as Array<{ event_id: string; content: Record<string, unknown> }>).find((e) => e.event_id === sent);
    expect(inPage?.content).toEqual({});

    const sync = await call("GET", `${C}/sync`, alice.token);
    const timeline = (sync.json["rooms"] as { join: Record<string, { timeline: { events: Array<{ event_id: string; content: Record<string, unknown> }> } }> }).join[roomId]?.timeline.events ?? [];
    expect(timeline.find((e) => e.event_id === sent)?.content).toEqual({});
  });

  it("does not strip another user's event for a sender without the redact level", async () => {
    const alice = await register("own");
    const bob = await register("low");
    const roomId = (await call("POST", `${C}/createRoom`, alice.token, { preset: "public_chat" })).json["room_id"] as string;
    const r = encodeURIComponent(roomId);
    await call("POST", `${C}/join/${r}`, bob.token, {});
    const sent = (await call("PUT", `${C}/rooms/${r}/send/m.room.message/k1`, alice.token, { msgtype: "m.text", body: "keep me" })).json["event_id"] as string;
    const red = await call("PUT", `${C}/rooms/${r}/redact/${encodeURIComponent(sent)}/r2`, bob.token, {});
    expect(red.status).toBe(403);
    const event = await call("GET", `${C}/rooms/${r}/event/${encodeURIComponent(sent)}`, alice.token);
    expect((event.json["content"] as { body: string }).body).toBe("keep me");
  });

  it("turns a redacted room name into no name in the room's state", async () => {
    const alice = await register("nm");
    const roomId = (await call("POST", `${C}/createRoom`, alice.token, { name: "Secret project" })).json["room_id"] as string;
    const r = encodeURIComponent(roomId);
    const nameEvent = await call("GET", `${C}/rooms/${r}/state/m.room.name/?format=event`, alice.token);
    await call("PUT", `${C}/rooms/${r}/redact/${encodeURIComponent(nameEvent.json["event_id"] as string)}/r3`, alice.token, {});
    const name = await call("GET", `${C}/rooms/${r}/state/m.room.name/`, alice.token);
    expect(name.json).toEqual({});
  });
});
