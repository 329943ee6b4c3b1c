// Black-box scenarios adapted from Matrix's conformance suites (Complement and SyTest), named after
// the originals: keys, backfill, auth chains, invite signatures, and attempts to take power in a room
// or to slip in events that depend on rejected ones. Only the intent is carried over (Switchboard
// speaks Linearized Matrix: participants send LPDUs to the hub, the hub fans PDUs out), and each
// scenario builds the room it needs.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { JsonObject } from "../../shared/canonical-json.js";
import type { Pdu } from "../../shared/event.js";
import { checkContentHashes, verifyEventSignatures, type KeyLookup } from "../../shared/event-signatures.js";
import { buildLocalPdu } from "../../shared/local-event.js";
import { completeLpdu } from "../../shared/lpdu.js";
import { LM_ROOM_VERSION, LM_ROOM_VERSION_ID } from "../../shared/room-versions.js";
import { checkKeyDocument } from "../../shared/server-key-document.js";
import { verifyJsonSignature } from "../../shared/signed-json.js";
import { decodeBase64 } from "../../shared/base64.js";
import { eventually, MatrixApiError, storedEvents, TestClient, type StoredPdu } from "./client.js";
import {
  fed,
  freshKeySecret,
  keyOf,
  keyVersionOf,
  LM_PREFIX,
  lpduIdOf,
  lpduWith,
  marker,
  pendingInvite,
  plainPdu,
  sendTxn,
  serversHolding,
  stateOf,
  wrongSignature,
  type EventFields,
} from "./forge.js";
import { startServers, stopServers, type TestServer } from "./harness.js";
import { parseSigningKeySecret } from "../../shared/signing-key.js";

const V1 = "/_matrix/federation/v1";
const enc = encodeURIComponent;

describe("conformance scenarios: the federation API", () => {
  let servers: TestServer[] = [];
  let hub: TestServer;
  let p1: TestServer;
  let p2: TestServer;
  let alice: TestClient;
  let n = 0;
  const user = (server: TestServer, stem: string) => TestClient.register(server, `${stem}${++n}`);

  beforeAll(async () => {
    servers = await startServers(["hub.test", "p1.test", "p2.test"]);
    [hub, p1, p2] = servers as [TestServer, TestServer, TestServer];
    alice = await TestClient.register(hub, "alice");
  });
  afterAll(() => stopServers(servers));

  /** A public room of alice's with one user of each participant joined, and everyone's copy caught up. */
  async function sharedRoom(): Promise<{ roomId: string; bob: TestClient; carol: TestClient }> {
    const roomId = (await alice.createRoom({ preset: "public_chat" })).room_id;
    const bob = await user(p1, "bob");
    const carol = await user(p2, "carol");
    await bob.join(roomId, hub.name);
    await carol.join(roomId, hub.name);
    const last = await alice.send(roomId, marker("ready"));
    await eventually(async () => ((await Promise.all(servers.map((s) => storedEvents(s, roomId)))).every((ev) => ev.some((e) => e.event_id === last)) ? true : undefined), "the room on every server");
    return { roomId, bob, carol };
  }

  const hubKeys = async (): Promise<KeyLookup> => {
    const k = await keyOf(hub);
    const p1k = await keyOf(p1);
    const p2k = await keyOf(p2);
    const all = new Map([[`${hub.name} ${k.keyId}`, k.publicKey], [`${p1.name} ${p1k.keyId}`, p1k.publicKey], [`${p2.name} ${p2k.keyId}`, p2k.publicKey]]);
    return async (server, keyId) => all.get(`${server} ${keyId}`);
  };

  const powerLevelsOn = async (server: TestServer, roomId: string) => (await stateOf(server, roomId)).get("m.room.power_levels\u0000");

  it("TestInboundFederationKeys: every server publishes a self-signed key document with its current key", async () => {
    for (const s of servers) {
      const res = await s.fetch("/_matrix/key/v2/server");
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toMatch(/^application\/json/);
      const doc = (await res.json()) as { server_name: string; valid_until_ts: number; verify_keys: Record<string, { key: string }>; old_verify_keys?: unknown; signatures: Record<string, Record<string, string>> };
      const key = await keyOf(s);
      expect(doc.server_name).toBe(s.name);
      expect(doc.valid_until_ts).toBeGreaterThan(Date.now());
      expect(doc.verify_keys[key.keyId]?.key).toBe(key.publicKeyBase64);
      for (const [keyId, { key: b64 }] of Object.entries(doc.verify_keys)) {
        expect(keyId).toMatch(/^ed25519:[A-Za-z0-9_]+$/);
        expect(decodeBase64(b64).length).toBe(32);
      }
      if (doc.old_verify_keys !== undefined) expect(typeof doc.old_verify_keys).toBe("object");
      // Signed by the server itself, with the key it lists.
      const sigs = Object.keys(doc.signatures[s.name] ?? {});
      expect(sigs).toContain(key.keyId);
      for (const keyId of sigs) {
        const pub = doc.verify_keys[keyId];
        expect(pub).toBeDefined();
        expect(await verifyJsonSignature(doc, s.name, keyId, decodeBase64((pub as { key: string }).key))).toBe(true);
      }
      expect((await checkKeyDocument(doc, s.name, Date.now())).ok).toBe(true);
      // Any change breaks the signature.
      expect(await verifyJsonSignature({ ...doc, valid_until_ts: doc.valid_until_ts + 1 }, s.name, key.keyId, key.publicKey)).toBe(false);
    }
  });

  it("Inbound federation can backfill events: a participant gets the events before a given one, oldest first, as the hub signed them", async () => {
    const { roomId } = await sharedRoom();
    const bodies = Array.from({ length: 5 }, (_, i) => marker(`history-${i}`));
    for (const b of bodies) await alice.send(roomId, b);
    const timeline = await storedEvents(hub, roomId);
    const v = timeline[timeline.length - 1] as StoredPdu;
    const res = await fed<{ origin: string; pdus: Pdu[] }>(p1, hub, "GET", `${LM_PREFIX}/backfill/${enc(roomId)}?v=${enc(v.event_id)}&limit=4`);
    expect(res.status).toBe(200);
    expect(res.body.origin).toBe(hub.name);
    const ids = await Promise.all(res.body.pdus.map((e) => lpduIdOf(e)));
    expect(ids).toEqual(timeline.slice(-4).map((e) => e.event_id));
    expect(res.body.pdus.map((e) => e.content["body"])).toEqual(bodies.slice(1));
    const keys = await hubKeys();
    for (const e of res.body.pdus) {
      expect(await verifyEventSignatures(e, LM_ROOM_VERSION, keys)).toEqual({ ok: true });
      expect((await checkContentHashes(e)).ok).toBe(true);
    }
    // Paging back from the oldest one returned continues the chain.
    const older = await fed<{ pdus: Pdu[] }>(p1, hub, "GET", `${LM_PREFIX}/backfill/${enc(roomId)}?v=${enc(ids[0] as string)}&limit=2`);
    expect(await Promise.all(older.body.pdus.map((e) => lpduIdOf(e)))).toEqual(timeline.slice(-5, -3).map((e) => e.event_id));
  });

  it("Backfill checks the events requested belong to the room: an event of another room is not served", async () => {
    const a = await sharedRoom();
    const b = await sharedRoom();
    const secret = marker("room-b-only");
    const bEvent = await alice.send(b.roomId, secret);
    // p1 may read both rooms; asking room A for room B's event still yields nothing of room B.
    for (const path of [`${LM_PREFIX}/backfill/${enc(a.roomId)}?v=${enc(bEvent)}&limit=10`, `${V1}/backfill/${enc(a.roomId)}?v=${enc(bEvent)}&limit=10`]) {
      const res = await fed<{ pdus?: Pdu[] }>(p1, hub, "GET", path);
      expect([path, res.status, res.body.errcode]).toEqual([path, 404, "M_NOT_FOUND"]);
      expect(JSON.stringify(res.body)).not.toContain(secret);
    }
    // Mixed with an event of room A, only room A's history comes back.
    const aEvents = await storedEvents(hub, a.roomId);
    const aLast = aEvents[aEvents.length - 1] as StoredPdu;
    const mixed = await fed<{ pdus: Pdu[] }>(p1, hub, "GET", `${LM_PREFIX}/backfill/${enc(a.roomId)}?v=${enc(bEvent)}&v=${enc(aLast.event_id)}&limit=50`);
    expect(mixed.status).toBe(200);
    expect(mixed.body.pdus.every((e) => e.room_id === a.roomId)).toBe(true);
    expect(JSON.stringify(mixed.body)).not.toContain(secret);
  });

  it("TestEventAuth: the auth chain served with a room's state is complete and holds nothing else", async () => {
    const roomId = (await alice.createRoom({ preset: "public_chat" })).room_id;
    const charlie = await user(p2, "charlie");
    // Charlie joins, leaves and joins again; then the join rules change.
    await charlie.join(roomId, hub.name);
    await alice.send(roomId, marker("chatter"));
    await charlie.leave(roomId);
    await eventually(async () => ((await stateOf(hub, roomId)).get(`m.room.member\u0000${charlie.userId}`)?.pdu.content["membership"] === "leave" ? true : undefined), "charlie's leave");
    await charlie.join(roomId, hub.name);
    await alice.setState(roomId, "m.room.join_rules", "", { join_rule: "invite" });
    const after = await alice.send(roomId, marker("after"));

    const timeline = await storedEvents(hub, roomId);
    const byId = new Map(timeline.map((e) => [e.event_id, e]));
    const at = byId.get(after) as StoredPdu;
    const res = await fed<{ pdu_ids: string[]; auth_chain_ids: string[] }>(p2, hub, "GET", `${V1}/state_ids/${enc(roomId)}?event_id=${enc(after)}`);
    expect(res.status).toBe(200);
    // The state before the event, replayed from the hub's timeline.
    const state = new Map<string, string>();
    for (const e of timeline) if (e.pos < at.pos && typeof e.pdu["state_key"] === "string") state.set(`${e.pdu.type}\u0000${String(e.pdu["state_key"])}`, e.event_id);
    expect([...res.body.pdu_ids].sort()).toEqual([...state.values()].sort());
    // The auth chain: everything reachable through auth_events from the state, except the state itself.
    const closure = new Set<string>();
    const queue = [...state.values()].flatMap((id) => (byId.get(id) as StoredPdu).pdu["auth_events"] as string[]);
    while (queue.length > 0) {
      const id = queue.pop() as string;
      if (closure.has(id)) continue;
      closure.add(id);
      queue.push(...((byId.get(id)?.pdu["auth_events"] as string[] | undefined) ?? []));
    }
    const expected = [...closure].filter((id) => ![...state.values()].includes(id)).sort();
    expect([...res.body.auth_chain_ids].sort()).toEqual(expected);
    // Charlie's first join and his leave are in it (his current join cites them); no message is.
    const charlieEvents = timeline.filter((e) => e.pdu["state_key"] === charlie.userId).map((e) => e.event_id);
    expect(charlieEvents.length).toBe(3);
    for (const id of charlieEvents.slice(0, 2)) expect(res.body.auth_chain_ids).toContain(id);
    for (const id of res.body.auth_chain_ids) expect(byId.get(id)?.pdu.type).not.toBe("m.room.message");
  });

  it("TestInboundFederationRejectsEventsWithRejectedAuthEvents: an event that needs a rejected event's authority is rejected too", async () => {
    const { roomId, bob } = await sharedRoom();
    const hubKey = await keyOf(hub);
    const p1Key = await keyOf(p1);
    const pl = (await powerLevelsOn(hub, roomId))?.pdu.content as JsonObject;
    // E1: bob makes himself an admin. Rejected by the hub (as bob's LPDU) and by p2 (as a forged hub PDU).
    const raise: EventFields = { room_id: roomId, type: "m.room.power_levels", sender: bob.userId, state_key: "", content: { ...pl, users: { ...(pl["users"] as JsonObject), [bob.userId]: 100 } } };
    const raiseLpdu = await lpduWith(p1Key, hub.name, raise);
    const atHub = await sendTxn(p1, hub, [raiseLpdu]);
    expect(Object.keys(atHub.body.failed_pdus ?? {})).toEqual([await lpduIdOf(raiseLpdu)]);
    const p2Events = await storedEvents(p2, roomId);
    const p2State = await stateOf(p2, roomId);
    const idOf = (type: string, key: string) => p2State.get(`${type}\u0000${key}`)?.event_id as string;
    const e1 = await completeLpdu(raiseLpdu, { authEvents: [idOf("m.room.create", ""), idOf("m.room.power_levels", ""), idOf("m.room.member", bob.userId)], prevEvents: [(p2Events[p2Events.length - 1] as StoredPdu).event_id] }, hub.name, hubKey, LM_ROOM_VERSION);
    const e1Id = await lpduIdOf(e1);
    const first = await sendTxn(hub, p2, [e1]);
    expect(Object.keys(first.body.failed_pdus ?? {})).toEqual([e1Id]);

    // E2: with that power, bob renames the room, citing E1 as his power-levels auth event.
    const rename: EventFields = { room_id: roomId, type: "m.room.name", sender: bob.userId, state_key: "", content: { name: marker("taken over") } };
    const renameLpdu = await lpduWith(p1Key, hub.name, rename);
    const e2 = await completeLpdu(renameLpdu, { authEvents: [idOf("m.room.create", ""), e1Id, idOf("m.room.member", bob.userId)], prevEvents: [(p2Events[p2Events.length - 1] as StoredPdu).event_id] }, hub.name, hubKey, LM_ROOM_VERSION);
    const second = await sendTxn(hub, p2, [e2]);
    expect(Object.keys(second.body.failed_pdus ?? {})).toEqual([await lpduIdOf(e2)]);
    // The same rename as an LPDU at the hub: the hub never accepted E1 either.
    const atHub2 = await sendTxn(p1, hub, [renameLpdu]);
    expect(Object.keys(atHub2.body.failed_pdus ?? {})).toEqual([await lpduIdOf(renameLpdu)]);

    for (const s of servers) {
      const st = await stateOf(s, roomId);
      expect([s.name, st.get("m.room.name\u0000")]).toEqual([s.name, undefined]);
      expect([s.name, (st.get("m.room.power_levels\u0000")?.pdu.content["users"] as JsonObject)[bob.userId]]).toEqual([s.name, undefined]);
    }
    // Control: the room's admin can rename it, and that reaches p2.
    const ok = await alice.setState(roomId, "m.room.name", "", { name: "Renamed by alice" });
    await eventually(async () => ((await stateOf(p2, roomId)).get("m.room.name\u0000")?.event_id === ok ? true : undefined), "alice's rename on p2");
  });

  it("Inbound federation rejects invites which are not signed by the sender", async () => {
    const roomId = (await alice.createRoom({ preset: "private_chat" })).room_id;
    const erin = await user(p1, "erin");
    const hubKey = await keyOf(hub);
    const invite = (): EventFields => ({ room_id: roomId, type: "m.room.member", sender: alice.userId, state_key: erin.userId, content: { membership: "invite" } });
    const post = async (from: TestServer, event: Pdu) =>
      fed<{ pdu?: Pdu }>(from, p1, "POST", `${LM_PREFIX}/invite/${enc((await lpduIdOf(event)).slice(1))}`, { event, room_version: LM_ROOM_VERSION_ID, invite_room_state: [] });

    const unsigned = await plainPdu(hub, hub.name, hubKey, invite());
    unsigned.signatures = {};
    const badSig = await plainPdu(hub, hub.name, hubKey, invite());
    (badSig.signatures[hub.name] as Record<string, string>)[hubKey.keyId] = await wrongSignature(hubKey);
    const otherKey = await plainPdu(hub, hub.name, await parseSigningKeySecret(freshKeySecret(keyVersionOf(hub))), invite());
    // Signed by p2 with its own genuine key, but p2 is not the sender's server.
    const byOther = await plainPdu(hub, hub.name, await keyOf(p2), invite());
    byOther.signatures = { [p2.name]: byOther.signatures[hub.name] as Record<string, string> };
    for (const [what, event] of [["unsigned", unsigned], ["bad signature", badSig], ["unknown key", otherKey], ["signed by another server", byOther]] as Array<[string, Pdu]>) {
      const res = await post(hub, event);
      expect([what, res.status, res.body.errcode]).toEqual([what, 403, "M_FORBIDDEN"]);
      expect([what, await pendingInvite(p1, roomId, erin.userId)]).toEqual([what, undefined]);
    }
    // Control: the genuine invite is accepted and countersigned.
    const res = await post(hub, await plainPdu(hub, hub.name, hubKey, invite()));
    expect(res.status).toBe(200);
    expect(Object.keys(res.body.pdu?.signatures ?? {}).sort()).toEqual([hub.name, p1.name].sort());
    expect(await pendingInvite(p1, roomId, erin.userId)).toBeDefined();
  });

  it("Should not be able to take over the room by pretending there is no PL event", async () => {
    const { roomId, bob } = await sharedRoom();
    const hubKey = await keyOf(hub);
    const p1Key = await keyOf(p1);
    const before = await Promise.all(servers.map((s) => powerLevelsOn(s, roomId)));
    // A power-levels event as if the room had none (creator-style rules would then apply).
    const takeover: EventFields = { room_id: roomId, type: "m.room.power_levels", sender: bob.userId, state_key: "", content: { users: { [bob.userId]: 100 } } };
    const state = await stateOf(hub, roomId);
    const idOf = (type: string, key: string) => state.get(`${type}\u0000${key}`)?.event_id as string;
    const noPl = { authEvents: [idOf("m.room.create", ""), idOf("m.room.member", bob.userId)] };
    const hubEvents = await storedEvents(hub, roomId);
    const prev = [(hubEvents[hubEvents.length - 1] as StoredPdu).event_id];

    // 1. p1 hands the hub a complete event whose auth_events leave the power levels out.
    const full = await buildLocalPdu({ ...takeover, origin_server_ts: Date.now() }, { authEvents: noPl.authEvents, prevEvents: prev }, p1.name, p1Key, LM_ROOM_VERSION);
    const r1 = await sendTxn(p1, hub, [full]);
    expect(Object.keys(r1.body.failed_pdus ?? {})).toEqual([await lpduIdOf(full)]);
    // 2. The same as an honest LPDU: the hub picks the auth events, and the rules say no.
    const lpdu = await lpduWith(p1Key, hub.name, takeover);
    const r2 = await sendTxn(p1, hub, [lpdu]);
    expect(Object.keys(r2.body.failed_pdus ?? {})).toEqual([await lpduIdOf(lpdu)]);
    // 3. A hub that went rogue: the LPDU completed without the power-levels auth event, sent to p2.
    const p2Events = await storedEvents(p2, roomId);
    const rogue = await completeLpdu(lpdu, { authEvents: noPl.authEvents, prevEvents: [(p2Events[p2Events.length - 1] as StoredPdu).event_id] }, hub.name, hubKey, LM_ROOM_VERSION);
    const r3 = await sendTxn(hub, p2, [rogue]);
    expect(Object.keys(r3.body.failed_pdus ?? {})).toEqual([await lpduIdOf(rogue)]);
    // And bob's client asking his own server.
    await expect(bob.setState(roomId, "m.room.power_levels", "", { users: { [bob.userId]: 100 } })).rejects.toMatchObject({ status: 403 });

    const after = await Promise.all(servers.map((s) => powerLevelsOn(s, roomId)));
    expect(after.map((e) => e?.event_id)).toEqual(before.map((e) => e?.event_id));
    for (const s of servers) {
      expect([s.name, (await storedEvents(s, roomId)).filter((e) => e.pdu.type === "m.room.power_levels" && e.pdu.sender === bob.userId)]).toEqual([s.name, []]);
    }
  });

  it("Remote servers should reject attempts by non-creators to set the power levels", async () => {
    const { roomId, bob, carol } = await sharedRoom();
    const pl = (await powerLevelsOn(hub, roomId))?.pdu.content as JsonObject;
    const lowered = { ...pl, users: { ...(pl["users"] as JsonObject), [bob.userId]: 50 }, ban: 0 };
    // Through the client API of their own servers...
    await expect(bob.setState(roomId, "m.room.power_levels", "", lowered)).rejects.toBeInstanceOf(MatrixApiError);
    await expect(carol.setState(roomId, "m.room.power_levels", "", { ...pl, users: {} })).rejects.toMatchObject({ status: 403 });
    // ...and as their server's LPDU to the hub.
    const lpdu = await lpduWith(await keyOf(p2), hub.name, { room_id: roomId, type: "m.room.power_levels", sender: carol.userId, state_key: "", content: { ...pl, users: { ...(pl["users"] as JsonObject), [carol.userId]: 100 } } });
    const answer = await sendTxn(p2, hub, [lpdu]);
    expect(Object.keys(answer.body.failed_pdus ?? {})).toEqual([await lpduIdOf(lpdu)]);
    const plId = (await powerLevelsOn(hub, roomId))?.event_id;
    expect((await storedEvents(hub, roomId)).filter((e) => e.pdu.type === "m.room.power_levels").map((e) => e.pdu.sender)).toEqual([alice.userId]);
    for (const s of servers) {
      const events = await storedEvents(s, roomId);
      expect([s.name, events.filter((e) => e.pdu.type === "m.room.power_levels" && e.pdu.sender !== alice.userId)]).toEqual([s.name, []]);
      expect([s.name, (await powerLevelsOn(s, roomId))?.event_id]).toEqual([s.name, plId]);
    }
    // Control: the creator can change them, and every server follows.
    const ok = await alice.setState(roomId, "m.room.power_levels", "", { ...pl, users: { ...(pl["users"] as JsonObject), [bob.userId]: 50 } });
    await eventually(async () => ((await Promise.all(servers.map((s) => powerLevelsOn(s, roomId)))).every((e) => e?.event_id === ok) ? true : undefined), "alice's change everywhere");
  });

  it("An event which redacts itself should be ignored", async () => {
    const { roomId, bob } = await sharedRoom();
    const keep = marker("keep");
    const keepId = await bob.send(roomId, keep);
    // With reference-hash event IDs an event cannot name its own ID: the nearest is a redaction
    // naming the ID it would have had without that field. It must redact nothing, and not break the room.
    const draft: EventFields = { room_id: roomId, type: "m.room.redaction", sender: bob.userId, content: { redacts: "$placeholder", reason: "self" } };
    const selfId = await lpduIdOf(await lpduWith(await keyOf(p1), hub.name, draft));
    const lpdu = await lpduWith(await keyOf(p1), hub.name, { ...draft, content: { redacts: selfId, reason: "self" } });
    const answer = await sendTxn(p1, hub, [lpdu]);
    expect(answer.status).toBe(200);
    const after = marker("after");
    const afterId = await bob.send(roomId, after);
    await eventually(async () => ((await serversHolding(servers, roomId, after)).length === 3 ? true : undefined), "the next message everywhere");
    for (const s of servers) {
      const events = await storedEvents(s, roomId);
      expect([s.name, events.find((e) => e.event_id === keepId)?.pdu.content["body"]]).toEqual([s.name, keep]);
      const redaction = events.find((e) => e.pdu.type === "m.room.redaction" && e.pdu.sender === bob.userId);
      if (redaction) expect([s.name, redaction.pdu.content["redacts"]]).toEqual([s.name, selfId]);
      expect(events.some((e) => e.event_id === afterId)).toBe(true);
    }
    // Clients still see every message intact.
    const timeline = await alice.timeline(roomId);
    expect(timeline.find((e) => e.event_id === keepId)?.content["body"]).toBe(keep);
  });
});
