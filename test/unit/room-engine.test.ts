// The room engine (durable-objects/room/) in plain Node: a hub's LmHub and a participant's
// LmParticipant, each on a RoomCore with in-memory ports, exchange a join, an LPDU and its PDU the
// way their Durable Objects would, but with the wire replaced by direct calls. No workerd.

import { describe, expect, it } from "vitest";
import { RoomCore, type Committed, type CommitListener } from "../../durable-objects/room/core.js";
import { LmHub } from "../../durable-objects/room/lm-hub.js";
import { LmParticipant } from "../../durable-objects/room/lm-participant.js";
import type { EnginePorts, RoomStore } from "../../durable-objects/room/ports.js";
import type { InboundItem } from "../../durable-objects/room/protocol.js";
import { failedPdus, type Verdict } from "../../durable-objects/room/verdict.js";
import { Writer } from "../../durable-objects/room/writer.js";
import type { StoredEvent } from "../../durable-objects/room-storage.js";
import { planCreateRoom } from "../../shared/create-room.js";
import { MatrixError } from "../../shared/errors.js";
import type { Lpdu, Pdu } from "../../shared/event.js";
import { eventIdOf } from "../../shared/hashes.js";
import { buildLpdu } from "../../shared/lpdu.js";
import { RoomState } from "../../shared/room-state.js";
import { getRoomVersion, LM_ROOM_VERSION_ID } from "../../shared/room-versions.js";
import { generateSeed, signingKeyFromSeed, type SigningKey } from "../../shared/signing-key.js";

const HUB = "hub.test";
const PART = "part.test";
const ROOM = `!engine:${HUB}`;
const ALICE = `@alice:${HUB}`;
const BOB = `@bob:${PART}`;
const version = getRoomVersion(LM_ROOM_VERSION_ID)!;

/** The room's tables as maps: the RoomStore subset the engine uses, nothing more. */
class MemoryStore implements RoomStore {
  readonly meta = new Map<string, string>();
  readonly events = new Map<string, { eventId: string; pos: number | null; type: string; stateKey?: string; sender: string; lpduHash?: string; json: string }>();
  readonly current = new Map<string, string>();
  readonly redactions = new Map<string, { redactionId: string; json: string }>();
  readonly pendingTxns = new Map<string, { lpduHash: string; lpduId: string; json: string }>();
  readonly joinState = new Map<string, string>();
  buffered: string[] = [];

  getMeta(key: string): string | undefined {
    return this.meta.get(key);
  }
  setMeta(key: string, value: string): void {
    this.meta.set(key, value);
  }
  getEvent(eventId: string): StoredEvent | undefined {
    const e = this.events.get(eventId);
    return e && { eventId: e.eventId, pos: e.pos, json: e.json };
  }
  getEvents(eventIds: readonly string[]): StoredEvent[] {
    return eventIds.flatMap((id) => this.getEvent(id) ?? []);
  }
  insertEvent(e: { eventId: string; pos: number | null; type: string; stateKey?: string; sender: string; lpduHash?: string; json: string }): void {
    if (this.events.has(e.eventId)) throw new Error(`UNIQUE constraint failed: events.event_id ${e.eventId}`);
    if (e.pos !== null && [...this.events.values()].some((x) => x.pos === e.pos)) throw new Error(`UNIQUE constraint failed: events.pos ${e.pos}`);
    this.events.set(e.eventId, { ...e });
  }
  setCurrentState(type: string, stateKey: string, eventId: string): void {
    this.current.set(JSON.stringify([type, stateKey]), eventId);
  }
  deleteCurrentState(type: string, stateKey: string): void {
    this.current.delete(JSON.stringify([type, stateKey]));
  }
  setEventPos(eventId: string, pos: number): void {
    const e = this.events.get(eventId);
    if (e) e.pos = pos;
  }
  currentState(): StoredEvent[] {
    const order = [...this.events.keys()];
    const rows = [...this.current].map(([k, id]) => ({ type: (JSON.parse(k) as string[])[0], e: this.getEvent(id)! }));
    const rank = (r: (typeof rows)[number]): number[] => [r.type === "m.room.create" ? 0 : 1, r.e.pos === null ? 0 : 1, r.e.pos ?? 0, order.indexOf(r.e.eventId)];
    const cmp = (a: number[], b: number[]): number => a.reduce((d, x, i) => d || x - (b[i] ?? 0), 0);
    return rows.sort((a, b) => cmp(rank(a), rank(b))).map((r) => r.e);
  }
  lastEvent(): { eventId: string; pos: number } | undefined {
    let best: { eventId: string; pos: number } | undefined;
    for (const e of this.events.values()) if (e.pos !== null && (!best || e.pos > best.pos)) best = { eventId: e.eventId, pos: e.pos };
    return best;
  }
  putRedaction(targetId: string, redactionId: string, json: string): void {
    if (!this.redactions.has(targetId)) this.redactions.set(targetId, { redactionId, json });
  }
  redactionsOf(targetIds: readonly string[]): Map<string, { redactionId: string; json: string }> {
    return new Map(targetIds.flatMap((id) => (this.redactions.has(id) ? [[id, this.redactions.get(id)!] as const] : [])));
  }
  getEventIdByLpduHash(lpduHash: string): string | undefined {
    return [...this.events.values()].find((e) => e.lpduHash === lpduHash)?.eventId;
  }
  getPendingClientTxn(userId: string, deviceId: string, txnId: string): { lpduHash: string; lpduId: string; json: string } | undefined {
    return this.pendingTxns.get([userId, deviceId, txnId].join("|"));
  }
  putPendingClientTxn(userId: string, deviceId: string, txnId: string, lpdu: { lpduHash: string; lpduId: string; json: string }): void {
    this.pendingTxns.set([userId, deviceId, txnId].join("|"), lpdu);
  }
  deletePendingClientTxns(lpduHash: string): void {
    for (const [k, v] of this.pendingTxns) if (v.lpduHash === lpduHash) this.pendingTxns.delete(k);
  }
  bufferPdu(json: string): void {
    this.buffered.push(json);
  }
  takeBufferedPdus(): string[] {
    const out = this.buffered;
    this.buffered = [];
    return out;
  }
  putJoinState(type: string, stateKey: string, eventId: string): void {
    this.joinState.set(JSON.stringify([type, stateKey]), eventId);
  }
}

/** Hears every commit, and checks the record hook runs inside the transaction and before `committed`. */
class Recorder implements CommitListener {
  readonly recorded: Committed[] = [];
  readonly committedEvents: Committed[] = [];
  settles = 0;
  constructor(private readonly inTransaction: () => boolean) {}
  record(c: Committed): void {
    expect(this.inTransaction()).toBe(true);
    this.recorded.push(c);
  }
  committed(c: Committed): void {
    expect(this.recorded.at(-1)).toBe(c);
    this.committedEvents.push(c);
  }
  settle(): void {
    this.settles++;
  }
}

interface Server {
  store: MemoryStore;
  core: RoomCore;
  recorder: Recorder;
  /** What the engine handed to destination queues (the participant's LPDUs to the hub). */
  outbound: Array<{ server: string; items: Array<{ roomId: string; id: string; json: string; lpduHash?: string }> }>;
  key: SigningKey;
}

async function server<P>(name: string, hub: string, make: (core: RoomCore, ports: EnginePorts) => P, mls?: EnginePorts["mls"]): Promise<Server & { protocol: P }> {
  const key = await signingKeyFromSeed(generateSeed(), "k1");
  const store = new MemoryStore();
  let inTx = false;
  const recorder = new Recorder(() => inTx);
  const outbound: Server["outbound"] = [];
  const ports: EnginePorts = {
    serverName: name,
    signingKey: async () => key,
    transaction: (fn) => {
      inTx = true;
      try {
        fn();
      } finally {
        inTx = false;
      }
    },
    mls: mls ?? { vetAsHub: async () => undefined, observeAsParticipant: async () => undefined },
    federation: {
      request: async () => ({ status: 500, body: null }),
      inviteAndVerify: async () => ({ ok: false, status: 500, error: "not in this test" }),
      fetchVerified: async () => ({ ok: false, error: "not in this test" }),
      backfillVerified: async () => ({ ok: false, error: "not in this test" }),
      enqueue: async (server, items) => void outbound.push({ server, items }),
    },
  };
  const core = new RoomCore({ roomId: ROOM, version, hub }, new RoomState(), store, Writer.section(), ports.transaction, [recorder]);
  return { store, core, recorder, outbound, key, protocol: make(core, ports) };
}

/** A hub with a public room made by alice, and a participant whose bob joined it through make_join/send_join. */
async function joinedPair(hubMls?: EnginePorts["mls"]) {
  const hub = await server(HUB, HUB, (core, ports) => new LmHub(core, ports), hubMls);
  const plan = planCreateRoom({ preset: "public_chat" }, ALICE, new Set([LM_ROOM_VERSION_ID]), LM_ROOM_VERSION_ID);
  await hub.core.exclusive(async (w) => {
    for (const e of plan.events) expect((await hub.protocol.appendLocal(w, ALICE, e)).outcome).toBe("accepted");
  });

  const part = await server(PART, HUB, (core, ports) => new LmParticipant(core, ports));
  const made = hub.protocol.membershipTemplate(BOB, "join");
  if ("outcome" in made) throw new Error(made.reason);
  const joinLpdu = await buildLpdu({ room_id: ROOM, type: "m.room.member", state_key: BOB, sender: BOB, origin_server_ts: Date.now(), content: { membership: "join" } }, part.key, HUB);
  const answer = await hub.core.exclusive((w) => hub.protocol.membershipAnswer(w, PART, joinLpdu, "join"));
  if ("outcome" in answer) throw new Error(answer.reason);
  const body = JSON.parse(answer.body) as { state: Pdu[]; auth_chain: Pdu[]; event: Pdu };
  const withIds = (list: Pdu[]) => Promise.all(list.map(async (pdu) => ({ eventId: await eventIdOf(pdu, version), pdu })));
  const joined = await part.core.exclusive(async (w) => part.protocol.firstJoin(w, { state: await withIds(body.state), authChain: await withIds(body.auth_chain), event: body.event }));
  expect(joined).toMatchObject({ outcome: "accepted", eventId: answer.eventId });
  return { hub, part };
}

/** The hub takes a transaction of LPDUs from the participant, as Room.receive does. */
function hubReceives(hub: Server & { protocol: LmHub }, items: InboundItem[]): Promise<Array<{ id: string; verdict: Verdict }>> {
  return hub.core.exclusive((w) => hub.core.batch(w, () => hub.protocol.receive(w, PART, items)));
}

function participantReceives(part: Server & { protocol: LmParticipant }, items: InboundItem[]): Promise<Array<{ id: string; verdict: Verdict }>> {
  return part.core.exclusive((w) => part.core.batch(w, () => part.protocol.receive(w, HUB, items)));
}

/** The participant's last LPDU handed to the hub's destination queue, once the send got that far (it signs first). */
async function lastLpdu(part: Server, count: number): Promise<{ id: string; lpdu: Lpdu }> {
  for (let i = 0; i < 200 && part.outbound.length < count; i++) await new Promise((r) => setTimeout(r, 5));
  const item = part.outbound.at(-1)?.items[0];
  if (!item) throw new Error("nothing sent to the hub");
  expect(part.outbound.at(-1)?.server).toBe(HUB);
  return { id: item.id, lpdu: JSON.parse(item.json) as Lpdu };
}

describe("the room engine on in-memory ports", () => {
  it("completes a participant's LPDU at the hub, authorizes and commits it, hands it to the listeners, and the participant commits the hub's PDU", async () => {
    const { hub, part } = await joinedPair();
    const hubTip = hub.core.last!;
    const partTip = part.core.last!;
    expect(partTip.eventId).toBe(hubTip.eventId);

    const sending = part.protocol.send(BOB, { type: "m.room.message", content: { msgtype: "m.text", body: "hello" } });
    const { id, lpdu } = await lastLpdu(part, 1);
    expect("auth_events" in lpdu).toBe(false);

    const [result] = await hubReceives(hub, [{ id, lpdu }]);
    expect(result?.verdict.outcome).toBe("accepted");
    const committed = hub.recorder.committedEvents.at(-1)!;
    // Completed: the hub gave it links and its signature, and kept the participant's LPDU hash and signature.
    expect(committed.pdu.prev_events).toEqual([hubTip.eventId]);
    expect(committed.pdu.auth_events.length).toBeGreaterThan(0);
    expect(committed.pdu.hashes.lpdu).toEqual(lpdu.hashes.lpdu);
    expect(Object.keys(committed.pdu.signatures).sort()).toEqual([HUB, PART]);
    // Committed at the next position, stored, and owed to the participant's server.
    expect(committed.pos).toBe(hubTip.pos + 1);
    expect(committed.eventId).toBe(await eventIdOf(committed.pdu, version));
    expect(committed.destinations).toEqual([PART]);
    expect(hub.store.getEvent(committed.eventId)?.pos).toBe(committed.pos);
    expect(hub.store.getEventIdByLpduHash(lpdu.hashes.lpdu.sha256)).toBe(committed.eventId);
    expect(hub.core.last?.eventId).toBe(committed.eventId);
    expect(hub.recorder.settles).toBeGreaterThan(0);

    // Fan-out, by hand: the participant takes the hub's PDU, commits it, and the waiting send resolves.
    const [echo] = await participantReceives(part, [{ id: committed.eventId, pdu: committed.pdu }]);
    expect(echo?.verdict).toMatchObject({ outcome: "accepted", eventId: committed.eventId });
    expect(await sending).toMatchObject({ outcome: "accepted", eventId: committed.eventId });
    const replica = part.recorder.committedEvents.at(-1)!;
    expect(replica).toMatchObject({ eventId: committed.eventId, pos: partTip.pos + 1, destinations: [] });
  });

  it("commits a retried LPDU once and answers the retry as a duplicate", async () => {
    const { hub, part } = await joinedPair();
    void part.protocol.send(BOB, { type: "m.room.message", content: { body: "once" } });
    const item = await lastLpdu(part, 1);
    const [first] = await hubReceives(hub, [item]);
    const count = hub.recorder.committedEvents.length;
    const [again] = await hubReceives(hub, [item]);
    expect(again?.verdict).toEqual({ outcome: "duplicate", eventId: first?.verdict.outcome === "accepted" ? first.verdict.eventId : "" });
    expect(hub.recorder.committedEvents.length).toBe(count);
    expect(failedPdus([again!])).toEqual({});
  });

  it("rejects an LPDU the auth rules refuse with the rule and reason, commits nothing, and the participant's send gets the refusal", async () => {
    const { hub, part } = await joinedPair();
    const before = { last: hub.core.last, events: hub.store.events.size, heard: hub.recorder.recorded.length, name: hub.core.state.get("m.room.name", "") };
    // A public room's state_default is 50; bob has 0.
    const sending = part.protocol.send(BOB, { type: "m.room.name", state_key: "", content: { name: "mine now" } });
    const { id, lpdu } = await lastLpdu(part, 1);

    const [result] = await hubReceives(hub, [{ id, lpdu }]);
    const verdict = result?.verdict;
    expect(verdict?.outcome).toBe("rejected");
    if (verdict?.outcome !== "rejected") return;
    expect(verdict.rule).not.toBe("");
    expect(verdict.reason).toMatch(new RegExp(`^Auth rule ${verdict.rule}: m\\.room\\.name needs level 50`));
    expect(verdict).toMatchObject({ status: 403, errcode: "M_FORBIDDEN" });
    expect(failedPdus([result!])).toEqual({ [id]: { error: verdict.reason } });
    // Nothing committed: no row, no listener call, same tip and state.
    expect(hub.core.last).toBe(before.last);
    expect(hub.store.events.size).toBe(before.events);
    expect(hub.recorder.recorded.length).toBe(before.heard);
    expect(hub.core.state.get("m.room.name", "")).toBe(before.name);

    // The hub's failed_pdus reaches the participant, whose waiting client gets a 403 and whose retry will send anew.
    part.protocol.lpduRejected(lpdu.hashes.lpdu.sha256, verdict.reason);
    expect(await sending).toMatchObject({ outcome: "rejected", status: 403, errcode: "M_FORBIDDEN", reason: `The hub refused the event: ${verdict.reason}` });
  });

  it("carries an MLS refusal's code and epoch to the participant's client as fields of the failed_pdus entry", async () => {
    const refuseCommits: EnginePorts["mls"] = {
      vetAsHub: async (pdu) => {
        if (pdu.type === "m.mls.commit") throw new MatrixError(403, "M_FORBIDDEN", "MLS wrong_epoch: commit for epoch 1 (current epoch 4)", { mls_code: "wrong_epoch", current_epoch: 4, missing_removals: [] });
        return undefined;
      },
      observeAsParticipant: async () => undefined,
    };
    const { hub, part } = await joinedPair(refuseCommits);
    const heard = hub.recorder.recorded.length;
    const sending = part.protocol.send(BOB, { type: "m.mls.commit", content: { epoch: 1 } });
    const { id, lpdu } = await lastLpdu(part, 1);
    const results = await hubReceives(hub, [{ id, lpdu }]);
    expect(results[0]?.verdict).toMatchObject({ outcome: "rejected", rule: "mls", fields: { mls_code: "wrong_epoch", current_epoch: 4 } });
    expect(hub.recorder.recorded.length).toBe(heard);
    // Scalars travel beside the draft's `error`; the text stays what it was.
    const entry = failedPdus(results)[id]!;
    expect(entry).toEqual({ error: "MLS wrong_epoch: commit for epoch 1 (current epoch 4)", mls_code: "wrong_epoch", current_epoch: 4 });
    part.protocol.lpduRejected(lpdu.hashes.lpdu.sha256, entry.error, entry);
    expect(await sending).toMatchObject({ outcome: "rejected", status: 403, fields: { mls_code: "wrong_epoch", current_epoch: 4 } });
  });

  it("rejects a PDU that does not follow the participant's tip and commits nothing", async () => {
    const { hub, part } = await joinedPair();
    const tip = part.core.last;
    const heard = part.recorder.recorded.length;
    // An event the hub never ordered after our tip: its prev_events names the room's create event.
    const create = hub.core.state.entry("m.room.create", "")!;
    const stray = { ...hub.core.last!.pdu, prev_events: [create.eventId], depth: 2, origin_server_ts: 1 } as Pdu;
    const [result] = await participantReceives(part, [{ id: "$stray", pdu: stray }]);
    expect(result?.verdict).toMatchObject({ outcome: "rejected", rule: "order" });
    expect(part.core.last).toBe(tip);
    expect(part.recorder.recorded.length).toBe(heard);
  });

  it("refuses PDUs from a server that is not the hub, and the hub refuses PDUs altogether", async () => {
    const { hub, part } = await joinedPair();
    const pdu = hub.core.last!.pdu;
    const fromElsewhere = await part.core.exclusive((w) => part.protocol.receive(w, "other.test", [{ id: "$x", pdu }]));
    expect(fromElsewhere[0]?.verdict).toMatchObject({ outcome: "rejected", reason: "other.test is not the hub of this room" });
    const atHub = await hubReceives(hub, [{ id: "$y", pdu }]);
    expect(atHub[0]?.verdict).toMatchObject({ outcome: "rejected", rule: "hub" });
  });

  it("hands out the Writer one section at a time, and a failed writer does not block the next", async () => {
    const section = Writer.section();
    const log: string[] = [];
    const first = section.run(async (w) => {
      log.push("first starts");
      await new Promise((r) => setTimeout(r, 20));
      log.push("first ends");
      return w;
    });
    const second = section.run(async () => void log.push("second starts"));
    const [w] = await Promise.all([first, second]);
    expect(log).toEqual(["first starts", "first ends", "second starts"]);
    expect(w).toBeInstanceOf(Writer);
    await expect(section.run(async () => Promise.reject(new Error("refused")))).rejects.toThrow("refused");
    expect(await section.run(async () => "next")).toBe("next");
    // @ts-expect-error only a section mints a Writer (the constructor is private): typecheck fails if that changes
    void (() => new Writer());
  });
});
