// Races of state events between Switchboard and a real Synapse, sent at the same moment from both
// servers: each side resolves the fork with state resolution, and both must end with the same state,
// event by event. Where the two events really share a parent (read from the events' prev_events), the
// outcome the algorithm fixes is checked too: the more powerful sender's event wins.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stopServers, type TestServer } from "../federation/harness.js";
import { synapse, startSwitchboard, User, type Homeserver } from "./peer.js";
import { allSeen, createRoom, join, membership, send, setState, stateMap, timeline } from "./rooms.js";

const enc = encodeURIComponent;

describe("state races across Switchboard and Synapse", () => {
  let syn: Homeserver;
  let sb: TestServer;
  let bob: User; // Switchboard, the room's creator and admin
  let dan: User; // Switchboard
  let alice: User; // Synapse, the racing user
  let carol: User; // Synapse, a witness that reads Synapse's view of the room

  beforeAll(async () => {
    syn = synapse();
    sb = await startSwitchboard(syn, 5);
    const tag = Date.now().toString(36);
    [bob, dan, alice, carol] = await Promise.all([
      User.register(sb, `bob-race-${tag}`),
      User.register(sb, `dan-race-${tag}`),
      User.register(syn, `alice-race-${tag}`),
      User.register(syn, `carol-race-${tag}`),
    ]);
  });

  afterAll(async () => {
    if (sb) await stopServers([sb]);
  });

  /** The PDU as Synapse holds it, fetched over federation as Switchboard (a server in the room). */
  async function prevEvents(eventId: string): Promise<string[]> {
    const res = await sb.federation({ name: syn.name, url: syn.url } as TestServer, "GET", `/_matrix/federation/v1/event/${enc(eventId)}`);
    const body = (await res.json()) as { pdus: Array<{ prev_events: string[] }> };
    return body.pdus[0]?.prev_events ?? [];
  }

  /** A v12 room on Switchboard with everyone joined and alice at power level 50. */
  async function room(): Promise<string> {
    const roomId = await createRoom(bob, { room_version: "12", preset: "public_chat", initial_state: [{ type: "m.room.topic", state_key: "", content: { topic: "before" } }] });
    await join(dan, roomId, sb.name);
    for (const u of [alice, carol]) await join(u, roomId, sb.name);
    const pl = await bob.request<{ users: Record<string, number> }>("GET", `/rooms/${enc(roomId)}/state/m.room.power_levels/`);
    await setState(bob, roomId, "m.room.power_levels", "", { ...pl, users: { ...pl.users, [alice.userId]: 50 } });
    const ready = await send(bob, roomId, "ready");
    await allSeen(carol, roomId, [ready]);
    await allSeen(alice, roomId, [ready]);
    return roomId;
  }

  /** After one later event from each side (whose parents include what its server had), compares both servers' state. */
  async function settled(roomId: string): Promise<Record<string, string>> {
    const after = [await send(bob, roomId, "after the race"), await send(carol, roomId, "after the race too")];
    await allSeen(bob, roomId, after, 60_000);
    await allSeen(carol, roomId, after, 60_000);
    const [ours, theirs] = await Promise.all([stateMap(bob, roomId), stateMap(carol, roomId)]);
    expect(ours).toEqual(theirs);
    return ours;
  }

  it("a ban of the Synapse user against that user's topic change resolve the same on both servers (the ban wins a true fork)", async () => {
    const roomId = await room();
    const before = await stateMap(bob, roomId);
    const [ban, topic] = await Promise.allSettled([
      bob.request("POST", `/rooms/${enc(roomId)}/ban`, { user_id: alice.userId }),
      setState(alice, roomId, "m.room.topic", "", { topic: "from the banned user" }),
    ]);
    expect(ban.status).toBe("fulfilled");
    const topicId = topic.status === "fulfilled" ? topic.value : "";
    const state = await settled(roomId);
    expect(await membership(bob, roomId, alice.userId)).toBe("ban");
    const banId = state[`m.room.member|${alice.userId}`] as string;
    const fork = topicId !== "" && JSON.stringify(await prevEvents(topicId)) === JSON.stringify(await prevEvents(banId));
    console.info(`ban against topic: ${fork ? "a true fork (same prev_events)" : "not concurrent this run"}`);
    if (fork) {
      expect(state["m.room.topic|"]).toBe(before["m.room.topic|"]);
    }
  });

  it("a power-level demotion against a kick by the demoted user resolve the same on both servers (the demotion wins a true fork)", async () => {
    const roomId = await room();
    const pl = await bob.request<{ users: Record<string, number> }>("GET", `/rooms/${enc(roomId)}/state/m.room.power_levels/`);
    const [demote, kick] = await Promise.allSettled([
      setState(bob, roomId, "m.room.power_levels", "", { ...pl, users: { ...pl.users, [alice.userId]: 0 } }),
      alice.request("POST", `/rooms/${enc(roomId)}/kick`, { user_id: dan.userId }),
    ]);
    expect(demote.status).toBe("fulfilled");
    const state = await settled(roomId);
    const levels = await carol.request<{ users: Record<string, number> }>("GET", `/rooms/${enc(roomId)}/state/m.room.power_levels/`);
    expect(levels.users[alice.userId] ?? 0).toBe(0);
    // The kick answers no event ID: it is the one alice sent about dan in Synapse's timeline (kept there even if resolved away).
    const kickId = (await timeline(carol, roomId)).find((e) => e.type === "m.room.member" && e.state_key === dan.userId && e.sender === alice.userId)?.event_id;
    const demoteId = state["m.room.power_levels|"] as string;
    const fork = kickId !== undefined && JSON.stringify(await prevEvents(kickId)) === JSON.stringify(await prevEvents(demoteId));
    console.info(`demotion against kick: ${fork ? "a true fork (same prev_events)" : `not concurrent this run (kick ${kick.status})`}`);
    if (fork) {
      expect(await membership(bob, roomId, dan.userId)).toBe("join");
    }
  });

  it("a join-rules change against a join resolve the same on both servers", async () => {
    const roomId = await room();
    const eve = await User.register(syn, `eve-race-${Date.now().toString(36)}`);
    await Promise.allSettled([setState(bob, roomId, "m.room.join_rules", "", { join_rule: "invite" }), join(eve, roomId, sb.name)]);
    const state = await settled(roomId);
    const rule = await carol.request<{ join_rule: string }>("GET", `/rooms/${enc(roomId)}/state/m.room.join_rules/`);
    expect(rule.join_rule).toBe("invite");
    console.info(`join-rules against join: the join ${state[`m.room.member|${eve.userId}`] ? "is" : "is not"} in the resolved state of both`);
  });
});
