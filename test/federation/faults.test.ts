// Delivery under faults: a participant down during fan-out, the hub restarting with deliveries still
// queued or just acknowledged, a participant restarting under a client's send, and the hub restarting
// while users send. Each server is a real workerd that stop() kills and start() brings back with its
// persisted state (a crash or a deploy).

import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { eventually, storedEvents, TestClient, type StoredPdu } from "./client.js";
import { startServers, stopServers, type TestServer } from "./harness.js";

/** Short backoff so a returning server is retried within about a second. */
const BINDINGS = { FEDERATION_RETRY_BASE_MS: "100", FEDERATION_RETRY_MAX_MS: "1000" };
const ADMIN = { authorization: "Bearer test-admin-token" };

interface DestinationStatus {
  queuedPdus: number;
  queuedEdus: number;
  inFlightTxn: string | null;
  failures: number;
}

async function destinationStatus(server: TestServer, destination: string): Promise<DestinationStatus> {
  const res = await server.fetch(`/_switchboard/admin/v1/destinations/${encodeURIComponent(destination)}`, { headers: ADMIN });
  expect(res.status).toBe(200);
  return (await res.json()) as DestinationStatus;
}

async function roomOutbox(server: TestServer, roomId: string): Promise<Array<{ destination: string; count: number }>> {
  const res = await server.fetch(`/_switchboard/admin/v1/rooms/${encodeURIComponent(roomId)}`, { headers: ADMIN });
  expect(res.status).toBe(200);
  return ((await res.json()) as { outbox: Array<{ destination: string; count: number }> }).outbox;
}

/** Waits until `server` has handed everything for `destination` over and the remote took it. */
async function drained(server: TestServer, destination: string, roomId: string): Promise<DestinationStatus> {
  return eventually(async () => {
    const status = await destinationStatus(server, destination);
    const outbox = await roomOutbox(server, roomId);
    return status.queuedPdus === 0 && status.inFlightTxn === null && outbox.length === 0 ? status : undefined;
  }, `${server.name}'s queue for ${destination} to drain`);
}

/** A timeline without duplicates whose positions run 1, 2, 3... with no gap. */
function expectGapless(events: StoredPdu[], what: string): void {
  const ids = events.map((e) => e.event_id);
  expect(new Set(ids).size, `${what}: duplicate event IDs`).toBe(ids.length);
  expect(events.map((e) => e.pos), `${what}: positions`).toEqual(events.map((_, i) => i + 1));
  for (let i = 1; i < events.length; i++) {
    expect((events[i] as StoredPdu).pdu.prev_events, `${what}: prev_events at pos ${i + 1}`).toEqual([ids[i - 1]]);
  }
}

/** A participant's replica: gapless, and exactly the hub's events from the participant's join on. */
function expectReplicaOfHub(hubEvents: StoredPdu[], replica: StoredPdu[], what: string): void {
  const ids = replica.map((e) => e.event_id);
  expect(new Set(ids).size, `${what}: duplicate event IDs`).toBe(ids.length);
  expect(replica.map((e) => e.pos), `${what}: positions`).toEqual(replica.map((_, i) => i + 1));
  const hubIds = hubEvents.map((e) => e.event_id);
  const start = hubIds.indexOf(ids[0] as string);
  expect(start, `${what}: first event is on the hub`).toBeGreaterThan(0);
  expect(ids, `${what}: order`).toEqual(hubIds.slice(start));
}

const countOf = (ids: string[], id: string) => ids.filter((x) => x === id).length;

describe("federation delivery under faults", () => {
  let servers: TestServer[] = [];
  let hub: TestServer;
  let p1: TestServer;
  let p2: TestServer;
  let alice: TestClient;
  let bob: TestClient;
  let carol: TestClient;

  beforeAll(async () => {
    servers = await startServers(["hub.test", "p1.test", "p2.test"], { bindings: BINDINGS });
    [hub, p1, p2] = servers as [TestServer, TestServer, TestServer];
    [alice, bob, carol] = await Promise.all([TestClient.register(hub, "alice"), TestClient.register(p1, "bob"), TestClient.register(p2, "carol")]);
  });
  afterAll(() => stopServers(servers));
  // A failed test must not leave the next one with a server down.
  beforeEach(async () => {
    await Promise.all(servers.map((s) => s.start()));
  });

  /**
   * A room on the hub with `members` joined, once every member's server holds the hub's latest
   * event. (Faults start from a settled room: a participant that has not yet fetched another
   * participant's signing key cannot verify that server's events while it is down; see the report.)
   */
  async function roomWith(...members: TestClient[]): Promise<string> {
    const roomId = (await alice.createRoom({ name: "faults" })).room_id;
    for (const m of members) await alice.invite(roomId, m.userId);
    for (const m of members) await m.join(roomId);
    const last = (await storedEvents(hub, roomId)).at(-1)?.event_id;
    for (const m of members) {
      await eventually(async () => ((await storedEvents(m.server, roomId)).at(-1)?.event_id === last ? true : undefined), `${m.server.name} to settle`);
    }
    return roomId;
  }

  it("delivers everything sent while a participant was down, once each and in the hub's order, when it returns", async () => {
    const roomId = await roomWith(bob, carol);
    await p2.stop();
    const sent: string[] = [];
    for (let i = 0; i < 15; i++) sent.push(...(await Promise.all([alice.send(roomId, `hub ${i}`), bob.send(roomId, `p1 ${i}`)])));
    expect(new Set(sent).size).toBe(30);
    // The fault was real: the hub holds deliveries for p2 and has failed to send them.
    const down = await eventually(async () => {
      const s = await destinationStatus(hub, "p2.test");
      return s.failures > 0 && s.queuedPdus > 0 ? s : undefined;
    }, "the hub to notice p2 is down");
    expect(down.queuedPdus).toBeGreaterThan(0);
    // The room's outbox, not the queue's storage, is what keeps them until p2 has them.
    const waiting = (await roomOutbox(hub, roomId)).find((r) => r.destination === "p2.test");
    expect(waiting?.count).toBeGreaterThanOrEqual(30);

    await p2.start();
    const replica = await eventually(async () => {
      const ev = await storedEvents(p2, roomId);
      return sent.every((id) => ev.some((e) => e.event_id === id)) ? ev : undefined;
    }, "p2 to receive all 30 messages");
    const status = await drained(hub, "p2.test", roomId);
    expect(status.failures).toBe(0);

    const hubEvents = await storedEvents(hub, roomId);
    expectGapless(hubEvents, "hub");
    expectReplicaOfHub(hubEvents, replica, "p2");
    const replicaIds = replica.map((e) => e.event_id);
    for (const id of sent) expect(countOf(replicaIds, id), id).toBe(1);
    // The messages sit on p2 in the hub's relative order.
    const hubOrder = hubEvents.map((e) => e.event_id).filter((id) => sent.includes(id));
    expect(replicaIds.filter((id) => sent.includes(id))).toEqual(hubOrder);
    // p1, up all along, holds the same sequence.
    expectReplicaOfHub(hubEvents, await storedEvents(p1, roomId), "p1");
  });

  it("delivers a restarted hub's queued events to a participant that was down, once each and in order", async () => {
    const roomId = await roomWith(bob);
    await p1.stop();
    const sent: string[] = [];
    for (let i = 0; i < 20; i++) sent.push(await alice.send(roomId, `queued ${i}`));
    await eventually(async () => {
      const s = await destinationStatus(hub, "p1.test");
      return s.failures > 0 && s.queuedPdus >= 1 ? s : undefined;
    }, "the hub to hold deliveries for p1");

    await hub.stop();
    await hub.start();
    await p1.start();

    const replica = await eventually(async () => {
      const ev = await storedEvents(p1, roomId);
      return sent.every((id) => ev.some((e) => e.event_id === id)) ? ev : undefined;
    }, "p1 to receive all 20 messages after the hub's restart");
    await drained(hub, "p1.test", roomId);
    const hubEvents = await storedEvents(hub, roomId);
    expectGapless(hubEvents, "hub");
    expectReplicaOfHub(hubEvents, replica, "p1");
    const replicaIds = replica.map((e) => e.event_id);
    for (const id of sent) expect(countOf(replicaIds, id), id).toBe(1);
    expect(replicaIds.filter((id) => sent.includes(id))).toEqual(sent);
  });

  it("delivers events acknowledged just before the hub crashed, with no further traffic to prompt it", async () => {
    const roomId = await roomWith(bob);
    const sent = await Promise.all(Array.from({ length: 20 }, (_, i) => alice.send(roomId, `last words ${i}`)));
    await hub.stop();
    await hub.start();
    const replica = await eventually(async () => {
      const ev = await storedEvents(p1, roomId);
      return sent.every((id) => ev.some((e) => e.event_id === id)) ? ev : undefined;
    }, "p1 to receive the 20 messages acknowledged before the crash", 8_000);
    const hubEvents = await storedEvents(hub, roomId);
    expectGapless(hubEvents, "hub");
    expectReplicaOfHub(hubEvents, replica, "p1");
    await drained(hub, "p1.test", roomId);
  });

  it("answers a send retried with the same transaction ID after the participant restarted with the one event it made", async () => {
    const roomId = await roomWith(bob);
    const rounds: Array<{ body: string; eventId: string }> = [];
    for (let round = 0; round < 5; round++) {
      const body = `retried ${round}`;
      const path = `/rooms/${encodeURIComponent(roomId)}/send/m.room.message/retried.${round}`;
      const first = bob.request<{ event_id: string }>("PUT", path, { msgtype: "m.text", body }).then((r) => r.event_id, () => undefined);
      // Cut p1 off at a different point of the send each round.
      await new Promise((r) => setTimeout(r, round * 4));
      await p1.stop();
      await p1.start();
      const firstId = await first;
      const eventId = await eventually(
        async () => (await bob.request<{ event_id: string }>("PUT", path, { msgtype: "m.text", body })).event_id,
        `bob's retried send ${round}`,
      );
      if (firstId !== undefined) expect(eventId).toBe(firstId);
      rounds.push({ body, eventId });
    }
    // A client that gave up on its request and retried while the first was still waiting for the
    // hub's echo (no restart) gets the same event too.
    const racing = Array.from({ length: 3 }, () =>
      bob.request<{ event_id: string }>("PUT", `/rooms/${encodeURIComponent(roomId)}/send/m.room.message/retried.racing`, { msgtype: "m.text", body: "retried racing" }),
    );
    const racingIds = new Set((await Promise.all(racing)).map((r) => r.event_id));
    expect(racingIds.size).toBe(1);
    rounds.push({ body: "retried racing", eventId: [...racingIds][0] as string });
    // Whatever p1 still had queued for the hub has gone out before counting.
    await drained(p1, "hub.test", roomId);
    const hubEvents = await storedEvents(hub, roomId);
    const replica = await eventually(async () => {
      const ev = await storedEvents(p1, roomId);
      return ev.at(-1)?.event_id === hubEvents.at(-1)?.event_id ? ev : undefined;
    }, "p1 to catch up with the hub");
    for (const { body, eventId } of rounds) {
      const onHub = hubEvents.filter((e) => e.pdu.content["body"] === body);
      expect(onHub.map((e) => e.event_id), body).toEqual([eventId]);
      expect(replica.filter((e) => e.pdu.content["body"] === body).map((e) => e.event_id), body).toEqual([eventId]);
    }
    expectGapless(hubEvents, "hub");
    expectReplicaOfHub(hubEvents, replica, "p1");
  });

  it("keeps the hub's timeline gapless and every acknowledged send when the hub restarts mid-stream", async () => {
    const roomId = await roomWith(bob);
    // Three streams of the hub's user and one of the participant's user (whose LPDUs queue on p1
    // while the hub is down).
    const senders = [alice, alice, alice, bob];
    const PER_STREAM = 20;
    const acked = new Map<string, string>(); // body -> event ID
    let failedAttempts = 0;
    let restarting: Promise<void> | undefined;

    // Each stream sends its messages in turn; a send that fails (connection refused or reset while
    // the hub is down) is retried with the same transaction ID until it is acknowledged.
    const stream = async (client: TestClient, s: number) => {
      for (let i = 0; i < PER_STREAM; i++) {
        const body = `stream ${s} message ${i}`;
        const txnId = `restart.${s}.${i}`;
        for (;;) {
          try {
            const r = await client.request<{ event_id: string }>("PUT", `/rooms/${encodeURIComponent(roomId)}/send/m.room.message/${txnId}`, { msgtype: "m.text", body });
            acked.set(body, r.event_id);
            break;
          } catch {
            failedAttempts++;
            await new Promise((r) => setTimeout(r, 50));
          }
        }
        if (acked.size === 15 && !restarting) {
          restarting = (async () => {
            await hub.stop();
            await new Promise((r) => setTimeout(r, 200));
            await hub.start();
          })();
        }
      }
    };
    await Promise.all(senders.map((c, s) => stream(c, s)));
    await restarting;
    expect(restarting).toBeDefined();
    expect(acked.size).toBe(senders.length * PER_STREAM);

    const hubEvents = await storedEvents(hub, roomId);
    expectGapless(hubEvents, "hub");
    const hubIds = hubEvents.map((e) => e.event_id);
    for (const [body, id] of acked) expect(countOf(hubIds, id), `${body} (${id})`).toBe(1);
    // A retried transaction ID never produced a second event.
    const bodies = hubEvents.filter((e) => e.pdu.type === "m.room.message").map((e) => String(e.pdu.content["body"]));
    expect(bodies.length).toBe(senders.length * PER_STREAM);
    expect(new Set(bodies).size).toBe(bodies.length);

    // The participant ends up with exactly the hub's sequence.
    const replica = await eventually(async () => {
      const ev = await storedEvents(p1, roomId);
      return ev.at(-1)?.event_id === hubIds.at(-1) ? ev : undefined;
    }, "p1 to catch up with the hub");
    expectReplicaOfHub(hubEvents, replica, "p1");
    await drained(hub, "p1.test", roomId);
    expect(failedAttempts).toBeGreaterThan(0);
  });
});
