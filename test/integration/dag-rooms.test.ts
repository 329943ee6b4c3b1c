// Full-mesh Matrix rooms created here (versions 11 and 12, durable-objects/room/matrix-dag.ts): the
// v12 room ID is the create event's hash and the create event carries no room_id; each local event
// names the previous one as its only parent with depth one more, and cites its auth events from the
// state before it; the events reach /messages in order, and refusals store nothing.

import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Pdu } from "../../shared/event.js";
import { C, call, enc, register } from "./client-helpers.js";

function room(roomId: string) {
  return env.ROOM.get(env.ROOM.idFromName(roomId));
}

async function pduOf(roomId: string, eventId: string): Promise<Pdu> {
  const e = await room(roomId).getEventJson(eventId);
  if (!e) throw new Error(`no event ${eventId}`);
  return JSON.parse(e.json) as Pdu;
}

describe.each(["11", "12"])("a room of version %s created here", (version) => {
  it("links each local event to the last one, with depth + 1 and auth events from the state before it", async () => {
    const alice = await register("dagalice");
    const created = await call("POST", `${C}/createRoom`, alice.token, { room_version: version, preset: "public_chat", name: "mesh" });
    expect(created.status).toBe(200);
    const roomId = created.json["room_id"] as string;
    const create = await call("GET", `${C}/rooms/${enc(roomId)}/state/m.room.create/?format=event`, alice.token);
    const createId = create.json["event_id"] as string;
    const createPdu = await pduOf(roomId, createId);
    if (version === "12") {
      expect(roomId).toBe(`!${createId.slice(1)}`);
      expect(createPdu.room_id).toBeUndefined();
    } else {
      expect(roomId.endsWith(":hub.test")).toBe(true);
      expect(createPdu.room_id).toBe(roomId);
    }
    expect(createPdu.depth).toBe(1);

    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const sent = await call("PUT", `${C}/rooms/${enc(roomId)}/send/m.room.message/t${i}`, alice.token, { msgtype: "m.text", body: `hello ${i}` });
      expect(sent.status).toBe(200);
      ids.push(sent.json["event_id"] as string);
    }
    const msgs = await pduOf(roomId, ids[2] as string);
    const prev = await pduOf(roomId, ids[1] as string);
    expect(msgs.prev_events).toEqual([ids[1]]);
    expect(msgs.depth).toBe((prev.depth as number) + 1);
    // Auth events: power levels and the sender's membership, and in v11 the create event too.
    const state = (await call("GET", `${C}/rooms/${enc(roomId)}/state`, alice.token)).json as unknown as Array<{ type: string; state_key: string; event_id: string }>;
    const id = (type: string, key = "") => state.find((e) => e.type === type && e.state_key === key)?.event_id;
    const expected = [id("m.room.power_levels"), id("m.room.member", alice.userId), ...(version === "11" ? [id("m.room.create")] : [])];
    expect([...msgs.auth_events].sort()).toEqual(expected.sort());

    const page = await call("GET", `${C}/rooms/${enc(roomId)}/messages?dir=b&limit=3`, alice.token);
    expect((page.json["chunk"] as Array<{ event_id: string }>).map((e) => e.event_id)).toEqual([...ids].reverse());
  });

  it("refuses an event the auth rules refuse and stores nothing of it", async () => {
    const alice = await register("dagowner");
    const bob = await register("dagmember");
    const roomId = (await call("POST", `${C}/createRoom`, alice.token, { room_version: version, preset: "public_chat" })).json["room_id"] as string;
    expect((await call("POST", `${C}/join/${enc(roomId)}`, bob.token, {})).status).toBe(200);
    const before = await room(roomId).info();
    const res = await call("PUT", `${C}/rooms/${enc(roomId)}/state/m.room.power_levels/`, bob.token, { users: { [bob.userId]: 100 } });
    expect([res.status, res.json["errcode"]]).toEqual([403, "M_FORBIDDEN"]);
    expect((await room(roomId).info())?.lastPos).toBe(before?.lastPos);
    // Bob's join is the room's one forward extremity, so the next event names it alone.
    const next = await call("PUT", `${C}/rooms/${enc(roomId)}/send/m.room.message/after`, bob.token, { msgtype: "m.text", body: "still here" });
    const joinId = (await room(roomId).stateEvent("m.room.member", bob.userId))?.eventId;
    expect((await pduOf(roomId, next.json["event_id"] as string)).prev_events).toEqual([joinId]);
  });
});

describe("room versions", () => {
  it("creates version 12 rooms whose creator is not listed in the power levels", async () => {
    const alice = await register("v12creator");
    const roomId = (await call("POST", `${C}/createRoom`, alice.token, { room_version: "12" })).json["room_id"] as string;
    const pl = await call("GET", `${C}/rooms/${enc(roomId)}/state/m.room.power_levels/`, alice.token);
    expect(pl.json["users"]).toEqual({});
    // Creators outrank every level: alice may still change the power levels.
    const res = await call("PUT", `${C}/rooms/${enc(roomId)}/state/m.room.power_levels/`, alice.token, { ...pl.json, ban: 60 });
    expect(res.status).toBe(200);
  });
});
