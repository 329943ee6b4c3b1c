// The steps of state resolution one at a time, on small hand-made graphs: the split into unconflicted
// and conflicted state, the auth difference, the conflicted state subgraph (v2.1), the reverse
// topological power ordering and the sender's power level, the mainline ordering, the fast path, and
// what happens to events nobody can find.

import { describe, expect, it } from "vitest";
import type { JsonObject } from "../../shared/canonical-json.js";
import type { Pdu } from "../../shared/event.js";
import { eventIdOf } from "../../shared/hashes.js";
import { LM_ROOM_VERSION, ROOM_VERSION_11, ROOM_VERSION_12 } from "../../shared/room-versions.js";
import { resolveState } from "../../shared/state-resolution.js";
import { authDifference, conflictedSubgraph, splitStateSets } from "../../shared/state-res/conflicts.js";
import { EventGraph } from "../../shared/state-res/event-graph.js";
import { mainlineOrder } from "../../shared/state-res/mainline.js";
import { reverseTopologicalPowerOrder, senderPowerLevel } from "../../shared/state-res/power-order.js";
import { ALICE, BOB, CHARLIE, PL, TOPIC, eventIdSync, initialRoom, member, pl, topic } from "../support/state-res-dag.js";

interface Fake {
  auth?: string[];
  type?: string;
  sender?: string;
  ts?: number;
  content?: JsonObject;
  stateKey?: string;
}

/** A graph of stand-in events: only the fields a step reads are meaningful. */
function graphOf(events: Record<string, Fake>): { graph: EventGraph; looked: string[] } {
  const looked: string[] = [];
  const map = new Map<string, Pdu>();
  for (const [id, f] of Object.entries(events)) {
    map.set(id, {
      type: f.type ?? "m.room.member",
      state_key: f.stateKey ?? "",
      sender: f.sender ?? ALICE,
      origin_server_ts: f.ts ?? 0,
      content: f.content ?? {},
      hashes: {},
      signatures: {},
      auth_events: f.auth ?? [],
      prev_events: [],
      room_id: "!room:a.test",
    });
  }
  return {
    looked,
    graph: new EventGraph((id) => {
      looked.push(id);
      return map.get(id);
    }),
  };
}

const sets = (...s: Array<Record<string, string>>) => s.map((o) => new Map(Object.entries(o)));

describe("event IDs in the test DAG", () => {
  it.each([ROOM_VERSION_11, ROOM_VERSION_12])("are the reference hashes eventIdOf computes (v$id)", async (v) => {
    const dag = initialRoom(v);
    for (const [id, e] of dag.events) expect(await eventIdOf(e, v)).toBe(id);
    expect(eventIdSync(dag.events.get(dag.id("START"))!, v)).toBe(dag.id("START"));
  });
});

describe("unconflicted state map and conflicted state set", () => {
  it("puts a key in the unconflicted map only when every set holds the same event there", () => {
    const { unconflicted, conflicted } = splitStateSets(sets({ a: "$1", b: "$2", c: "$3" }, { a: "$1", b: "$9" }));
    expect(unconflicted).toEqual(new Map([["a", "$1"]]));
    expect(conflicted).toEqual(new Map([["b", new Set(["$2", "$9"])], ["c", new Set(["$3"])]]));
  });
});

describe("fast path", () => {
  it("returns the common state without looking up a single event when the sets agree", () => {
    const looked: string[] = [];
    const s = { [PL]: "$pl", [TOPIC]: "$t", [member(ALICE)]: "$m" };
    const out = resolveState({ version: ROOM_VERSION_12, stateSets: sets(s, s, s), getEvent: (id) => (looked.push(id), undefined) });
    expect(out).toEqual(new Map(Object.entries(s)));
    expect(looked).toEqual([]);
  });

  it("resolves no sets to the empty state and one set to itself", () => {
    const getEvent = () => undefined;
    expect(resolveState({ version: ROOM_VERSION_11, stateSets: [], getEvent })).toEqual(new Map());
    expect(resolveState({ version: ROOM_VERSION_11, stateSets: sets({ a: "$1" }), getEvent })).toEqual(new Map([["a", "$1"]]));
  });

  it("refuses a room version that does not resolve state this way", () => {
    expect(() => resolveState({ version: LM_ROOM_VERSION, stateSets: [], getEvent: () => undefined })).toThrow(TypeError);
  });
});

describe("auth difference", () => {
  it("counts the state sets' own events as part of their auth chains", () => {
    // c → b → a: the sets {a, b} and {c} have chains {a, b} and {a, b, c}; only c is not in both.
    const { graph } = graphOf({ a: {}, b: { auth: ["a"] }, c: { auth: ["b"] } });
    const s = sets({ ka: "a", kb: "b" }, { kc: "c" });
    expect(authDifference(graph, s, splitStateSets(s))).toEqual(new Set(["c"]));
  });

  it("leaves out what every set's chains share, looking each event up once however many walks pass it", () => {
    // x and y conflict; both cite m (member, unconflicted), whose chain is the long history h1..h50.
    const events: Record<string, Fake> = { h1: {} };
    for (let i = 2; i <= 50; i++) events[`h${i}`] = { auth: [`h${i - 1}`] };
    Object.assign(events, { m: { auth: ["h50"] }, p: { auth: ["m"] }, x: { auth: ["p", "m"] }, y: { auth: ["m"] } });
    const { graph, looked } = graphOf(events);
    const s = sets({ k: "x", m: "m" }, { k: "y", m: "m" });
    expect(authDifference(graph, s, splitStateSets(s))).toEqual(new Set(["x", "p", "y"]));
    expect(looked.length).toBe(new Set(looked).size);
  });
});

describe("conflicted state subgraph (v2.1)", () => {
  it("holds every event on an auth path between two conflicted events, and nothing off those paths", () => {
    // c1 → x → y → c2 → root, x → z → root: z and root lead to no conflicted event.
    const { graph } = graphOf({ root: {}, c2: { auth: ["root"] }, y: { auth: ["c2"] }, z: { auth: ["root"] }, x: { auth: ["y", "z"] }, c1: { auth: ["x"] }, c3: { auth: ["root"] } });
    expect(conflictedSubgraph(graph, new Set(["c1", "c2", "c3"]))).toEqual(new Set(["c1", "x", "y", "c2", "c3"]));
  });
});

describe("reverse topological power ordering", () => {
  it("is Kahn's algorithm taking the smallest ready event: auth events first, then by event ID when all else ties", () => {
    const { graph } = graphOf({ o: {}, l: { auth: ["o"] }, m: { auth: ["n", "o"] }, n: { auth: ["o"] }, p: { auth: ["o"] } });
    expect(reverseTopologicalPowerOrder(graph, ROOM_VERSION_11, new Set(["l", "m", "n", "o", "p"]))).toEqual(["o", "l", "n", "m", "p"]);
  });

  it("puts the sender with more power first, then the earlier origin_server_ts, then the smaller event ID", () => {
    const plContent = { users: { [ALICE]: 100, [BOB]: 50 } };
    const { graph } = graphOf({
      pl: { type: "m.room.power_levels", content: plContent },
      bobEarly: { sender: BOB, auth: ["pl"], ts: 1 },
      aliceLate: { sender: ALICE, auth: ["pl"], ts: 9 },
      charlieB: { sender: CHARLIE, auth: ["pl"], ts: 5 },
      charlieA: { sender: CHARLIE, auth: ["pl"], ts: 5 },
    });
    const ids = new Set(["bobEarly", "aliceLate", "charlieB", "charlieA"]);
    expect(reverseTopologicalPowerOrder(graph, ROOM_VERSION_11, ids)).toEqual(["aliceLate", "bobEarly", "charlieA", "charlieB"]);
  });

  it("reads the sender's level from the event's own power levels, and the creator's 100 when there are none (v11)", () => {
    const { graph } = graphOf({
      create: { type: "m.room.create", content: {} },
      pl: { type: "m.room.power_levels", content: { users: { [BOB]: 50 }, users_default: 10 } },
      withPl: { sender: BOB, auth: ["create", "pl"] },
      byDefault: { sender: CHARLIE, auth: ["create", "pl"] },
      creatorNoPl: { sender: ALICE, auth: ["create"] },
      otherNoPl: { sender: BOB, auth: ["create"] },
    });
    const level = (id: string) => senderPowerLevel(graph, ROOM_VERSION_11, id, graph.get(id)!);
    expect([level("withPl"), level("byDefault"), level("creatorNoPl"), level("otherNoPl")]).toEqual([50, 10, 100, 0]);
  });

  it("gives v12 creators, additional ones included, an infinite level, above any power levels entry", () => {
    const dag = initialRoom(ROOM_VERSION_12);
    const graph = new EventGraph(dag.getEvent);
    const id = dag.id("IPOWER");
    expect(senderPowerLevel(graph, ROOM_VERSION_12, id, graph.get(id)!)).toBe(Number.POSITIVE_INFINITY);
    dag.add("PB", pl(ROOM_VERSION_12, ALICE, { [BOB]: 100 }), ["START"]);
    const t = dag.add("TB", topic(BOB), ["PB"]);
    expect(senderPowerLevel(graph, ROOM_VERSION_12, t, graph.get(t)!)).toBe(100);

    const withCharlie = initialRoom(ROOM_VERSION_12, { additional_creators: [CHARLIE] });
    const g2 = new EventGraph(withCharlie.getEvent);
    const level = (name: string) => senderPowerLevel(g2, ROOM_VERSION_12, withCharlie.id(name), g2.get(withCharlie.id(name))!);
    expect([level("IMC"), level("IMB")]).toEqual([Number.POSITIVE_INFINITY, 0]);
  });
});

describe("mainline ordering", () => {
  it("sorts events whose chain meets the mainline further back first, and those that never meet it before all", () => {
    // Mainline of p2: [p2, p1, p0]. a cites p0 (position 2), b cites q (off the mainline) whose chain
    // reaches p1 (position 1), c cites p2 (position 0), d cites no power levels (infinite).
    const PLT = "m.room.power_levels";
    const { graph } = graphOf({
      p0: { type: PLT },
      p1: { type: PLT, auth: ["p0"] },
      p2: { type: PLT, auth: ["p1"] },
      q: { type: PLT, auth: ["p1"] },
      a: { auth: ["p0"], ts: 4 },
      b: { auth: ["q"], ts: 3 },
      c: { auth: ["p2"], ts: 1 },
      d: { ts: 9 },
      c2: { auth: ["p2"], ts: 1 },
    });
    expect(mainlineOrder(graph, ["c2", "c", "b", "a", "d"], "p2")).toEqual(["d", "a", "b", "c", "c2"]);
  });

  it("orders by timestamp and event ID alone when nothing has been resolved as power levels", () => {
    const { graph } = graphOf({ x: { ts: 2 }, y: { ts: 1 }, z: { ts: 2 } });
    expect(mainlineOrder(graph, ["z", "x", "y"], undefined)).toEqual(["y", "x", "z"]);
  });
});

describe("events that cannot be found", () => {
  it.each([ROOM_VERSION_11, ROOM_VERSION_12])("are skipped, not thrown on (v$id)", (v) => {
    const dag = initialRoom(v);
    const t1 = dag.add("T1", topic(ALICE, "known"), ["START"]);
    const known = dag.stateAfter("T1");
    const unknown = new Map(known).set(TOPIC, "$nobody-has-this-event");
    const out = resolveState({ version: v, stateSets: [known, unknown], getEvent: dag.getEvent });
    expect(out.get(TOPIC)).toBe(t1);
    expect(out).toEqual(known);
  });

  it.each([ROOM_VERSION_11, ROOM_VERSION_12])("leave another room's events out, even ones that pass in their own room (v$id)", (v) => {
    const dag = initialRoom(v);
    const ours = dag.add("T1", topic(ALICE, "ours"), ["START"]);
    // v12 derives the room ID from the create event, so a different create content makes another room.
    const other = initialRoom(v, { "m.federate": true }, "!other:a.test");
    const theirs = other.add("T1", topic(ALICE, "theirs"), ["START"]);
    expect(other.roomId).not.toBe(dag.roomId);
    const both = (id: string) => dag.events.get(id) ?? other.events.get(id);
    const stateSets = [dag.stateAfter("T1"), new Map(dag.stateAfter("T1")).set(TOPIC, theirs)];
    const out = resolveState({ version: v, stateSets, getEvent: both });
    expect(out.get(TOPIC)).toBe(ours);
  });
});
