import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, TestClient } from "./client.js";
import { startServers, stopServers, type TestServer } from "./harness.js";

describe("a room hosted on one hub, with users of two participant servers", () => {
  let servers: TestServer[] = [];
  let alice: TestClient;
  let bob: TestClient;
  let carol: TestClient;
  let roomId: string;

  beforeAll(async () => {
    servers = await startServers(["hub.test", "p1.test", "p2.test"]);
    const [hub, p1, p2] = servers as [TestServer, TestServer, TestServer];
    alice = await TestClient.register(hub, "alice");
    bob = await TestClient.register(p1, "bob");
    carol = await TestClient.register(p2, "carol");
  });
  afterAll(() => stopServers(servers));

  it("creates the room on the hub", async () => {
    roomId = (await alice.createRoom({ name: "Linear" })).room_id;
    expect(roomId.endsWith(":hub.test")).toBe(true);
  });

  it("invites and joins users of both other servers", async () => {
    await alice.invite(roomId, bob.userId);
    await alice.invite(roomId, carol.userId);
    await bob.join(roomId);
    await carol.join(roomId);
    const members = await alice.request<{ joined: Record<string, unknown> }>("GET", `/rooms/${encodeURIComponent(roomId)}/joined_members`);
    expect(Object.keys(members.joined).sort()).toEqual([alice.userId, bob.userId, carol.userId].sort());
  });

  it("orders messages sent from all three servers in parallel identically everywhere", async () => {
    const sends = [];
    for (let i = 0; i < 5; i++) {
      sends.push(alice.send(roomId, `a${i}`), bob.send(roomId, `b${i}`), carol.send(roomId, `c${i}`));
    }
    const ids = await Promise.all(sends);
    expect(new Set(ids).size).toBe(15);
    const hubView = await alice.timeline(roomId);
    await eventually(async () => {
      const [b, c] = await Promise.all([bob.timeline(roomId), carol.timeline(roomId)]);
      const hubIds = hubView.map((e) => e.event_id);
      const tail = (v: typeof hubView) => v.map((e) => e.event_id);
      // Participants' replicas start at their join; from there they must equal the hub's order.
      const bIds = tail(b);
      const cIds = tail(c);
      if (!ids.every((id) => bIds.includes(id) && cIds.includes(id))) return undefined;
      expect(hubIds.slice(hubIds.indexOf(bIds[0] as string))).toEqual(bIds);
      expect(hubIds.slice(hubIds.indexOf(cIds[0] as string))).toEqual(cIds);
      return true;
    }, "all servers to hold all messages");
  });
});
