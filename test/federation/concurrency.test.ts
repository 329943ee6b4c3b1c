// Concurrency: 50 users on three servers (the hub and two participants) join one room at once, then
// all of them send 4 messages at once. Afterwards every server holds the same events in the same
// order, byte for byte (the stored PDU JSON of each event and the event ID sequence), its positions
// have no gaps, and no event or message is stored twice. The sent/stored figures are printed.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canonicalJson } from "../../shared/canonical-json.js";
import { eventually, storedEvents, TestClient, type StoredPdu } from "./client.js";
import { marker, stateOf } from "./forge.js";
import { startServers, stopServers, type TestServer } from "./harness.js";

const SENDERS = 50;
const MESSAGES_EACH = 4;
const enc = encodeURIComponent;

describe("50 senders on 3 servers in one room, in parallel", () => {
  let servers: TestServer[] = [];
  let hub: TestServer;
  let users: TestClient[] = [];
  let roomId: string;
  const sent = new Map<string, string>(); // body -> event ID answered to the sender
  let prefix: string;

  beforeAll(async () => {
    servers = await startServers(["hub.test", "p1.test", "p2.test"]);
    hub = servers[0] as TestServer;
    // Users spread round-robin: 17 on the hub, 17 on p1, 16 on p2.
    users = await Promise.all(Array.from({ length: SENDERS }, (_, i) => TestClient.register(servers[i % 3] as TestServer, `sender${i}`)));
    roomId = (await (users[0] as TestClient).createRoom({ preset: "public_chat", name: "Crowd" })).room_id;
    prefix = marker("crowd");
  }, 120_000);
  afterAll(() => stopServers(servers));

  /** Every server's stored events for the room. */
  const everyStore = (): Promise<StoredPdu[][]> => Promise.all(servers.map((s) => storedEvents(s, roomId)));

  it("admits 49 concurrent joins from three servers, each exactly once, and every server sees all 50 members", async () => {
    const results = await Promise.allSettled(users.slice(1).map((u) => u.join(roomId, hub.name)));
    const failed = results.flatMap((r, i) => (r.status === "rejected" ? [`${users[i + 1]?.userId}: ${String(r.reason)}`] : []));
    expect(failed).toEqual([]);
    const expected = users.map((u) => u.userId).sort();
    // Membership as each server's current state has it (a participant's timeline starts at its
    // first local join; earlier joins are in the state it was given, not in its timeline).
    const joinedOn = async (srv: TestServer) =>
      [...(await stateOf(srv, roomId)).values()].filter((e) => e.pdu.type === "m.room.member" && e.pdu.content["membership"] === "join").map((e) => String(e.pdu.state_key)).sort();
    try {
      await eventually(async () => ((await Promise.all(servers.map(joinedOn))).every((j) => j.join() === expected.join()) ? true : undefined), "all 50 joined on every server", 60_000);
    } catch (e) {
      const missing = await Promise.all(servers.map(async (srv) => { const j = await joinedOn(srv); return `${srv.name} misses ${expected.filter((u) => !j.includes(u)).join(" ")}`; }));
      throw new Error(`${String(e)}\n${missing.join("\n")}`);
    }
    // Each join is in the timeline once: all of them on the hub, a suffix of them on participants.
    const joinsIn = (events: StoredPdu[]) => events.filter((e) => e.pdu.type === "m.room.member" && e.pdu.content["membership"] === "join").map((e) => String(e.pdu["state_key"]));
    const stores = await everyStore();
    expect([...joinsIn(stores[0] as StoredPdu[])].sort()).toEqual(expected);
    for (const events of stores) expect(new Set(joinsIn(events)).size).toBe(joinsIn(events).length);
    const members = await (users[0] as TestClient).request<{ joined: Record<string, unknown> }>("GET", `/rooms/${enc(roomId)}/joined_members`);
    expect(Object.keys(members.joined).sort()).toEqual(expected);
  }, 90_000);

  it("stores every one of 200 concurrent messages exactly once, in one order, byte-identical on every server", async () => {
    const sends = users.flatMap((u, i) =>
      Array.from({ length: MESSAGES_EACH }, async (_, k) => {
        const body = `${prefix}-${i}-${k}`;
        const eventId = await u.send(roomId, body);
        sent.set(body, eventId);
      }),
    );
    const started = Date.now();
    const results = await Promise.allSettled(sends);
    const sendMs = Date.now() - started;
    const failed = results.flatMap((r) => (r.status === "rejected" ? [String(r.reason)] : []));
    expect(failed).toEqual([]);
    expect(sent.size).toBe(SENDERS * MESSAGES_EACH);

    const isOurs = (e: StoredPdu) => e.pdu.type === "m.room.message" && String(e.pdu.content["body"]).startsWith(`${prefix}-`);
    const stores = await eventually(
      async () => {
        const s = await everyStore();
        return s.every((events) => events.filter(isOurs).length >= sent.size) ? s : undefined;
      },
      "every message on every server",
      60_000,
    );

    // The figures for the note.
    const figures = servers.map((srv, i) => `${srv.name}: ${(stores[i] as StoredPdu[]).filter(isOurs).length} stored`);
    console.log(`[concurrency] ${SENDERS} senders x ${MESSAGES_EACH} = ${sent.size} messages sent in ${sendMs} ms; ${figures.join(", ")}; events per server: ${stores.map((s) => s.length).join("/")}`);

    const hubEvents = stores[0] as StoredPdu[];
    for (const [i, events] of stores.entries()) {
      const name = (servers[i] as TestServer).name;
      // No duplicates: every event ID and every message body once.
      const ids = events.map((e) => e.event_id);
      expect([name, new Set(ids).size]).toEqual([name, ids.length]);
      const bodies = events.filter(isOurs).map((e) => String(e.pdu.content["body"]));
      expect([name, bodies.length, new Set(bodies).size]).toEqual([name, sent.size, sent.size]);
      expect([name, [...bodies].sort()]).toEqual([name, [...sent.keys()].sort()]);
      // The event IDs senders were given are the ones stored.
      for (const e of events.filter(isOurs)) expect(e.event_id).toBe(sent.get(String(e.pdu.content["body"])));
      // No gaps: positions are consecutive.
      const gaps = events.slice(1).filter((e, j) => e.pos !== (events[j] as StoredPdu).pos + 1);
      expect([name, gaps.map((e) => e.pos)]).toEqual([name, []]);
      // Each event's prev_event is the event stored before it: one chain, no forks.
      const forks = events.slice(1).filter((e, j) => e.pdu.prev_events.length !== 1 || e.pdu.prev_events[0] !== (events[j] as StoredPdu).event_id);
      expect([name, forks.map((e) => e.event_id)]).toEqual([name, []]);

      // The shared part: from this server's first event on, the hub's sequence, byte for byte.
      const start = hubEvents.findIndex((e) => e.event_id === events[0]?.event_id);
      expect([name, start >= 0]).toEqual([name, true]);
      const hubPart = hubEvents.slice(start);
      expect([name, ids]).toEqual([name, hubPart.map((e) => e.event_id)]);
      const mismatched = events.filter((e, j) => canonicalJson(e.pdu) !== canonicalJson((hubPart[j] as StoredPdu).pdu));
      expect([name, mismatched.map((e) => e.event_id)]).toEqual([name, []]);
    }
  }, 120_000);
});
