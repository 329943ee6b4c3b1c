// Full-mesh v12 rooms across Switchboard and a real Synapse, each side hosting once: the other side's
// user joins, messages go both ways and show on the other server's client API within a second, in
// the same order on both; 20 concurrent messages from each side leave both with the same state; and
// invites, leaves, kicks and bans end with the same membership on both servers.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stopServers, type TestServer } from "../federation/harness.js";
import { startPeerPair, type Homeserver, type User } from "./peer.js";
import { allSeen, createRoom, hasMembership, invited, join, membership, seen, send, stateMap, syncPosition, timeline } from "./rooms.js";

/** The most a message may take to show on the other server's client API. */
const VISIBLE_WITHIN_MS = 1_000;

describe("v12 rooms across Switchboard and Synapse", () => {
  let syn: Homeserver;
  let sb: TestServer;
  let alice: User; // on Synapse
  let bob: User; // on Switchboard

  beforeAll(async () => {
    ({ syn, sb, alice, bob } = await startPeerPair(2, "rooms"));
  });

  afterAll(async () => {
    if (sb) await stopServers([sb]);
  });

  const sides = () =>
    [
      { what: "created on Switchboard, joined by a Synapse user", host: bob, guest: alice, hostName: sb.name },
      { what: "created on Synapse, joined by a Switchboard user", host: alice, guest: bob, hostName: syn.name },
    ] as const;

  for (const index of [0, 1] as const) {
    it(`${index === 0 ? "Switchboard" : "Synapse"} hosts: the other side's user joins a v12 room and messages go both ways, visible within 1 s, in the same order on both servers`, async () => {
      const { host, guest, hostName } = sides()[index];
      const roomId = await createRoom(host, { room_version: "12", preset: "public_chat", name: `mesh ${index}` });
      await join(guest, roomId, hostName);
      await hasMembership(host, roomId, guest.userId, "join");
      await hasMembership(guest, roomId, host.userId, "join");

      const lags: number[] = [];
      for (let i = 0; i < 3; i++) {
        for (const [from, to] of [
          [host, guest],
          [guest, host],
        ] as const) {
          const position = await syncPosition(to);
          const t0 = Date.now();
          const id = await send(from, roomId, `${from === host ? "host" : "guest"} ${i}`);
          lags.push(await seen(to, roomId, id, position, t0));
        }
      }
      console.info(`${sides()[index].what}: message to other client, ms: ${lags.join(", ")}`);
      expect(Math.max(...lags), `lags ${lags.join(", ")} ms`).toBeLessThanOrEqual(VISIBLE_WITHIN_MS);
      const [a, b] = await Promise.all([timeline(host, roomId), timeline(guest, roomId)]);
      const messages = (t: typeof a) => t.filter((e) => e.type === "m.room.message").map((e) => e.event_id);
      expect(messages(a)).toHaveLength(6);
      expect(messages(b)).toEqual(messages(a));
      expect(await stateMap(guest, roomId)).toEqual(await stateMap(host, roomId));
    });
  }

  for (const index of [0, 1] as const) {
    it(`${index === 0 ? "Switchboard" : "Synapse"} hosts: 20 messages sent concurrently from each side leave both servers with the same messages and the same state`, async () => {
      const { host, guest, hostName } = sides()[index];
      const roomId = await createRoom(host, { room_version: "12", preset: "public_chat" });
      await join(guest, roomId, hostName);
      await hasMembership(host, roomId, guest.userId, "join");
      const ids = await Promise.all([
        ...Array.from({ length: 20 }, (_, i) => send(host, roomId, `host burst ${i}`)),
        ...Array.from({ length: 20 }, (_, i) => send(guest, roomId, `guest burst ${i}`)),
      ]);
      for (const u of [host, guest]) await allSeen(u, roomId, ids);
      // One more event, after the bursts met: both sides agree on what the room's state is.
      const last = await send(host, roomId, "after the burst");
      await allSeen(guest, roomId, [last]);
      expect(await stateMap(guest, roomId)).toEqual(await stateMap(host, roomId));
      const ordered = async (u: User) => (await timeline(u, roomId)).filter((e) => e.type === "m.room.message").map((e) => e.event_id);
      expect(new Set(await ordered(guest))).toEqual(new Set(await ordered(host)));
    });
  }

  for (const index of [0, 1] as const) {
    it(`${index === 0 ? "Switchboard" : "Synapse"} hosts: invite, join without a server hint, kick, re-invite, leave and ban end with the same membership on both servers`, async () => {
      const { host, guest } = sides()[index];
      const roomId = await createRoom(host, { room_version: "12", preset: "private_chat" });
      const inviteAndWait = async (roomId: string) => {
        const position = await syncPosition(guest);
        await host.request("POST", `/rooms/${encodeURIComponent(roomId)}/invite`, { user_id: guest.userId });
        await invited(guest, roomId, position);
      };
      const both = async (userId: string, want: string) => {
        await hasMembership(host, roomId, userId, want);
        await hasMembership(guest, roomId, userId, want);
      };
      await inviteAndWait(roomId);
      // The invite names the route: no server_name needed (and a v12 room ID has no server part).
      await guest.request("POST", `/join/${encodeURIComponent(roomId)}`, {});
      await both(guest.userId, "join");

      await host.request("POST", `/rooms/${encodeURIComponent(roomId)}/kick`, { user_id: guest.userId, reason: "testing" });
      // Both sides settle on the kick before the re-invite: an invite overtaking the kick at the
      // guest's server is another scenario (Synapse then has no route for the join).
      await both(guest.userId, "leave");
      await inviteAndWait(roomId);
      await guest.request("POST", `/join/${encodeURIComponent(roomId)}`, {});
      await both(guest.userId, "join");

      await guest.request("POST", `/rooms/${encodeURIComponent(roomId)}/leave`, {});
      await both(guest.userId, "leave");
      await inviteAndWait(roomId);
      await guest.request("POST", `/join/${encodeURIComponent(roomId)}`, {});
      await both(guest.userId, "join");

      await host.request("POST", `/rooms/${encodeURIComponent(roomId)}/ban`, { user_id: guest.userId });
      await hasMembership(host, roomId, guest.userId, "ban");
      // The banned user's server received the ban too: its client sees it.
      await hasMembership(guest, roomId, guest.userId, "ban");
      expect(await membership(host, roomId, guest.userId)).toBe("ban");
    });
  }
});
