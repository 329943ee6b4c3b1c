// Full-mesh Matrix rooms (v12, and one v11) across three real Switchboard servers: joins through the
// creator's server and through another resident server, messages sent concurrently from every
// server, and afterwards the same current state everywhere and, after one more event, a single
// forward extremity on every server (read from make_join's prev_events).

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, TestClient } from "./client.js";
import { stateOf } from "./forge.js";
import { startServers, stopServers, type TestServer } from "./harness.js";
import { extremitiesOn, sameStateEverywhere } from "./dag-helpers.js";

describe.each(["12", "11"])("a version %s room across three servers", (version) => {
  let servers: TestServer[] = [];
  let alice: TestClient;
  let bob: TestClient;
  let carol: TestClient;
  let roomId: string;

  beforeAll(async () => {
    servers = await startServers(["d1.test", "d2.test", "d3.test"]);
    const [s1, s2, s3] = servers as [TestServer, TestServer, TestServer];
    [alice, bob, carol] = await Promise.all([TestClient.register(s1, "alice"), TestClient.register(s2, "bob"), TestClient.register(s3, "carol")]);
  });
  afterAll(() => stopServers(servers));

  it("lets a user of another server join through the creator's server, and a third through the second", async () => {
    roomId = (await alice.createRoom({ room_version: version, preset: "public_chat", name: "mesh" })).room_id;
    await bob.join(roomId, "d1.test");
    await carol.join(roomId, "d2.test");
    await eventually(async () => {
      const views = await Promise.all([alice, bob, carol].map((c) => c.request<{ joined: Record<string, unknown> }>("GET", `/rooms/${encodeURIComponent(roomId)}/joined_members`)));
      return views.every((v) => Object.keys(v.joined).length === 3) || undefined;
    }, "every server to see three joined members");
  });

  it("delivers messages sent concurrently from all three servers to every server", async () => {
    const sends = [];
    for (let i = 0; i < 5; i++) sends.push(alice.send(roomId, `a${i}`), bob.send(roomId, `b${i}`), carol.send(roomId, `c${i}`));
    const ids = await Promise.all(sends);
    await eventually(async () => {
      const views = await Promise.all([alice, bob, carol].map((c) => c.timeline(roomId)));
      return views.every((v) => ids.every((id) => v.some((e) => e.event_id === id))) || undefined;
    }, "all messages on all servers");
  });

  it("ends with the same current state everywhere and, after one more event, one forward extremity each", async () => {
    const last = await alice.send(roomId, "the last word");
    await eventually(async () => {
      const ex = await Promise.all(servers.map((s) => extremitiesOn(servers, s, roomId, version)));
      return ex.every((e) => e.length === 1 && e[0] === last) || undefined;
    }, "a single extremity, alice's last event, on every server");
    await sameStateEverywhere(servers, roomId);
    const state = await stateOf(servers[0] as TestServer, roomId);
    expect(state.get(`m.room.member\u0000${carol.userId}`)?.pdu.content["membership"]).toBe("join");
  });
});
