// Forward extremities after a burst: 20 messages sent concurrently from each side fork the DAG many
// times; one more event merges the forks, after which each server has a single forward extremity. A
// server's extremities are what its next event names as prev_events, read from the PDUs themselves.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stopServers, type TestServer } from "../federation/harness.js";
import { startPeerPair, type Homeserver, type User } from "./peer.js";
import { allSeen, createRoom, hasMembership, join, send } from "./rooms.js";

describe("forward extremities across Switchboard and Synapse", () => {
  let syn: Homeserver;
  let sb: TestServer;
  let alice: User; // on Synapse
  let bob: User; // on Switchboard

  beforeAll(async () => {
    ({ syn, sb, alice, bob } = await startPeerPair(6, "extrem"));
  });

  afterAll(async () => {
    if (sb) await stopServers([sb]);
  });

  /** An event's prev_events, from the PDU Synapse holds (fetched over federation as Switchboard). */
  async function prevEvents(eventId: string): Promise<string[]> {
    const res = await sb.federation({ name: syn.name, url: syn.url } as TestServer, "GET", `/_matrix/federation/v1/event/${encodeURIComponent(eventId)}`);
    expect(res.status).toBe(200);
    return ((await res.json()) as { pdus: Array<{ prev_events: string[] }> }).pdus[0]?.prev_events ?? [];
  }

  for (const hostedOn of ["Switchboard", "Synapse"] as const) {
    it(`${hostedOn} hosts: after 20 concurrent messages each way and one more event, each server has one forward extremity`, async () => {
      const [host, guest] = hostedOn === "Switchboard" ? [bob, alice] : [alice, bob];
      const roomId = await createRoom(host, { room_version: "12", preset: "public_chat" });
      await join(guest, roomId, host.server.name);
      await hasMembership(host, roomId, guest.userId, "join");
      const burst = await Promise.all([
        ...Array.from({ length: 20 }, (_, i) => send(bob, roomId, `switchboard burst ${i}`)),
        ...Array.from({ length: 20 }, (_, i) => send(alice, roomId, `synapse burst ${i}`)),
      ]);
      for (const u of [bob, alice]) await allSeen(u, roomId, burst, 60_000);
      const forks = new Set((await Promise.all(burst.map(prevEvents))).map((p) => JSON.stringify(p))).size;

      // One more event, from Switchboard: its prev_events merge every fork it holds.
      const merge = await send(bob, roomId, "merge");
      await allSeen(alice, roomId, [merge]);
      // Synapse's next event names its extremities: only the merge.
      const fromSynapse = await send(alice, roomId, "next from Synapse");
      expect(await prevEvents(fromSynapse)).toEqual([merge]);
      await allSeen(bob, roomId, [fromSynapse]);
      // And Switchboard's: only Synapse's last event.
      const fromSwitchboard = await send(bob, roomId, "next from Switchboard");
      await allSeen(alice, roomId, [fromSwitchboard]);
      expect(await prevEvents(fromSwitchboard)).toEqual([fromSynapse]);
      console.info(`${hostedOn} hosts: the burst's 40 events had ${forks} distinct prev_events sets; the merge named ${(await prevEvents(merge)).length}`);
    });
  }
});
