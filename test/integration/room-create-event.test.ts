// A room has one m.room.create event: no member (not even the creator) can send another through
// the client API, in an LM room or a v11 room, and the refusal leaves state and timeline as they were.

import { env } from "cloudflare:workers";
import { C, call, enc, register } from "./client-helpers.js";
import { describe, expect, it } from "vitest";
import { LM_ROOM_VERSION_ID } from "../../shared/room-versions.js";

/** What must not move: the create event as served, the full state, and the timeline's newest event. */
async function snapshot(roomId: string, token: string) {
  const create = await call("GET", `${C}/rooms/${enc(roomId)}/state/m.room.create/?format=event`, token);
  const state = await call("GET", `${C}/rooms/${enc(roomId)}/state`, token);
  const info = await env.ROOM.get(env.ROOM.idFromName(roomId)).info();
  const ids = (state.json as unknown as Array<{ event_id: string }>).map((e) => e.event_id);
  return { create: { id: create.json["event_id"], sender: create.json["sender"], content: create.json["content"] }, state: ids, lastPos: info?.lastPos };
}

describe.each([
  ["an LM room", LM_ROOM_VERSION_ID],
  ["a v11 room", "11"],
  ["a v12 room", "12"],
])("a second m.room.create event in %s", (_name, roomVersion) => {
  it("is refused with 403 M_FORBIDDEN for a power-level-0 member and for the creator, changing nothing", async () => {
    const alice = await register("creator");
    const mallory = await register("usurper");
    const created = await call("POST", `${C}/createRoom`, alice.token, { preset: "public_chat", room_version: roomVersion });
    expect(created.status).toBe(200);
    const roomId = created.json["room_id"] as string;
    expect((await call("POST", `${C}/join/${enc(roomId)}`, mallory.token, {})).status).toBe(200);
    const before = await snapshot(roomId, alice.token);
    expect(before.create.sender).toBe(alice.userId);

    for (const who of [mallory, alice]) {
      const res = await call("PUT", `${C}/rooms/${enc(roomId)}/state/m.room.create/`, who.token, { room_version: roomVersion, creator: who.userId });
      expect([who.userId, res.status, res.json["errcode"]]).toEqual([who.userId, 403, "M_FORBIDDEN"]);
    }
    expect(await snapshot(roomId, alice.token)).toEqual(before);
  });
});
