// Membership in a v12 room across two real servers: an invite to a user of another server (PUT
// /v2/invite, signed by the invitee's server), the invitee joining with no server named (the
// inviting server is the route: a v12 room ID names none), rejecting an invite (locally, and as a
// remote leave when no one of the invitee's server is in the room), a kick, a ban and a
// leave, with the same membership on both servers after each.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, TestClient } from "./client.js";
import { sameStateEverywhere } from "./dag-helpers.js";
import { stateOf } from "./forge.js";
import { startServers, stopServers, type TestServer } from "./harness.js";

describe("membership across two servers in a v12 room", () => {
  let servers: TestServer[] = [];
  let alice: TestClient;
  let bob: TestClient;
  let carol: TestClient;
  let roomId: string;

  beforeAll(async () => {
    // Rooms created without a version are v12 rooms on these servers.
    servers = await startServers(["m1.test", "m2.test"], { bindings: { DEFAULT_ROOM_VERSION: "12" } });
    const [m1, m2] = servers as [TestServer, TestServer];
    [alice, bob, carol] = await Promise.all([TestClient.register(m1, "alice"), TestClient.register(m2, "bob"), TestClient.register(m2, "carol")]);
    roomId = (await alice.createRoom({ preset: "private_chat" })).room_id;
  });
  afterAll(() => stopServers(servers));

  async function membershipEverywhere(userId: string, membership: string): Promise<void> {
    await eventually(async () => {
      const states = await Promise.all(servers.map((s) => stateOf(s, roomId).catch(() => undefined)));
      return states.every((st) => st?.get(`m.room.member\u0000${userId}`)?.pdu.content["membership"] === membership) || undefined;
    }, `${userId} ${membership} on both servers`);
  }

  it("creates rooms of the DEFAULT_ROOM_VERSION when none is asked for, and advertises it as the default", async () => {
    const caps = await alice.request<{ capabilities: { "m.room_versions": { default: string } } }>("GET", "/capabilities");
    expect(caps.capabilities["m.room_versions"].default).toBe("12");
    const create = await alice.request<{ room_version: string }>("GET", `/rooms/${encodeURIComponent(roomId)}/state/m.room.create/`);
    expect([create.room_version, roomId.includes(":")]).toEqual(["12", false]);
  });

  it("invites a user of the other server, who joins through the inviting server without naming it", async () => {
    await alice.invite(roomId, bob.userId);
    const sync = await bob.request<{ rooms?: { invite?: Record<string, unknown> } }>("GET", "/sync?timeout=0");
    expect(Object.keys(sync.rooms?.invite ?? {})).toContain(roomId);
    await bob.join(roomId);
    await membershipEverywhere(bob.userId, "join");
    const msg = await bob.send(roomId, "hello from m2");
    await eventually(async () => ((await alice.timeline(roomId)).some((e) => e.event_id === msg) ? true : undefined), "bob's message on m1");
  });

  it("rejects an invite as an event of its own server when that server is in the room", async () => {
    await alice.invite(roomId, carol.userId);
    await membershipEverywhere(carol.userId, "invite");
    await carol.leave(roomId);
    await membershipEverywhere(carol.userId, "leave");
  });

  it("rejects an invite with make_leave/send_leave through the inviting server when its server is not in the room", async () => {
    const other = (await alice.createRoom({ preset: "private_chat" })).room_id;
    await alice.invite(other, carol.userId);
    await carol.leave(other);
    const [m1] = servers as [TestServer];
    const member = (await stateOf(m1, other)).get(`m.room.member\u0000${carol.userId}`)?.pdu;
    expect([member?.content["membership"], member?.sender]).toEqual(["leave", carol.userId]);
  });

  it("kicks, re-invites (the invitee's server rejoins through the inviting one), bans and sees a leave alike on both servers", async () => {
    await alice.kick(roomId, bob.userId, "out");
    await membershipEverywhere(bob.userId, "leave");
    await alice.invite(roomId, bob.userId);
    await bob.join(roomId);
    await membershipEverywhere(bob.userId, "join");
    await bob.leave(roomId);
    await membershipEverywhere(bob.userId, "leave");
    await alice.ban(roomId, bob.userId);
    await membershipEverywhere(bob.userId, "ban");
    await sameStateEverywhere(servers, roomId);
  });
});
