// Sliding sync's e2ee extension reports the device-list news /sync infers from memberships: a user
// who comes to share a room with us is `changed`, one who shares none any more is `left`. Element X
// reads them on its encryption connection, which has no lists, so the rooms are not in the response.
import { describe, expect, it } from "vitest";
import { C, call, enc, register } from "./client-helpers.js";

const SS = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync";
const encryption = { conn_id: "encryption", extensions: { to_device: { enabled: true }, e2ee: { enabled: true } } };

interface E2eeResponse {
  pos: string;
  rooms: Record<string, unknown>;
  extensions: { e2ee?: { device_lists: { changed: string[]; left: string[] } } };
}

async function ss(token: string, pos?: string, timeout = 0): Promise<E2eeResponse> {
  const q = pos === undefined ? "" : `?pos=${enc(pos)}&timeout=${timeout}`;
  const r = await call("POST", `${SS}${q}`, token, encryption);
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  return r.json as unknown as E2eeResponse;
}

async function createRoom(token: string): Promise<string> {
  const r = await call("POST", `${C}/createRoom`, token, { preset: "public_chat", initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }] });
  expect(r.status).toBe(200);
  return r.json["room_id"] as string;
}

async function join(token: string, roomId: string): Promise<void> {
  expect((await call("POST", `${C}/join/${enc(roomId)}`, token, {})).status).toBe(200);
}

async function leave(token: string, roomId: string): Promise<void> {
  expect((await call("POST", `${C}/rooms/${enc(roomId)}/leave`, token, {})).status).toBe(200);
}

describe("sliding sync e2ee extension: device lists from memberships", () => {
  it("lists a user who joins a shared room as changed, and as left once no room is shared", async () => {
    const alice = await register("ssdla");
    const dave = await register("ssdld");
    const room = await createRoom(alice.token);
    const first = await ss(alice.token);
    expect(first.extensions.e2ee?.device_lists).toEqual({ changed: [], left: [] });
    await join(dave.token, room);
    const joined = await ss(alice.token, first.pos);
    expect(joined.rooms).toEqual({});
    expect(joined.extensions.e2ee?.device_lists).toEqual({ changed: [dave.userId], left: [] });
    await leave(dave.token, room);
    const left = await ss(alice.token, joined.pos);
    expect(left.extensions.e2ee?.device_lists).toEqual({ changed: [], left: [dave.userId] });
    // Reported once: the next response has no news.
    expect((await ss(alice.token, left.pos)).extensions.e2ee?.device_lists).toEqual({ changed: [], left: [] });
  });

  it("lists the members of a room we join as changed, and as left when we leave it", async () => {
    const alice = await register("ssdlj");
    const erin = await register("ssdle");
    const room = await createRoom(erin.token);
    const first = await ss(alice.token);
    await join(alice.token, room);
    const joined = await ss(alice.token, first.pos);
    expect(joined.extensions.e2ee?.device_lists).toEqual({ changed: [erin.userId], left: [] });
    await leave(alice.token, room);
    const left = await ss(alice.token, joined.pos);
    expect(left.extensions.e2ee?.device_lists).toEqual({ changed: [], left: [erin.userId] });
  });

  it("does not list as left a user who still shares another room", async () => {
    const alice = await register("ssdls");
    const dave = await register("ssdlsd");
    const [one, two] = [await createRoom(alice.token), await createRoom(alice.token)];
    await join(dave.token, one);
    await join(dave.token, two);
    const first = await ss(alice.token);
    await leave(dave.token, one);
    const after = await ss(alice.token, first.pos);
    expect(after.extensions.e2ee?.device_lists).toEqual({ changed: [], left: [] });
  });

  it("wakes a long-polling encryption connection when someone joins a shared room", async () => {
    const alice = await register("ssdlw");
    const dave = await register("ssdlwd");
    const room = await createRoom(alice.token);
    const first = await ss(alice.token);
    const parked = ss(alice.token, first.pos, 4_000);
    await new Promise((r) => setTimeout(r, 100));
    await join(dave.token, room);
    expect((await parked).extensions.e2ee?.device_lists.changed).toEqual([dave.userId]);
  });
});
