// The shared start of the federation API tests: three servers, their users and the rooms the tests use.

import { TestClient } from "./client.js";
import { startServers, type TestServer } from "./harness.js";

export const V1 = "/_matrix/federation/v1";
export const enc = encodeURIComponent;
export const message = (body: string) => ({ msgtype: "m.text", body });

/** A hub and two participants with alice (hub), bob (p1) and carol (p2) registered, no room yet. */
export async function startApiServers() {
  const servers = await startServers(["hub.test", "p1.test", "p2.test"]);
  const [hub, p1, p2] = servers as [TestServer, TestServer, TestServer];
  const alice = await TestClient.register(hub, "alice");
  const bob = await TestClient.register(p1, "bob");
  const carol = await TestClient.register(p2, "carol");
  return { servers, hub, p1, p2, alice, bob, carol };
}

/** The room all three servers are in, and a second hub room with only alice in it: no member of p1 or p2. */
export async function createApiRooms(alice: TestClient, bob: TestClient, carol: TestClient) {
  const roomId = (await alice.createRoom({ name: "API" })).room_id;
  await alice.invite(roomId, bob.userId);
  await alice.invite(roomId, carol.userId);
  await bob.join(roomId);
  await carol.join(roomId);
  await alice.send(roomId, "hello from the hub");
  const privateRoomId = (await alice.createRoom({ name: "Private" })).room_id;
  const privateEventId = await alice.send(privateRoomId, "for hub eyes only");
  return { roomId, privateRoomId, privateEventId };
}
