// Black-box scenarios adapted from Matrix's conformance suites (Complement), named after the
// originals: joins, bans, invites, knocks and outbound sends across a hub and two participant
// servers. Only the intent is carried over; each scenario builds the rooms and users it needs.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyEventSignatures } from "../../shared/event-signatures.js";
import { LM_ROOM_VERSION, LM_ROOM_VERSION_ID } from "../../shared/room-versions.js";
import { canonicalJson } from "../../shared/canonical-json.js";
import { eventually, MatrixApiError, storedEvents, TestClient, type StoredPdu } from "./client.js";
import { fed, keyOf, LM_PREFIX, lpduIdOf, lpduWith, marker, pendingInvite, serversHoldingId, stateOf } from "./forge.js";
import { startServers, stopServers, type TestServer } from "./harness.js";

const V1 = "/_matrix/federation/v1";
const V2 = "/_matrix/federation/v2";
const enc = encodeURIComponent;
const lmVer = `ver=${enc(LM_ROOM_VERSION_ID)}`;

describe("conformance scenarios: membership over federation", () => {
  let servers: TestServer[] = [];
  let hub: TestServer;
  let p1: TestServer;
  let p2: TestServer;
  let alice: TestClient;
  let n = 0;
  /** A fresh user on `server` (each scenario has its own). */
  const user = (server: TestServer, stem: string) => TestClient.register(server, `${stem}${++n}`);

  beforeAll(async () => {
    servers = await startServers(["hub.test", "p1.test", "p2.test"]);
    [hub, p1, p2] = servers as [TestServer, TestServer, TestServer];
    alice = await TestClient.register(hub, "alice");
  });
  afterAll(() => stopServers(servers));

  const membershipOn = async (server: TestServer, roomId: string, userId: string) =>
    (await stateOf(server, roomId)).get(`m.room.member\u0000${userId}`)?.pdu.content["membership"];

  const waitMembership = (server: TestServer, roomId: string, userId: string, membership: string) =>
    eventually(async () => ((await membershipOn(server, roomId, userId)) === membership ? true : undefined), `${userId} ${membership} on ${server.name}`);

  /** A member event LPDU for `userId` of `server`, signed by that server. */
  async function memberLpdu(server: TestServer, roomId: string, userId: string, membership: string) {
    return lpduWith(await keyOf(server), hub.name, { room_id: roomId, type: "m.room.member", sender: userId, state_key: userId, content: { membership } });
  }

  it("TestJoinViaRoomIDAndServerName: a user joins a room on another server by room ID and server_name, and takes part", async () => {
    const roomId = (await alice.createRoom({ preset: "public_chat" })).room_id;
    const bob = await user(p1, "bob");
    // p1 has never heard of the room: the server_name is all it has to go on.
    expect((await storedEvents(p1, roomId)).length).toBe(0);
    expect((await bob.join(roomId, hub.name)).room_id).toBe(roomId);
    await waitMembership(hub, roomId, bob.userId, "join");
    expect(await membershipOn(p1, roomId, bob.userId)).toBe("join");
    const said = await bob.send(roomId, marker("hello"));
    await eventually(async () => ((await serversHoldingId([hub], roomId, said)).length === 1 ? true : undefined), "bob's message on the hub");
    const members = await alice.request<{ joined: Record<string, unknown> }>("GET", `/rooms/${enc(roomId)}/joined_members`);
    expect(Object.keys(members.joined).sort()).toEqual([alice.userId, bob.userId].sort());
  });

  it("TestBannedUserCannotSendJoin: a banned user's make_join and hand-built send_join are refused, and nothing is stored", async () => {
    const roomId = (await alice.createRoom({ preset: "public_chat" })).room_id;
    const carol = `@carol${++n}:${p2.name}`;
    await alice.ban(roomId, carol);
    expect(await membershipOn(hub, roomId, carol)).toBe("ban");

    const make = await fed(p2, hub, "GET", `${V1}/make_join/${enc(roomId)}/${enc(carol)}?${lmVer}`);
    expect([make.status, make.body.errcode]).toEqual([403, "M_FORBIDDEN"]);
    // A join built by hand and signed by p2, on both send_join paths.
    const lpdu = await memberLpdu(p2, roomId, carol, "join");
    const id = await lpduIdOf(lpdu);
    const lm = await fed(p2, hub, "POST", `${LM_PREFIX}/send_join/${enc(id.slice(1))}`, lpdu);
    expect([lm.status, lm.body.errcode]).toEqual([403, "M_FORBIDDEN"]);
    const v2 = await fed(p2, hub, "PUT", `${V2}/send_join/${enc(roomId)}/${enc(id)}`, lpdu);
    expect([v2.status, v2.body.errcode]).toEqual([403, "M_FORBIDDEN"]);
    expect(await membershipOn(hub, roomId, carol)).toBe("ban");
    expect((await storedEvents(hub, roomId)).filter((e) => e.pdu["state_key"] === carol && e.pdu.content["membership"] === "join")).toEqual([]);
  });

  it("TestCannotSendNonJoinViaSendJoinV2: send_join refuses member events other than a join, and stores none of them", async () => {
    const roomId = (await alice.createRoom({ preset: "public_chat" })).room_id;
    const dan = `@dan${++n}:${p2.name}`;
    for (const membership of ["leave", "invite", "ban", "knock"]) {
      const lpdu = await memberLpdu(p2, roomId, dan, membership);
      const id = await lpduIdOf(lpdu);
      const res = await fed(p2, hub, "PUT", `${V2}/send_join/${enc(roomId)}/${enc(id)}`, lpdu);
      expect([membership, res.status >= 400 && res.status < 500, res.body.errcode]).toEqual([membership, true, res.status === 403 ? "M_FORBIDDEN" : "M_BAD_JSON"]);
      expect([membership, await serversHoldingId([hub], roomId, id)]).toEqual([membership, []]);
    }
    // Not a member event at all.
    const message = await lpduWith(await keyOf(p2), hub.name, { room_id: roomId, type: "m.room.message", sender: dan, content: { msgtype: "m.text", body: "hi" } });
    const notMember = await fed(p2, hub, "PUT", `${V2}/send_join/${enc(roomId)}/${enc(await lpduIdOf(message))}`, message);
    expect([notMember.status, notMember.body.errcode]).toEqual([400, "M_BAD_JSON"]);
    expect(await membershipOn(hub, roomId, dan)).toBeUndefined();
    // Control: the join itself goes through the same endpoint.
    const join = await memberLpdu(p2, roomId, dan, "join");
    const ok = await fed(p2, hub, "PUT", `${V2}/send_join/${enc(roomId)}/${enc(await lpduIdOf(join))}`, join);
    expect(ok.status).toBe(200);
    expect(await membershipOn(hub, roomId, dan)).toBe("join");
  });

  it("TestCannotSendNonLeaveViaSendLeaveV2: send_leave refuses member events other than a leave, and the user stays joined", async () => {
    const roomId = (await alice.createRoom({ preset: "public_chat" })).room_id;
    const erin = await user(p1, "erin");
    await erin.join(roomId, hub.name);
    await waitMembership(hub, roomId, erin.userId, "join");
    for (const membership of ["join", "invite", "ban", "knock"]) {
      const lpdu = await memberLpdu(p1, roomId, erin.userId, membership);
      const id = await lpduIdOf(lpdu);
      const res = await fed(p1, hub, "PUT", `${V2}/send_leave/${enc(roomId)}/${enc(id)}`, lpdu);
      expect([membership, res.status, res.body.errcode]).toEqual([membership, 400, "M_BAD_JSON"]);
      expect([membership, await serversHoldingId([hub], roomId, id)]).toEqual([membership, []]);
    }
    expect(await membershipOn(hub, roomId, erin.userId)).toBe("join");
    // Control: make_leave, then a leave through the same endpoint.
    const make = await fed(p1, hub, "GET", `${V1}/make_leave/${enc(roomId)}/${enc(erin.userId)}`);
    expect(make.status).toBe(200);
    const leave = await memberLpdu(p1, roomId, erin.userId, "leave");
    const ok = await fed(p1, hub, "PUT", `${V2}/send_leave/${enc(roomId)}/${enc(await lpduIdOf(leave))}`, leave);
    expect(ok.status).toBe(200);
    expect(await membershipOn(hub, roomId, erin.userId)).toBe("leave");
  });

  it("TestOutboundFederationSend: a local user's message reaches the joined remote server via /send, signed by the hub and byte-identical", async () => {
    const roomId = (await alice.createRoom({ preset: "public_chat" })).room_id;
    const bob = await user(p1, "bob");
    await bob.join(roomId, hub.name);
    const body = marker("outbound");
    const eventId = await alice.send(roomId, body);
    const onP1 = await eventually(async () => (await storedEvents(p1, roomId)).find((e) => e.event_id === eventId), "the message on p1");
    const onHub = (await storedEvents(hub, roomId)).find((e) => e.event_id === eventId) as StoredPdu;
    expect(canonicalJson(onP1.pdu)).toBe(canonicalJson(onHub.pdu));
    const hubKey = await keyOf(hub);
    const check = await verifyEventSignatures(onP1.pdu, LM_ROOM_VERSION, async (server, keyId) => (server === hub.name && keyId === hubKey.keyId ? hubKey.publicKey : undefined));
    expect(check).toEqual({ ok: true });
    // And bob's client sees it.
    const timeline = await bob.timeline(roomId);
    expect(timeline.find((e) => e.event_id === eventId)?.content["body"]).toBe(body);
  });

  it("TestFederationRejectInvite: a remote user rejects an invite; the hub records the leave and the invite is gone", async () => {
    const roomId = (await alice.createRoom({ preset: "private_chat" })).room_id;
    const bob = await user(p1, "bob");
    await alice.invite(roomId, bob.userId);
    expect(await membershipOn(hub, roomId, bob.userId)).toBe("invite");
    expect(await pendingInvite(p1, roomId, bob.userId)).toBeDefined();
    await bob.leave(roomId);
    await waitMembership(hub, roomId, bob.userId, "leave");
    const leave = (await storedEvents(hub, roomId)).filter((e) => e.pdu["state_key"] === bob.userId).pop() as StoredPdu;
    expect([leave.pdu.sender, leave.pdu.content["membership"]]).toEqual([bob.userId, "leave"]);
    await eventually(async () => ((await pendingInvite(p1, roomId, bob.userId)) === undefined ? true : undefined), "the invite to be dropped on p1");
    // Rejected means not joined: bob cannot speak, and joining now needs a new invite.
    await expect(bob.send(roomId, "uninvited")).rejects.toBeInstanceOf(MatrixApiError);
    await expect(bob.join(roomId, hub.name)).rejects.toMatchObject({ status: 403 });
  });

  it("TestUnbanViaInvite: after a ban and an unban, a new invite reaches the remote user and can be accepted", async () => {
    const roomId = (await alice.createRoom({ preset: "public_chat" })).room_id;
    const bob = await user(p2, "bob");
    await bob.join(roomId, hub.name);
    await alice.ban(roomId, bob.userId);
    await waitMembership(p2, roomId, bob.userId, "ban");
    await expect(bob.join(roomId, hub.name)).rejects.toMatchObject({ status: 403 });
    await alice.unban(roomId, bob.userId);
    await waitMembership(hub, roomId, bob.userId, "leave");
    await alice.invite(roomId, bob.userId);
    await eventually(async () => ((await pendingInvite(p2, roomId, bob.userId)) !== undefined ? true : undefined), "the invite on p2");
    await bob.join(roomId, hub.name);
    await waitMembership(hub, roomId, bob.userId, "join");
    const said = await bob.send(roomId, marker("back"));
    await eventually(async () => ((await serversHoldingId([hub], roomId, said)).length === 1 ? true : undefined), "bob's message on the hub");
  });

  it("TestKnocking: remote users knock only where the join rule allows, can withdraw and knock again, and join once invited", async () => {
    const knockRoom = (await alice.createRoom({ initial_state: [{ type: "m.room.join_rules", state_key: "", content: { join_rule: "knock" } }] })).room_id;
    const inviteOnly = (await alice.createRoom({ preset: "private_chat" })).room_id;
    const dave = await user(p1, "dave");
    // Not where the join rule is invite.
    await expect(dave.knock(inviteOnly, hub.name)).rejects.toMatchObject({ status: 403 });
    const makeKnock = await fed(p1, hub, "GET", `${V1}/make_knock/${enc(inviteOnly)}/${enc(dave.userId)}?${lmVer}`);
    expect([makeKnock.status, makeKnock.body.errcode]).toEqual([403, "M_FORBIDDEN"]);
    expect(await membershipOn(hub, inviteOnly, dave.userId)).toBeUndefined();

    // Knocking on a knock room: the hub records it.
    await dave.knock(knockRoom, hub.name);
    await waitMembership(hub, knockRoom, dave.userId, "knock");
    // A knocking user is not in the room.
    await expect(dave.send(knockRoom, "let me in")).rejects.toBeInstanceOf(MatrixApiError);
    // Withdrawing the knock is a leave; then knocking again works.
    await dave.leave(knockRoom);
    await waitMembership(hub, knockRoom, dave.userId, "leave");
    await dave.knock(knockRoom, hub.name);
    await waitMembership(hub, knockRoom, dave.userId, "knock");
    // Approving a knock is an invite, accepted by joining.
    await alice.invite(knockRoom, dave.userId);
    await dave.join(knockRoom, hub.name);
    await waitMembership(hub, knockRoom, dave.userId, "join");

    // A banned user cannot knock.
    const eve = await user(p2, "eve");
    await alice.ban(knockRoom, eve.userId);
    await expect(eve.knock(knockRoom, hub.name)).rejects.toMatchObject({ status: 403 });
    expect(await membershipOn(hub, knockRoom, eve.userId)).toBe("ban");
    const knocks = (await storedEvents(hub, knockRoom)).filter((e: StoredPdu) => e.pdu.content["membership"] === "knock");
    expect(knocks.map((e) => e.pdu.sender)).toEqual([dave.userId, dave.userId]);
  });
});
