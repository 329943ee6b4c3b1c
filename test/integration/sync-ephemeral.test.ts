// Typing and read receipts in /sync: each room's `ephemeral` section shows who is typing (and when
// they stop, or their timeout lapses) and the members' read receipts.
import { describe, expect, it } from "vitest";
import { C, call, enc, register } from "./client-helpers.js";

let txn = 0;
async function send(token: string, roomId: string, body: string): Promise<string> {
  const r = await call("PUT", `${C}/rooms/${enc(roomId)}/send/m.room.message/e${++txn}`, token, { msgtype: "m.text", body });
  expect(r.status).toBe(200);
  return r.json["event_id"] as string;
}

async function createRoom(token: string, body: Record<string, unknown> = {}): Promise<string> {
  const r = await call("POST", `${C}/createRoom`, token, body);
  expect(r.status).toBe(200);
  return r.json["room_id"] as string;
}

describe("typing and receipts in /sync", () => {
  it("shows another member's typing and read receipt in the room's ephemeral section, and typing stopping", async () => {
    const alice = await register("syeph");
    const bob = await register("syephb");
    const room = await createRoom(alice.token, { preset: "public_chat" });
    expect((await call("POST", `${C}/join/${enc(room)}`, bob.token, {})).status).toBe(200);
    const id = await send(alice.token, room, "hi");
    const s0 = await call("GET", `${C}/sync`, alice.token);
    const since = s0.json["next_batch"] as string;
    expect((await call("PUT", `${C}/rooms/${enc(room)}/typing/${enc(bob.userId)}`, bob.token, { typing: true, timeout: 20_000 })).status).toBe(200);
    expect((await call("POST", `${C}/rooms/${enc(room)}/read_markers`, bob.token, { "m.read": id, "m.fully_read": id })).status).toBe(200);
    const s1 = await call("GET", `${C}/sync?since=${since}&timeout=5000`, alice.token);
    const ephemeral = ((s1.json["rooms"] as Record<string, Record<string, { ephemeral: { events: Array<{ type: string; content: Record<string, unknown> }> } }>>)["join"]?.[room])?.ephemeral.events ?? [];
    expect(ephemeral.find((e) => e.type === "m.typing")?.content).toEqual({ user_ids: [bob.userId] });
    expect((ephemeral.find((e) => e.type === "m.receipt")?.content as Record<string, Record<string, Record<string, unknown>>>)[id]?.["m.read"]?.[bob.userId]).toBeDefined();
    expect((await call("PUT", `${C}/rooms/${enc(room)}/typing/${enc(bob.userId)}`, bob.token, { typing: false })).status).toBe(200);
    const s2 = await call("GET", `${C}/sync?since=${s1.json["next_batch"] as string}&timeout=5000`, alice.token);
    const after = ((s2.json["rooms"] as Record<string, Record<string, { ephemeral: { events: Array<{ type: string; content: Record<string, unknown> }> } }>>)["join"]?.[room])?.ephemeral.events ?? [];
    expect(after.find((e) => e.type === "m.typing")?.content).toEqual({ user_ids: [] });
  });

  it("lets typing lapse after its timeout", async () => {
    const alice = await register("sylapse");
    const room = await createRoom(alice.token);
    expect((await call("PUT", `${C}/rooms/${enc(room)}/typing/${enc(alice.userId)}`, alice.token, { typing: true, timeout: 300 })).status).toBe(200);
    const s1 = await call("GET", `${C}/sync`, alice.token);
    const typingNow = (s1.json["rooms"] as Record<string, Record<string, { ephemeral: { events: Array<{ type: string; content: { user_ids?: string[] } }> } }>>)["join"]?.[room]?.ephemeral.events;
    expect(typingNow?.find((e) => e.type === "m.typing")?.content.user_ids).toEqual([alice.userId]);
    // The lapse itself wakes a waiting sync and reports nobody typing.
    const s2 = await call("GET", `${C}/sync?since=${s1.json["next_batch"] as string}&timeout=5000`, alice.token);
    const lapsed = (s2.json["rooms"] as Record<string, Record<string, { ephemeral: { events: Array<{ type: string; content: { user_ids?: string[] } }> } }>>)["join"]?.[room]?.ephemeral.events;
    expect(lapsed?.find((e) => e.type === "m.typing")?.content.user_ids).toEqual([]);
  });
});
