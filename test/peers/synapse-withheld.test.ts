// Withheld history against a real Synapse: while Switchboard is down, a Synapse user sends 3 (then 15)
// messages. Synapse keeps PDUs for an unreachable server in memory and resends them all when it comes
// back; restarted in between, it instead "catches up" the server, sending only its newest event per
// room. So Switchboard receives one event whose parents it has never seen and must fetch them
// (get_missing_events, then state at the gap) before every message shows in /messages on both sides.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stopServers, type TestServer } from "../federation/harness.js";
import { restartSynapse, startPeerPair, type Homeserver, type User } from "./peer.js";
import { allSeen, createRoom, hasMembership, join, send, timeline } from "./rooms.js";

describe("withheld history from Synapse", () => {
  let syn: Homeserver;
  let sb: TestServer;
  let alice: User; // on Synapse
  let bob: User; // on Switchboard

  beforeAll(async () => {
    ({ syn, sb, alice, bob } = await startPeerPair(4, "withheld"));
  });

  afterAll(async () => {
    if (sb) await stopServers([sb]);
  });

  const messages = async (u: User, roomId: string) => (await timeline(u, roomId)).filter((e) => e.type === "m.room.message").map((e) => e.event_id);

  for (const gap of [3, 15]) {
    it(`Switchboard, back after missing ${gap} messages, fetches them when the next event names them as ancestors, and /messages matches on both servers`, async () => {
      const roomId = await createRoom(alice, { room_version: "12", preset: "public_chat", name: `withheld ${gap}` });
      await join(bob, roomId, syn.name);
      await hasMembership(alice, roomId, bob.userId, "join");
      const before = await send(alice, roomId, "before the outage");
      await allSeen(bob, roomId, [before]);

      await sb.stop();
      const withheld: string[] = [];
      for (let i = 0; i < gap; i++) withheld.push(await send(alice, roomId, `while Switchboard is down ${i}`));
      // Synapse forgets the queued PDUs; Switchboard comes back having none of them.
      restartSynapse(syn);
      await sb.start();
      expect(await messages(bob, roomId)).toEqual([before]);

      // The one event whose parents Switchboard lacks; Synapse's catch-up sends only its newest.
      const after = await send(alice, roomId, "after the outage");
      const all = [before, ...withheld, after];
      await allSeen(bob, roomId, all, 60_000);
      await allSeen(alice, roomId, all);
      expect(await messages(bob, roomId)).toEqual(all);
      expect(await messages(alice, roomId)).toEqual(all);

      // The room goes on from the filled gap: Switchboard's next event reaches Synapse.
      const reply = await send(bob, roomId, "caught up");
      await allSeen(alice, roomId, [reply]);
    });
  }
});
