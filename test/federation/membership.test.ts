import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, MatrixApiError, storedEvents, TestClient } from "./client.js";
import { startServers, stopServers, type TestServer } from "./harness.js";

const enc = encodeURIComponent;

describe("membership changes across servers", () => {
  let servers: TestServer[] = [];
  let hub: TestServer;
  let p1: TestServer;
  let p2: TestServer;
  let alice: TestClient;
  let bob: TestClient;
  let carol: TestClient;
  let roomId: string;

  /** Waits until `server` stores an event matching `pred`, and returns it. */
  const storedOn = (server: TestServer, pred: (e: Awaited<ReturnType<typeof storedEvents>>[number]) => boolean, what: string) =>
    eventually(async () => (await storedEvents(server, roomId)).find(pred), `${what} on ${server.name}`);

  const membershipEvent = (userId: string, membership: string) => (e: Awaited<ReturnType<typeof storedEvents>>[number]) =>
    e.pdu.type === "m.room.member" && e.pdu["state_key"] === userId && e.pdu.content["membership"] === membership;

  beforeAll(async () => {
    servers = await startServers(["hub.test", "p1.test", "p2.test"]);
    [hub, p1, p2] = servers as [TestServer, TestServer, TestServer];
    alice = await TestClient.register(hub, "alice");
    bob = await TestClient.register(p1, "bob");
    carol = await TestClient.register(p2, "carol");
    roomId = (await alice.createRoom({ preset: "private_chat" })).room_id;
    await alice.invite(roomId, bob.userId);
    await alice.invite(roomId, carol.userId);
    await bob.join(roomId);
    await carol.join(roomId);
  });
  afterAll(() => stopServers(servers));

  it("lets a participant's user leave and join again through an invite", async () => {
    await bob.leave(roomId);
    await storedOn(hub, membershipEvent(bob.userId, "leave"), "bob's leave");
    await expect(bob.send(roomId, "after leaving")).rejects.toMatchObject({ status: 403 });
    await alice.invite(roomId, bob.userId);
    await bob.join(roomId);
    const eventId = await bob.send(roomId, "back again");
    await storedOn(p2, (e) => e.event_id === eventId, "bob's message after rejoining");
  });

  it("fans a kick out to the kicked user's server, which then stops receiving the room", async () => {
    await alice.kick(roomId, carol.userId, "testing");
    // The kicked server gets the kick itself (draft: the target of a kick is a fan-out destination).
    const kick = await storedOn(p2, membershipEvent(carol.userId, "leave"), "the kick");
    expect(kick.pdu.sender).toBe(alice.userId);
    await expect(carol.send(roomId, "still here?")).rejects.toBeInstanceOf(MatrixApiError);
    const after = await alice.send(roomId, "carol is gone");
    await storedOn(p1, (e) => e.event_id === after, "the message after the kick");
    // p2 has no joined user any more, so it is no longer a destination.
    await new Promise((r) => setTimeout(r, 500));
    expect((await storedEvents(p2, roomId)).some((e) => e.event_id === after)).toBe(false);
  });

  it("fans a ban out to the banned server and refuses the banned user's join", async () => {
    await alice.invite(roomId, carol.userId);
    await carol.join(roomId);
    await alice.ban(roomId, carol.userId);
    await storedOn(p2, membershipEvent(carol.userId, "ban"), "the ban");
    // A banned user cannot come back, not even with make_join.
    const res = await p2.federation(hub, "GET", `/_matrix/federation/v1/make_join/${enc(roomId)}/${enc(carol.userId)}?ver=org.matrix.i-d.ralston-mimi-linearized-matrix.02`);
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ errcode: "M_FORBIDDEN" });
    await expect(alice.invite(roomId, carol.userId)).rejects.toMatchObject({ status: 403 });
  });

  it("lets a banned user back only after an unban and a new invite", async () => {
    await alice.unban(roomId, carol.userId);
    await storedOn(hub, (e) => e.pdu.type === "m.room.member" && e.pdu["state_key"] === carol.userId && e.pdu.content["membership"] === "leave" && e.pdu.sender === alice.userId, "the unban");
    await alice.invite(roomId, carol.userId);
    await carol.join(roomId);
    const id = await carol.send(roomId, "unbanned");
    await storedOn(hub, (e) => e.event_id === id, "carol's message after the unban");
  });

  it("carries a knock from a server that is not in the room to the hub", async () => {
    const knockRoom = (await alice.createRoom({ initial_state: [{ type: "m.room.join_rules", state_key: "", content: { join_rule: "knock" } }] })).room_id;
    const dave = await TestClient.register(p2, "dave");
    await dave.knock(knockRoom, "hub.test");
    await eventually(
      async () => (await storedEvents(hub, knockRoom)).find((e) => e.pdu["state_key"] === dave.userId && e.pdu.content["membership"] === "knock"),
      "dave's knock on the hub",
    );
    // Approving a knock is an invite; then dave can join.
    await alice.invite(knockRoom, dave.userId);
    await dave.join(knockRoom);
    const members = await alice.request<{ joined: Record<string, unknown> }>("GET", `/rooms/${enc(knockRoom)}/joined_members`);
    expect(Object.keys(members.joined)).toContain(dave.userId);
  });

  it("refuses a knock on a room whose join rule does not allow knocking", async () => {
    const dave = await TestClient.register(p1, "dave");
    await expect(dave.knock(roomId, "hub.test")).rejects.toMatchObject({ status: 403 });
  });
});
