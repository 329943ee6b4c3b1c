// A Switchboard user joining a v12 room that a real Synapse hosts sees the messages sent before the
// join in /messages: Switchboard starts its copy of the room at the join and, when the user pages
// back past it, backfills the rest from Synapse.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stopServers, type TestServer } from "../federation/harness.js";
import { startPeerPair, type Homeserver, type User } from "./peer.js";
import { allSeen, createRoom, hasMembership, join, send, timeline } from "./rooms.js";

describe("history from before a join, in a v12 room on Synapse", () => {
  let syn: Homeserver;
  let sb: TestServer;
  let alice: User; // on Synapse
  let bob: User; // on Switchboard

  beforeAll(async () => {
    ({ syn, sb, alice, bob } = await startPeerPair(7, "history"));
  });

  afterAll(async () => {
    if (sb) await stopServers([sb]);
  });

  it("shows a Switchboard user who joins later the earlier messages in /messages, in Synapse's order, down to the create event", async () => {
    const roomId = await createRoom(alice, { room_version: "12", preset: "public_chat", name: "history" });
    const earlier: string[] = [];
    for (let i = 0; i < 5; i++) earlier.push(await send(alice, roomId, `before the join ${i}`));
    await join(bob, roomId, syn.name);
    await hasMembership(alice, roomId, bob.userId, "join");
    const after = await send(alice, roomId, "after the join");
    await hasMembership(bob, roomId, bob.userId, "join");
    // The message after the join reaches Switchboard by federation, a moment after Synapse answers its send.
    await allSeen(bob, roomId, [after]);

    const [onSynapse, onSwitchboard] = await Promise.all([timeline(alice, roomId), timeline(bob, roomId)]);
    const messages = (t: typeof onSynapse) => t.filter((e) => e.type === "m.room.message").map((e) => e.event_id);
    expect(messages(onSwitchboard).slice(0, 5)).toEqual(earlier);
    expect(messages(onSwitchboard)).toContain(after);
    expect(messages(onSwitchboard)).toEqual(messages(onSynapse));
    expect(onSwitchboard[0]?.type).toBe("m.room.create");
  });
});
