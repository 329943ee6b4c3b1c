// Events learnt at a gap in a full-mesh room (durable-objects/room/dag-outliers.ts): each is
// authorized against its own auth events before the gap's state may use it; missing auth events are
// fetched, within a bound; what fails is rejected, what cannot be checked is left out.

import { describe, expect, it } from "vitest";
import { checkOutliers, MAX_AUTH_FETCHES, type OutlierSource } from "../../durable-objects/room/dag-outliers.js";
import type { Pdu } from "../../shared/event.js";
import { ROOM_VERSION_12 } from "../../shared/room-versions.js";
import { BOB, eventIdSync, initialRoom, message, type Dag } from "../support/state-res-dag.js";

const v = ROOM_VERSION_12;

/** The room up to START, with the events in `held` stored here and the rest only on the remote server. */
function setup(held: readonly string[]) {
  const dag = initialRoom(v);
  const heldIds = new Set(held.map((n) => dag.id(n)));
  const calls: string[] = [];
  const base = {
    version: v,
    standing: (id: string) => (heldIds.has(id) ? ("ok" as const) : undefined),
    getEvent: (id: string) => (heldIds.has(id) ? dag.events.get(id) : undefined),
    roomCreate: dag.events.get(dag.id("CREATE")) as Pdu,
    maxEvents: 100,
  };
  return { dag, calls, base };
}

/** A remote server holding every event of `dag`: event_auth answers an event's full auth chain. */
function remote(dag: Dag, calls: string[]): OutlierSource {
  const chainOf = (id: string, out = new Map<string, Pdu>()): Map<string, Pdu> => {
    for (const a of dag.events.get(id)?.auth_events ?? []) if (!out.has(a)) out.set(a, dag.events.get(a) as Pdu), chainOf(a, out);
    return out;
  };
  return {
    authChain: async (id) => (calls.push(`event_auth ${id}`), chainOf(id)),
    event: async (id) => (calls.push(`event ${id}`), dag.events.get(id)),
  };
}

/** Bob's topic change: its own auth events give him power 0, and topics need 50. */
function bobsTopic(dag: Dag): [string, Pdu] {
  const msg = dag.events.get(dag.id("MSG")) as Pdu;
  const forged: Pdu = { ...msg, type: "m.room.topic", state_key: "", content: { topic: "bob was here" } };
  return [eventIdSync(forged, v), forged];
}

describe("checking events fetched at a gap", () => {
  it("accepts events their own auth events allow and rejects one they refuse", async () => {
    const { dag, calls, base } = setup(["CREATE", "IMA", "IPOWER", "IJR", "IMB", "IMC", "IMZ", "START"]);
    dag.add("MSG", message(BOB), ["START"]);
    const [topicId, topic] = bobsTopic(dag);
    const fetched = new Map([[dag.id("MSG"), dag.events.get(dag.id("MSG")) as Pdu], [topicId, topic]]);
    const out = await checkOutliers({ ...base, fetched, source: remote(dag, calls) });
    expect([...out.accepted.keys()]).toEqual([dag.id("MSG")]);
    expect([...out.rejected.keys()]).toEqual([topicId]);
    expect(out.rejected.get(topicId)?.reason).toMatch(/auth rule/);
    expect(calls).toEqual([]);
  });

  it("fetches the auth events it lacks with event_auth, then checks them too", async () => {
    // Zara's join and message are unknown here; only her message came with the gap.
    const { dag, calls, base } = setup(["CREATE", "IMA", "IPOWER", "IJR", "IMB", "IMC"]);
    const start = dag.id("START");
    const out = await checkOutliers({ ...base, fetched: new Map([[start, dag.events.get(start) as Pdu]]), source: remote(dag, calls) });
    expect(calls).toEqual([`event_auth ${start}`]);
    expect(new Set(out.accepted.keys())).toEqual(new Set([start, dag.id("IMZ")]));
    expect(out.rejected.size + out.unknown.size).toBe(0);
  });

  it("rejects an event whose auth event is rejected, and leaves out one whose auth events cannot be had", async () => {
    const { dag, calls, base } = setup(["CREATE", "IMA", "IPOWER", "IJR", "IMB", "IMC"]);
    const start = dag.id("START");
    const imz = dag.id("IMZ");
    // Nothing to be had: Zara's message stays unchecked.
    const silent: OutlierSource = { authChain: async () => new Map(), event: async () => undefined };
    const lost = await checkOutliers({ ...base, fetched: new Map([[start, dag.events.get(start) as Pdu]]), source: silent });
    expect([...lost.unknown]).toEqual([start]);
    expect(lost.accepted.size).toBe(0);
    // Her join known to be rejected here: the message is rejected with it.
    const rejectedJoin = await checkOutliers({ ...base, standing: (id) => (id === imz ? "rejected" : base.standing(id)), fetched: new Map([[start, dag.events.get(start) as Pdu]]), source: remote(dag, calls) });
    expect([...rejectedJoin.rejected.keys()]).toEqual([start]);
  });

  it("stops asking after a bounded number of requests when each answer needs another", async () => {
    const { dag, base } = setup(["CREATE", "IMA", "IPOWER", "IJR", "IMB", "IMC", "IMZ", "START"]);
    let n = 0;
    const calls: string[] = [];
    // Every answer is an event citing one more event nobody has.
    const endless: OutlierSource = {
      authChain: async (id) => {
        calls.push(id);
        const e: Pdu = { ...(dag.events.get(dag.id("START")) as Pdu), auth_events: [`$missing${++n}`] };
        return new Map([[`$made${n}`, e]]);
      },
      event: async (id) => (calls.push(id), undefined),
    };
    const first: Pdu = { ...(dag.events.get(dag.id("START")) as Pdu), auth_events: ["$missing0"] };
    const out = await checkOutliers({ ...base, fetched: new Map([["$first", first]]), source: endless });
    expect(calls.length).toBe(MAX_AUTH_FETCHES);
    expect(out.accepted.size).toBe(0);
  });
});
