// The shared start of the hostile-peer tests: three servers and one hub room all three are in.

import { TestClient } from "./client.js";
import { startServers, type TestServer } from "./harness.js";

export const enc = encodeURIComponent;
export const message = (body: string) => ({ msgtype: "m.text", body });

export interface HostileRoom {
  servers: TestServer[];
  hub: TestServer;
  p1: TestServer;
  p2: TestServer;
  alice: TestClient;
  bob: TestClient;
  carol: TestClient;
  roomId: string;
}

/** A hub and two participants, with alice (hub), bob (p1) and carol (p2) joined to one hub room. */
export async function startHostileRoom(): Promise<HostileRoom> {
  const servers = await startServers(["hub.test", "p1.test", "p2.test"]);
  const [hub, p1, p2] = servers as [TestServer, TestServer, TestServer];
  const alice = await TestClient.register(hub, "alice");
  const bob = await TestClient.register(p1, "bob");
  const carol = await TestClient.register(p2, "carol");
  const roomId = (await alice.createRoom({ name: "Hostile" })).room_id;
  await alice.invite(roomId, bob.userId);
  await alice.invite(roomId, carol.userId);
  await bob.join(roomId);
  await carol.join(roomId);
  return { servers, hub, p1, p2, alice, bob, carol, roomId };
}
