// Every event every server stored after a three-server conversation, checked by an implementation
// of the spec's algorithms that shares no code with the servers (independent-check.ts).

import { createPrivateKey, createPublicKey, sign } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, storedEvents, TestClient, type StoredPdu } from "./client.js";
import { startServers, stopServers, type TestServer } from "./harness.js";
import {
  addKeyDocument,
  canonicalJson,
  decodeBase64,
  ed25519PublicKey,
  eventIdOf,
  eventProblems,
  pduContentHash,
  unpaddedBase64,
  verifySignature,
  type JsonObj,
  type KeyRing,
} from "./independent-check.js";

describe("the independent checker against the Matrix specification's vectors", () => {
  it("canonicalises like the appendix examples, ordering keys by code point", () => {
    expect(canonicalJson({})).toBe("{}");
    expect(canonicalJson({ one: 1, two: "Two" })).toBe('{"one":1,"two":"Two"}');
    expect(canonicalJson({ b: "2", a: "1" })).toBe('{"a":"1","b":"2"}');
    expect(canonicalJson({ 本: 2, 日: 1 })).toBe('{"日":1,"本":2}');
    expect(canonicalJson({ a: "\u65E5" })).toBe('{"a":"日"}');
    expect(canonicalJson({ a: null })).toBe('{"a":null}');
    expect(canonicalJson({ a: -0, b: 1e10 })).toBe('{"a":0,"b":10000000000}');
    expect(canonicalJson({ "\u{1F600}": 1, "\uFFFD": 2 })).toBe('{"\uFFFD":2,"\u{1F600}":1}');
    expect(canonicalJson({ s: "\b\t\n\f\r\"\\\u0001\u007f/\u2028" })).toBe('{"s":"\\b\\t\\n\\f\\r\\"\\\\\\u0001\u007f/\u2028"}');
    expect(() => canonicalJson({ f: 1.5 })).toThrow();
  });

  it("reproduces the JSON-signing vectors and verifies them with node:crypto", () => {
    const seed = decodeBase64("YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1");
    const priv = createPrivateKey({ key: Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), seed]), format: "der", type: "pkcs8" });
    const spki = createPublicKey(priv).export({ format: "der", type: "spki" });
    const pub = unpaddedBase64(new Uint8Array(spki.subarray(spki.length - 32)));
    const ring: KeyRing = new Map([["domain", new Map([["ed25519:1", ed25519PublicKey(pub)]])]]);
    const s1 = unpaddedBase64(sign(null, Buffer.from(canonicalJson({})), priv));
    expect(s1).toBe("K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ");
    const s2: JsonObj = {
      one: 1,
      two: "Two",
      signatures: { domain: { "ed25519:1": "KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw" } },
    };
    expect(verifySignature(s2, "domain", ring).ok).toBe(true);
    expect(verifySignature({ ...s2, two: "Three" }, "domain", ring).ok).toBe(false);
  });

  it("reproduces the event content-hash vectors", () => {
    const e1: JsonObj = {
      room_id: "!x:domain", sender: "@a:domain", origin: "domain", origin_server_ts: 1000000, signatures: {}, hashes: {},
      type: "X", content: {}, prev_events: [], auth_events: [], depth: 3, unsigned: { age_ts: 1000000 },
    };
    expect(pduContentHash(e1)).toBe("5jM4wQpv6lnBo7CLIghJuHdW+s2CMBJPUOGOC89ncos");
    const e2: JsonObj = {
      content: { body: "Here is the message content" }, event_id: "$0:domain", origin: "domain", origin_server_ts: 1000000,
      type: "m.room.message", room_id: "!r:domain", sender: "@u:domain", signatures: {}, unsigned: { age_ts: 1000000 },
    };
    expect(pduContentHash(e2)).toBe("onLKD1bGljeBWQhWZ1kaP9SorVmRQNdN5aM2JYU2n/g");
    // The reference hash ignores what redaction strips, and event IDs are URL-safe.
    expect(eventIdOf({ ...e1, content: { body: "x" } })).toBe(eventIdOf(e1));
    expect(eventIdOf(e1)).toMatch(/^\$[A-Za-z0-9_-]{43}$/);
  });
});

describe("events stored on every server after a hub + two participants conversation", () => {
  let servers: TestServer[] = [];
  let hub: TestServer;
  let alice: TestClient;
  let bob: TestClient;
  let carol: TestClient;
  let roomId: string;
  const stored = new Map<string, StoredPdu[]>();
  const keys: KeyRing = new Map();
  const sentIds: string[] = [];

  /** Content with keys whose code-point order differs from JavaScript's UTF-16 order, and escapes. */
  const awkward = (who: string) => ({
    msgtype: "m.text",
    body: `${who}: tab\there, newline\nthere, \u0001 control, \u2028 separator, "quotes" \\ slash / 日本語 😀`,
    "\u{1F600}": "astral key",
    "\uFFFD": "BMP key above the surrogates",
    nested: { z: 1, a: [true, false, null, -5, 9007199254740991] },
  });

  const sendRaw = async (c: TestClient, content: Record<string, unknown>) =>
    (await c.request<{ event_id: string }>("PUT", `/rooms/${encodeURIComponent(roomId)}/send/m.room.message/raw${Date.now()}${Math.random()}`, content)).event_id;

  beforeAll(async () => {
    servers = await startServers(["hub.test", "p1.test", "p2.test"]);
    const [h, p1, p2] = servers as [TestServer, TestServer, TestServer];
    hub = h;
    [alice, bob, carol] = await Promise.all([TestClient.register(h, "alice"), TestClient.register(p1, "bob"), TestClient.register(p2, "carol")]);

    roomId = (await alice.createRoom({ name: "Integrity", topic: "first" })).room_id;
    await alice.invite(roomId, bob.userId);
    await alice.invite(roomId, carol.userId);
    await bob.join(roomId);
    await carol.join(roomId);
    for (let i = 0; i < 3; i++) {
      sentIds.push(...(await Promise.all([alice.send(roomId, `a${i}`), bob.send(roomId, `b${i}`), carol.send(roomId, `c${i}`)])));
    }
    sentIds.push(await sendRaw(alice, awkward("alice")), await sendRaw(bob, awkward("bob")), await sendRaw(carol, awkward("carol")));
    // State changes by the hub's user and, once allowed by power levels, by a participant's user.
    sentIds.push(await alice.setState(roomId, "m.room.topic", "", { topic: "second" }));
    const pl = await alice.request<Record<string, unknown> & { users: Record<string, number> }>(
      "GET",
      `/rooms/${encodeURIComponent(roomId)}/state/m.room.power_levels/`,
    );
    sentIds.push(await alice.setState(roomId, "m.room.power_levels", "", { ...pl, users: { ...pl.users, [bob.userId]: 50 } }));
    sentIds.push(await bob.setState(roomId, "m.room.name", "", { name: "Renamed by bob" }));
    await alice.kick(roomId, carol.userId, "integrity test");
    sentIds.push(await alice.send(roomId, "after the kick"), await bob.send(roomId, "bob after the kick"));

    for (const s of servers) {
      const res = await s.fetch("/_matrix/key/v2/server");
      expect(res.status).toBe(200);
      addKeyDocument(keys, (await res.json()) as JsonObj);
    }
    const hubEvents = await storedEvents(hub, roomId);
    stored.set(hub.name, hubEvents);
    const last = hubEvents[hubEvents.length - 1]?.event_id;
    // Participants: wait until p1 holds the hub's last event and p2 the kick.
    const kickId = hubEvents.find((e) => e.pdu.type === "m.room.member" && e.pdu["state_key"] === carol.userId && e.pdu.content["membership"] === "leave")?.event_id;
    stored.set(p1.name, await eventually(async () => {
      const ev = await storedEvents(p1, roomId);
      return ev.some((e) => e.event_id === last) ? ev : undefined;
    }, "p1 to hold the hub's last event"));
    stored.set(p2.name, await eventually(async () => {
      const ev = await storedEvents(p2, roomId);
      return ev.some((e) => e.event_id === kickId) ? ev : undefined;
    }, "p2 to hold its user's kick"));
  });
  afterAll(() => stopServers(servers));

  it("stores a non-trivial conversation on every server", () => {
    const counts = Object.fromEntries([...stored].map(([name, ev]) => [name, ev.length]));
    expect(counts["hub.test"]).toBeGreaterThan(25);
    expect(counts["p1.test"]).toBeGreaterThan(15);
    expect(counts["p2.test"]).toBeGreaterThan(10);
    const hubIds = new Set(stored.get("hub.test")?.map((e) => e.event_id));
    for (const id of sentIds) expect(hubIds.has(id)).toBe(true);
  });

  it("publishes self-signed Ed25519 keys on every server", () => {
    expect([...keys.keys()].sort()).toEqual(["hub.test", "p1.test", "p2.test"]);
  });

  it("recomputes every stored event's ID and content hashes, and verifies the required signatures", () => {
    const problems: string[] = [];
    let withHub = 0;
    let withoutHub = 0;
    for (const [server, events] of stored) {
      for (const e of events) {
        if (typeof e.pdu["hub_server"] === "string") withHub++;
        else withoutHub++;
        for (const p of eventProblems(e.event_id, e.pdu as unknown as JsonObj, keys)) problems.push(`${server} ${e.event_id} (${e.pdu.type} from ${e.pdu.sender}): ${p}`);
      }
    }
    expect(problems).toEqual([]);
    // Both kinds of event were really checked: hub-completed LPDUs and the hub's own events.
    expect(withHub).toBeGreaterThan(10);
    expect(withoutHub).toBeGreaterThan(10);
  });

  it("detects a tampered event, so the check above is not vacuous", () => {
    const e = stored.get("p1.test")?.find((x) => typeof x.pdu["hub_server"] === "string" && x.pdu.type === "m.room.message");
    expect(e).toBeDefined();
    const pdu = e?.pdu as unknown as JsonObj;
    const tampered = { ...pdu, content: { ...(pdu["content"] as JsonObj), body: "changed" } };
    expect(eventProblems(e?.event_id as string, tampered, keys).some((p) => p.startsWith("hashes.sha256"))).toBe(true);
    const renamed = { ...pdu, sender: "@mallory:p2.test" };
    expect(eventProblems(e?.event_id as string, renamed, keys).length).toBeGreaterThan(0);
  });

  it("orders shared events identically on every server, each linked to its predecessor by prev_events", () => {
    const hubEvents = stored.get("hub.test") as StoredPdu[];
    const hubIds = hubEvents.map((e) => e.event_id);
    for (const [server, events] of stored) {
      const ids = events.map((e) => e.event_id);
      expect(new Set(ids).size, `${server} has duplicates`).toBe(ids.length);
      expect(events.map((e) => e.pos), `${server} positions`).toEqual(events.map((_, i) => (events[0]?.pos ?? 1) + i));
      const start = hubIds.indexOf(ids[0] as string);
      expect(start, `${server}'s first event is on the hub`).toBeGreaterThanOrEqual(0);
      expect(hubIds.slice(start, start + ids.length), `${server} order`).toEqual(ids);
      for (let i = 1; i < events.length; i++) {
        expect((events[i] as StoredPdu).pdu.prev_events, `${server} pos ${(events[i] as StoredPdu).pos}`).toEqual([ids[i - 1]]);
      }
    }
    expect(hubEvents[0]?.pdu.type).toBe("m.room.create");
    expect(hubEvents[0]?.pdu.prev_events).toEqual([]);
    // p2 stops at its user's kick; p1 follows the hub to the end.
    expect(stored.get("p2.test")?.at(-1)?.pdu.content["membership"]).toBe("leave");
    expect(stored.get("p1.test")?.at(-1)?.event_id).toBe(hubIds.at(-1));
  });
});
