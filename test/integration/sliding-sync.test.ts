// Simplified sliding sync (MSC4186) driven the way Element X drives it: a `room-list` connection
// whose list range grows, room subscriptions with a longer timeline, and an `encryption` connection
// with the to_device and e2ee extensions; typing, receipts and account data through their
// extensions. Every response is checked against the MSC's shapes.
import { describe, expect, it } from "vitest";
import { C, call, enc, register } from "./client-helpers.js";

const SS = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync";

/** The required_state Element X asks for its room list (PROTOCOL-NOTES, "What Element X needs"). */
const EX_REQUIRED_STATE = [
  ["m.room.encryption", ""],
  ["m.room.member", "$LAZY"],
  ["m.room.member", "$ME"],
  ["m.room.name", ""],
  ["m.room.topic", ""],
  ["m.room.avatar", ""],
  ["m.room.canonical_alias", ""],
  ["m.room.power_levels", ""],
  ["m.room.join_rules", ""],
  ["m.room.create", ""],
  ["m.room.tombstone", ""],
  ["m.room.history_visibility", ""],
  ["org.matrix.msc3401.call.member", "*"],
  ["m.space.parent", "*"],
];

interface RoomResult {
  initial?: boolean;
  name?: string | null;
  heroes?: Array<{ user_id: string; displayname?: string }>;
  required_state?: Array<{ type: string; state_key: string; content?: Record<string, unknown>; event_id?: string }>;
  timeline?: Array<{ type: string; event_id: string; sender: string; content: Record<string, unknown> }>;
  prev_batch?: string;
  limited?: boolean;
  num_live?: number;
  joined_count?: number;
  invited_count?: number;
  bump_stamp?: number;
  membership?: string;
  lists?: string[];
  expanded_timeline?: boolean;
  invite_state?: Array<{ type: string; state_key: string; content: Record<string, unknown> }>;
}

interface SlidingResponse {
  pos: string;
  lists: Record<string, { count: number }>;
  rooms: Record<string, RoomResult>;
  extensions: {
    to_device?: { next_batch: string; events: Array<{ sender: string; type: string; content: Record<string, unknown> }> };
    e2ee?: { device_lists: { changed: string[]; left: string[] }; device_one_time_keys_count: Record<string, number>; device_unused_fallback_key_types: string[] };
    account_data?: { global: Array<{ type: string; content: Record<string, unknown> }>; rooms: Record<string, Array<{ type: string }>> };
    receipts?: { rooms: Record<string, { type: "m.receipt"; content: Record<string, Record<string, Record<string, { ts: number }>>> }> };
    typing?: { rooms: Record<string, { type: "m.typing"; content: { user_ids: string[] } }> };
  };
}

async function ss(token: string, body: unknown, q: { pos?: string; timeout?: number } = {}) {
  const params = new URLSearchParams();
  if (q.pos !== undefined) params.set("pos", q.pos);
  if (q.timeout !== undefined) params.set("timeout", String(q.timeout));
  const r = await call("POST", `${SS}${params.size > 0 ? `?${params}` : ""}`, token, body);
  return r as { status: number; json: SlidingResponse & Record<string, unknown> };
}

async function ok(token: string, body: unknown, q: { pos?: string; timeout?: number } = {}): Promise<SlidingResponse> {
  const r = await ss(token, body, q);
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  expectResponseShape(r.json);
  return r.json;
}

/** MSC4186 "Response Body": pos is a string; lists carry counts; room fields have their types. */
function expectResponseShape(r: SlidingResponse): void {
  expect(typeof r.pos).toBe("string");
  for (const l of Object.values(r.lists)) expect(Number.isSafeInteger(l.count)).toBe(true);
  for (const room of Object.values(r.rooms)) {
    if (room.membership === "invite") {
      expect(Array.isArray(room.invite_state)).toBe(true);
      continue;
    }
    expect(Array.isArray(room.timeline)).toBe(true);
    expect(Array.isArray(room.required_state)).toBe(true);
    expect(typeof room.prev_batch).toBe("string");
    expect(typeof room.bump_stamp).toBe("number");
    expect(typeof room.joined_count).toBe("number");
    expect(typeof room.invited_count).toBe("number");
    if (room.initial !== undefined) expect(room.initial).toBe(true);
    for (const e of room.required_state ?? []) expect(typeof e.state_key).toBe("string");
  }
}

const roomList = (range: [number, number], extra: Record<string, unknown> = {}) => ({
  conn_id: "room-list",
  lists: { all_rooms: { ranges: [range], timeline_limit: 1, required_state: EX_REQUIRED_STATE, filters: {} } },
  extensions: { account_data: { enabled: true }, receipts: { enabled: true, rooms: ["*"] }, typing: { enabled: true } },
  ...extra,
});

let txn = 0;
async function send(token: string, roomId: string, body: string): Promise<string> {
  const r = await call("PUT", `${C}/rooms/${enc(roomId)}/send/m.room.message/t${++txn}`, token, { msgtype: "m.text", body });
  expect(r.status).toBe(200);
  return r.json["event_id"] as string;
}

async function createRoom(token: string, body: Record<string, unknown> = {}): Promise<string> {
  const r = await call("POST", `${C}/createRoom`, token, body);
  expect(r.status).toBe(200);
  return r.json["room_id"] as string;
}

async function whoami(token: string): Promise<string> {
  return (await call("GET", `${C}/account/whoami`, token)).json["device_id"] as string;
}

describe("sliding sync as Element X drives it", () => {
  it("grows the room list's range, answers room subscriptions, and carries a two-user conversation with its extensions", async () => {
    const alice = await register("ssalice");
    const bob = await register("ssbob");
    // 21 rooms: the first window [[0,19]] shows 20 of them, the grown one the last.
    const rooms: string[] = [];
    for (let i = 0; i < 21; i++) rooms.push(await createRoom(alice.token, { name: `Room ${i}` }));
    // A tag on the room the first window leaves out comes with that room, when the range reaches it.
    expect((await call("PUT", `${C}/user/${enc(alice.userId)}/rooms/${enc(rooms[0] as string)}/account_data/m.tag`, alice.token, { tags: { "u.old": {} } })).status).toBe(200);
    const first = await ok(alice.token, roomList([0, 19]), { timeout: 30_000 });
    expect(first.lists["all_rooms"]?.count).toBe(21);
    expect(Object.keys(first.rooms)).toHaveLength(20);
    // Most recent activity first: the room created first is the one left out.
    expect(first.rooms[rooms[0] as string]).toBeUndefined();
    const newest = first.rooms[rooms[20] as string] as RoomResult;
    expect(newest.initial).toBe(true);
    expect(newest.name).toBe("Room 20");
    expect(newest.lists).toEqual(["all_rooms"]);
    expect(newest.membership).toBe("join");
    expect(newest.joined_count).toBe(1);
    expect(newest.timeline).toHaveLength(1);
    expect(newest.limited).toBe(true);
    // Exactly what was asked: create, name, power levels, join rules, history visibility, and $ME.
    const stateTypes = new Set(newest.required_state?.map((e) => `${e.type}|${e.state_key}`));
    for (const t of ["m.room.create|", "m.room.name|", "m.room.power_levels|", "m.room.join_rules|", "m.room.history_visibility|", `m.room.member|${alice.userId}`]) expect(stateTypes).toContain(t);
    expect(newest.required_state?.every((e) => e.type !== "m.room.member" || e.state_key === alice.userId)).toBe(true);
    expect(first.extensions.account_data).toEqual({ global: [], rooms: {} });

    // The grown range sends only the room the first window left out.
    const grown = await ok(alice.token, roomList([0, 20]), { pos: first.pos, timeout: 0 });
    expect(Object.keys(grown.rooms)).toEqual([rooms[0]]);
    expect(grown.rooms[rooms[0] as string]?.initial).toBe(true);
    expect(grown.extensions.account_data).toEqual({ global: [], rooms: { [rooms[0] as string]: [{ type: "m.tag", content: { tags: { "u.old": {} } } }] } });

    // Unchanged rooms are not sent again; a subscription with a larger timeline expands one room.
    const sub = await ok(alice.token, { ...roomList([0, 20]), room_subscriptions: { [rooms[5] as string]: { timeline_limit: 20, required_state: [["*", "*"]] } } }, { pos: grown.pos, timeout: 0 });
    expect(Object.keys(sub.rooms)).toEqual([rooms[5]]);
    const expanded = sub.rooms[rooms[5] as string] as RoomResult;
    expect(expanded.initial).toBeUndefined();
    expect(expanded.expanded_timeline).toBe(true);
    expect((expanded.timeline ?? []).length).toBeGreaterThan(1);
    expect(expanded.timeline?.[0]?.type).toBe("m.room.create");

    // The conversation: alice invites bob to a DM; bob's own room list shows the invite.
    const dm = await createRoom(alice.token, { invite: [bob.userId], is_direct: true, preset: "trusted_private_chat" });
    const bobList = { ...roomList([0, 19]), lists: { invites: { ranges: [[0, 19]], timeline_limit: 1, required_state: EX_REQUIRED_STATE, filters: { is_invite: true } } } };
    const b1 = await ok(bob.token, bobList);
    expect(b1.lists["invites"]?.count).toBe(1);
    expect(b1.rooms[dm]?.membership).toBe("invite");
    expect(b1.rooms[dm]?.bump_stamp).toBeGreaterThan(Date.now() - 60_000);
    expect(b1.rooms[dm]?.invite_state?.some((e) => e.type === "m.room.member" && e.state_key === bob.userId)).toBe(true);
    expect((await call("POST", `${C}/join/${enc(dm)}`, bob.token, {})).status).toBe(200);

    // Bob's room list follows every room; alice's message wakes his long-poll.
    const b2 = await ok(bob.token, roomList([0, 19]), { pos: b1.pos, timeout: 0 });
    expect(b2.rooms[dm]?.membership).toBe("join");
    // Seen only as an invite before, the joined room comes afresh, with its full required state.
    expect(b2.rooms[dm]?.initial).toBe(true);
    expect(b2.rooms[dm]?.required_state?.map((e) => e.type)).toContain("m.room.create");
    const waiting = ok(bob.token, roomList([0, 19]), { pos: b2.pos, timeout: 20_000 });
    await new Promise((r) => setTimeout(r, 100));
    const hello = await send(alice.token, dm, "hello bob");
    const b3 = await waiting;
    const live = b3.rooms[dm] as RoomResult;
    expect(live.initial).toBeUndefined();
    expect(live.timeline?.map((e) => e.event_id)).toEqual([hello]);
    expect(live.num_live).toBe(1);
    // $LAZY: the sender's membership comes with the timeline that needs it.
    expect(live.required_state?.some((e) => e.type === "m.room.member" && e.state_key === alice.userId)).toBe(true);

    // Typing, then a read receipt, reach alice through her extensions.
    const a1 = await ok(alice.token, roomList([0, 30]), { pos: sub.pos, timeout: 0 });
    expect(a1.rooms[dm]?.initial).toBe(true);
    expect((await call("PUT", `${C}/rooms/${enc(dm)}/typing/${enc(bob.userId)}`, bob.token, { typing: true, timeout: 20_000 })).status).toBe(200);
    const a2 = await ok(alice.token, roomList([0, 30]), { pos: a1.pos, timeout: 10_000 });
    expect(a2.extensions.typing?.rooms[dm]).toEqual({ type: "m.typing", content: { user_ids: [bob.userId] } });
    expect((await call("POST", `${C}/rooms/${enc(dm)}/receipt/m.read/${enc(hello)}`, bob.token, {})).status).toBe(200);
    const a3 = await ok(alice.token, roomList([0, 30]), { pos: a2.pos, timeout: 10_000 });
    expect(a3.extensions.receipts?.rooms[dm]?.type).toBe("m.receipt");
    expect(a3.extensions.receipts?.rooms[dm]?.content[hello]?.["m.read"]?.[bob.userId]?.ts).toEqual(expect.any(Number));
    // A private receipt is shown only to its own user.
    expect((await call("POST", `${C}/rooms/${enc(dm)}/receipt/m.read.private/${enc(hello)}`, alice.token, {})).status).toBe(200);
    const a4 = await ok(alice.token, roomList([0, 30]), { pos: a3.pos, timeout: 10_000 });
    expect(a4.extensions.receipts?.rooms[dm]?.content[hello]?.["m.read.private"]?.[alice.userId]).toBeDefined();
    const b4 = await ok(bob.token, roomList([0, 19]), { pos: b3.pos, timeout: 0 });
    expect(JSON.stringify(b4.extensions.receipts ?? {})).not.toContain("m.read.private");

    // Bob stops typing: alice hears it stopped.
    expect((await call("PUT", `${C}/rooms/${enc(dm)}/typing/${enc(bob.userId)}`, bob.token, { typing: false })).status).toBe(200);
    const a5 = await ok(alice.token, roomList([0, 30]), { pos: a4.pos, timeout: 10_000 });
    expect(a5.extensions.typing?.rooms[dm]?.content.user_ids).toEqual([]);

    // Account data set now arrives through the account_data extension, global and per room.
    expect((await call("PUT", `${C}/user/${enc(alice.userId)}/account_data/m.direct`, alice.token, { [bob.userId]: [dm] })).status).toBe(200);
    expect((await call("PUT", `${C}/user/${enc(alice.userId)}/rooms/${enc(dm)}/account_data/m.tag`, alice.token, { tags: {} })).status).toBe(200);
    const a6 = await ok(alice.token, roomList([0, 30]), { pos: a5.pos, timeout: 10_000 });
    expect(a6.extensions.account_data?.global).toEqual([{ type: "m.direct", content: { [bob.userId]: [dm] } }]);
    expect(a6.extensions.account_data?.rooms[dm]).toEqual([{ type: "m.tag", content: { tags: {} } }]);
    // is_dm follows m.direct.
    const dms = await ok(alice.token, { conn_id: "dms", lists: { dms: { ranges: [[0, 9]], timeline_limit: 0, required_state: [], filters: { is_dm: true } } } });
    expect(dms.lists["dms"]?.count).toBe(1);
    expect(Object.keys(dms.rooms)).toEqual([dm]);
  }, 60_000);

  it("serves the encryption connection: answers at once without pos while the room list is parked, then wakes for a to-device message and acknowledges it by since", async () => {
    const alice = await register("ssenc");
    const bob = await register("ssencb");
    const aliceDevice = await whoami(alice.token);
    const enc0 = { conn_id: "encryption", extensions: { to_device: { enabled: true }, e2ee: { enabled: true } } };
    // The room-list connection is parked in a long-poll while the encryption connection starts.
    const list0 = await ok(alice.token, roomList([0, 19]));
    let listAnswered = false;
    const parked = ok(alice.token, roomList([0, 19]), { pos: list0.pos, timeout: 20_000 }).then((r) => ((listAnswered = true), r));
    await new Promise((r) => setTimeout(r, 100));
    const e1 = await ok(alice.token, enc0, { timeout: 30_000 });
    expect(listAnswered).toBe(false);
    // Then news for the room list (account data) wakes it.
    expect((await call("PUT", `${C}/user/${enc(alice.userId)}/account_data/m.test`, alice.token, { n: 1 })).status).toBe(200);
    expect((await parked).extensions.account_data?.global).toEqual([{ type: "m.test", content: { n: 1 } }]);
    expect(e1.extensions.to_device).toEqual({ next_batch: expect.any(String), events: [] });
    expect(e1.extensions.e2ee?.device_one_time_keys_count).toEqual({ signed_curve25519: 0 });
    expect(e1.extensions.e2ee?.device_unused_fallback_key_types).toEqual([]);
    expect(e1.extensions.e2ee?.device_lists).toEqual({ changed: [], left: [] });

    const waiting = ok(alice.token, { ...enc0, extensions: { ...enc0.extensions, to_device: { enabled: true, since: e1.extensions.to_device?.next_batch } } }, { pos: e1.pos, timeout: 20_000 });
    await new Promise((r) => setTimeout(r, 100));
    const sent = await call("PUT", `${C}/sendToDevice/m.test/td${++txn}`, bob.token, { messages: { [alice.userId]: { [aliceDevice]: { n: 1 } } } });
    expect(sent.status).toBe(200);
    const e2 = await waiting;
    expect(e2.extensions.to_device?.events).toEqual([{ sender: bob.userId, type: "m.test", content: { n: 1 } }]);
    // Presenting its next_batch acknowledges it: the message is not sent again.
    const e3 = await ok(alice.token, { ...enc0, extensions: { ...enc0.extensions, to_device: { enabled: true, since: e2.extensions.to_device?.next_batch } } }, { pos: e2.pos, timeout: 0 });
    expect(e3.extensions.to_device?.events).toEqual([]);
    // Once acknowledged it is gone: even the older since does not bring it back.
    const again = await ok(alice.token, { ...enc0, extensions: { ...enc0.extensions, to_device: { enabled: true, since: e1.extensions.to_device?.next_batch } } }, { pos: e3.pos, timeout: 0 });
    expect(again.extensions.to_device?.events).toEqual([]);
  });

  it("answers a retried pos again in full, and forgets the abandoned answer's pos once the client moves on", async () => {
    const alice = await register("ssretry");
    const room = await createRoom(alice.token, { name: "Retry" });
    const r1 = await ok(alice.token, roomList([0, 9]));
    expect(r1.rooms[room]?.initial).toBe(true);
    await send(alice.token, room, "one");
    // Two answers to the same pos (a retried request): the second still carries the new message.
    const r2a = await ok(alice.token, roomList([0, 9]), { pos: r1.pos, timeout: 0 });
    const r2b = await ok(alice.token, roomList([0, 9]), { pos: r1.pos, timeout: 0 });
    expect(r2a.rooms[room]?.timeline?.map((e) => e.content["body"])).toEqual(["one"]);
    expect(r2b.rooms[room]?.timeline?.map((e) => e.content["body"])).toEqual(["one"]);
    // Continuing from the second: nothing new, so an immediate answer carries no rooms.
    const r3 = await ok(alice.token, roomList([0, 9]), { pos: r2b.pos, timeout: 0 });
    expect(r3.rooms).toEqual({});
    // The abandoned first answer's pos is no longer valid.
    expect((await ss(alice.token, roomList([0, 9]), { pos: r2a.pos })).json["errcode"]).toBe("M_UNKNOWN_POS");
  });

  it("answers bad input with the Matrix error: bad body, unknown pos, another user's or device's pos, bad ranges", async () => {
    const alice = await register("ssbad");
    const bob = await register("ssbadb");
    const r1 = await ok(alice.token, roomList([0, 9]));
    const expectError = async (p: Promise<{ status: number; json: Record<string, unknown> }>, status: number, errcode: string) => {
      const r = await p;
      expect(r.status, JSON.stringify(r.json)).toBe(status);
      expect(r.json["errcode"]).toBe(errcode);
    };
    await expectError(ss(alice.token, [1, 2]), 400, "M_NOT_JSON");
    await expectError(ss(alice.token, { lists: 5 }), 400, "M_BAD_JSON");
    await expectError(ss(alice.token, roomList([0, 9]), { pos: "999999" }), 400, "M_UNKNOWN_POS");
    await expectError(ss(alice.token, roomList([0, 9]), { pos: "not-a-pos" }), 400, "M_UNKNOWN_POS");
    await expectError(ss(bob.token, roomList([0, 9]), { pos: r1.pos }), 400, "M_UNKNOWN_POS");
    await expectError(ss(alice.token, { ...roomList([0, 9]), conn_id: "other" }, { pos: r1.pos }), 400, "M_UNKNOWN_POS");
    const login = await call("POST", `${C}/login`, undefined, { type: "m.login.password", identifier: { type: "m.id.user", user: alice.userId }, password: "pw-pw-pw-pw" });
    expect(login.status).toBe(200);
    await expectError(ss(login.json["access_token"] as string, roomList([0, 9]), { pos: r1.pos }), 400, "M_UNKNOWN_POS");
    await expectError(ss(alice.token, roomList([9, 2])), 400, "M_INVALID_PARAM");
    await expectError(ss(alice.token, { lists: { l: { ranges: [[0]], timeline_limit: 1 } } }), 400, "M_INVALID_PARAM");
    await expectError(ss(alice.token, { lists: { l: { ranges: [[0, 1]], timeline_limit: -1 } } }), 400, "M_BAD_JSON");
    await expectError(ss(alice.token, { room_subscriptions: { "not-a-room": { timeline_limit: 1 } } }), 400, "M_INVALID_PARAM");
    await expectError(ss(alice.token, { lists: { l: { required_state: [["m.room.name"]] } } }), 400, "M_BAD_JSON");
    await expectError(ss(alice.token, {}, { timeout: -5 }), 400, "M_INVALID_PARAM");
    await expectError(ss("nope", {}), 401, "M_UNKNOWN_TOKEN");
    // The connection survives the bad requests.
    await ok(alice.token, roomList([0, 9]), { pos: r1.pos, timeout: 0 });
    // Starting the connection again (no pos) retires every pos it had.
    const restarted = await ok(alice.token, roomList([0, 9]));
    await expectError(ss(alice.token, roomList([0, 9]), { pos: r1.pos }), 400, "M_UNKNOWN_POS");
    await ok(alice.token, roomList([0, 9]), { pos: restarted.pos, timeout: 0 });
  });

  it("filters lists by room facts: is_encrypted, room_types and not_room_types; names unnamed rooms by their heroes", async () => {
    const alice = await register("ssfacts");
    const bob = await register("ssfactsb");
    const encrypted = await createRoom(alice.token, { invite: [bob.userId], initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }] });
    const space = await createRoom(alice.token, { name: "Space", creation_content: { type: "m.space" } });
    const plain = await createRoom(alice.token, { name: "Plain" });
    const lists = {
      encrypted: { ranges: [[0, 9]], timeline_limit: 0, required_state: [], filters: { is_encrypted: true } },
      spaces: { ranges: [[0, 9]], timeline_limit: 0, required_state: [], filters: { room_types: ["m.space"] } },
      rooms: { ranges: [[0, 9]], timeline_limit: 0, required_state: [], filters: { not_room_types: ["m.space"] } },
    };
    const r = await ok(alice.token, { conn_id: "facts", lists });
    expect(r.lists).toEqual({ encrypted: { count: 1 }, spaces: { count: 1 }, rooms: { count: 2 } });
    expect(r.rooms[encrypted]?.lists).toEqual(["encrypted", "rooms"]);
    expect(r.rooms[space]?.lists).toEqual(["spaces"]);
    expect(r.rooms[plain]?.lists).toEqual(["rooms"]);
    // No name: the invited member is its hero.
    expect(r.rooms[encrypted]?.name).toBeUndefined();
    expect(r.rooms[encrypted]?.heroes?.map((h) => h.user_id)).toEqual([bob.userId]);
    expect(r.rooms[encrypted]?.invited_count).toBe(1);
    expect(r.rooms[plain]?.heroes).toBeUndefined();
  });

  it("sends only the state that changed in an incremental update, with the new name", async () => {
    const alice = await register("ssinc");
    const room = await createRoom(alice.token, { name: "Old name" });
    const r1 = await ok(alice.token, roomList([0, 9]));
    expect(r1.rooms[room]?.required_state?.map((e) => e.type)).toContain("m.room.create");
    expect((await call("PUT", `${C}/rooms/${enc(room)}/state/m.room.name/`, alice.token, { name: "New name" })).status).toBe(200);
    const r2 = await ok(alice.token, roomList([0, 9]), { pos: r1.pos, timeout: 5_000 });
    const update = r2.rooms[room] as RoomResult;
    expect(update.initial).toBeUndefined();
    expect(update.name).toBe("New name");
    // The name event, and the sender's membership for the timeline ($LAZY): nothing unchanged besides.
    expect(update.required_state?.map((e) => `${e.type}|${e.state_key}`).sort()).toEqual([`m.room.member|${alice.userId}`, "m.room.name|"]);
    expect(update.timeline?.map((e) => e.type)).toEqual(["m.room.name"]);
    // A message changes no state: the update carries no name.
    await send(alice.token, room, "no state change");
    const r3 = await ok(alice.token, roomList([0, 9]), { pos: r2.pos, timeout: 5_000 });
    expect(r3.rooms[room]?.name).toBeUndefined();
    expect(r3.rooms[room]?.required_state?.map((e) => e.type)).toEqual(["m.room.member"]);
  });

  it("shows a room the user left as it was when they left, not what happened after", async () => {
    const alice = await register("ssleft");
    const bob = await register("ssleftb");
    const room = await createRoom(alice.token, { preset: "public_chat", name: "Before" });
    expect((await call("POST", `${C}/join/${enc(room)}`, bob.token, {})).status).toBe(200);
    const b1 = await ok(bob.token, roomList([0, 9]));
    expect(b1.rooms[room]?.name).toBe("Before");
    expect((await call("POST", `${C}/rooms/${enc(room)}/leave`, bob.token, {})).status).toBe(200);
    expect((await call("PUT", `${C}/rooms/${enc(room)}/state/m.room.name/`, alice.token, { name: "After" })).status).toBe(200);
    await send(alice.token, room, "after bob left");
    const b2 = await ok(bob.token, { ...roomList([0, 9]), room_subscriptions: { [room]: { timeline_limit: 10, required_state: [["*", "*"]] } } }, { pos: b1.pos, timeout: 0 });
    const left = b2.rooms[room] as RoomResult;
    expect(left.membership).toBe("leave");
    expect(left.timeline?.at(-1)?.type).toBe("m.room.member");
    expect(left.timeline?.some((e) => e.content["body"] === "after bob left")).toBe(false);
    expect(left.required_state?.find((e) => e.type === "m.room.name")?.content?.["name"]).toBe("Before");
    expect(JSON.stringify(left)).not.toContain("After");
  });

  it("keeps at most 10 connections per device: starting an eleventh retires the least recently used", async () => {
    const alice = await register("ssconns");
    const pos: string[] = [];
    for (let i = 0; i < 10; i++) pos.push((await ok(alice.token, { conn_id: `c${i}` })).pos);
    // c0 is used again, so c1 becomes the least recently used.
    pos[0] = (await ok(alice.token, { conn_id: "c0" }, { pos: pos[0], timeout: 0 })).pos;
    await ok(alice.token, { conn_id: "c10" });
    const c1 = await ss(alice.token, { conn_id: "c1" }, { pos: pos[1], timeout: 0 });
    expect(c1.status).toBe(400);
    expect(c1.json["errcode"]).toBe("M_UNKNOWN_POS");
    await ok(alice.token, { conn_id: "c0" }, { pos: pos[0], timeout: 0 });
    await ok(alice.token, { conn_id: "c2" }, { pos: pos[2], timeout: 0 });
    // Another device's connections are its own.
    const login = await call("POST", `${C}/login`, undefined, { type: "m.login.password", identifier: { type: "m.id.user", user: alice.userId }, password: "pw-pw-pw-pw" });
    await ok(login.json["access_token"] as string, { conn_id: "c0" });
    await ok(alice.token, { conn_id: "c3" }, { pos: pos[3], timeout: 0 });
  });

  it("is served on the stable path the MSC names too, echoing txn_id", async () => {
    const alice = await register("ssstable");
    const r = await call("POST", "/_matrix/client/v4/sync", alice.token, { conn_id: "x", txn_id: "t-1" });
    expect(r.status).toBe(200);
    expect(typeof r.json["pos"]).toBe("string");
    // matrix-rust-sdk matches answers to requests by txn_id.
    expect(r.json["txn_id"]).toBe("t-1");
  });
});
