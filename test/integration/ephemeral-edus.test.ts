// Typing and receipt EDUs from another server are believed only for its own users who are joined
// to the room: a server that names our users, or users of its own outside the room, changes
// nothing, and the transaction still succeeds (EDUs never fail it). Presence EDUs are accepted.
import { exports } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { LM_PREFIX } from "../../shared/federation-paths.js";
import { C, call, enc, register } from "./client-helpers.js";
import { fakeServer, noWellKnown, serveKeys, stubFetch } from "./fake-remote.js";

afterEach(() => {
  vi.restoreAllMocks();
});

type Ephemeral = Array<{ type: string; content: Record<string, unknown> }>;

async function ephemeralOf(token: string, roomId: string): Promise<Ephemeral> {
  const s = await call("GET", `${C}/sync`, token);
  return ((s.json["rooms"] as { join: Record<string, { ephemeral?: { events: Ephemeral } }> }).join[roomId]?.ephemeral?.events ?? []) as Ephemeral;
}

describe("typing and receipt EDUs from other servers", () => {
  it("ignores typing and receipts for users the sending server does not own or who are not in the room, and accepts presence", async () => {
    const alice = await register("eduvictim");
    const room = await call("POST", `${C}/createRoom`, alice.token, { preset: "public_chat" });
    const roomId = room.json["room_id"] as string;
    const sent = await call("PUT", `${C}/rooms/${enc(roomId)}/send/m.room.message/e1`, alice.token, { msgtype: "m.text", body: "hi" });
    const eventId = sent.json["event_id"] as string;
    const remote = await fakeServer("edu.remote.example");
    stubFetch(noWellKnown, serveKeys(remote, () => remote.keyDocument()));
    const outsider = "@mallory:edu.remote.example";
    const receipt = (userId: string) => ({ edu_type: "m.receipt", content: { [roomId]: { "m.read": { [userId]: { event_ids: [eventId], data: { ts: 1 } } } } } });
    const body = {
      origin: remote.name,
      origin_server_ts: Date.now(),
      pdus: [],
      edus: [
        { edu_type: "m.typing", content: { room_id: roomId, user_id: outsider, typing: true } },
        { edu_type: "m.typing", content: { room_id: roomId, user_id: alice.userId, typing: true } },
        receipt(outsider),
        receipt(alice.userId),
        { edu_type: "m.presence", content: { push: [{ user_id: outsider, presence: "online", last_active_ago: 5 }] } },
        { edu_type: "m.typing", content: "not an object" },
      ],
    };
    const path = `${LM_PREFIX}/send/edus1`;
    const res = await exports.default.fetch(
      new Request(`https://hub.test${path}`, { method: "PUT", headers: { authorization: await remote.sign("hub.test", "PUT", path, body), "content-type": "application/json" }, body: JSON.stringify(body) }),
    );
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ failed_pdus: {} });
    const events = await ephemeralOf(alice.token, roomId);
    expect(events.find((e) => e.type === "m.typing")).toBeUndefined();
    expect(events.find((e) => e.type === "m.receipt")).toBeUndefined();
    // Alice's own typing still shows: the room works, it just believed none of the above.
    expect((await call("PUT", `${C}/rooms/${enc(roomId)}/typing/${enc(alice.userId)}`, alice.token, { typing: true })).status).toBe(200);
    expect((await ephemeralOf(alice.token, roomId)).find((e) => e.type === "m.typing")?.content).toEqual({ user_ids: [alice.userId] });
  });

  it("refuses a receipt for an event the room does not have with 404 M_NOT_FOUND", async () => {
    const alice = await register("edunoevent");
    const room = await call("POST", `${C}/createRoom`, alice.token, {});
    const roomId = room.json["room_id"] as string;
    const r = await call("POST", `${C}/rooms/${enc(roomId)}/receipt/m.read/${enc("$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")}`, alice.token, {});
    expect(r.status).toBe(404);
    expect(r.json["errcode"]).toBe("M_NOT_FOUND");
    expect((await ephemeralOf(alice.token, roomId)).find((e) => e.type === "m.receipt")).toBeUndefined();
  });
});
