// The pure parts of the full-mesh room engine: which forward extremities a new event names as
// parents, its depth, how extremities move as events join the graph, which state events it cites as
// auth events, and state groups stored as deltas (durable-objects/room/dag-*.ts).

import { describe, expect, it } from "vitest";
import { authEventIdsFor } from "../../durable-objects/room/dag-auth.js";
import { depthAfter, extremitiesAfter, MAX_DEPTH, MAX_PREV_EVENTS, prevEventsFor } from "../../durable-objects/room/dag-extremities.js";
import { DagStateGroups, diff } from "../../durable-objects/room/dag-state.js";
import type { StateGroupRow } from "../../durable-objects/room-dag-storage.js";
import { stateKeyOf } from "../../shared/event.js";
import { ROOM_VERSION_11, ROOM_VERSION_12 } from "../../shared/room-versions.js";

describe("prev_events of a new event", () => {
  it("names every forward extremity while there are at most 20", () => {
    const ex = [{ eventId: "$b", depth: 4 }, { eventId: "$a", depth: 7 }, { eventId: "$c", depth: 4 }];
    expect(prevEventsFor(ex)).toEqual(["$a", "$b", "$c"]);
  });

  it("takes the 20 deepest of more extremities, ties broken by event ID", () => {
    const ex = Array.from({ length: 30 }, (_, i) => ({ eventId: `$e${String(i).padStart(2, "0")}`, depth: i % 10 }));
    const chosen = prevEventsFor(ex);
    expect(chosen).toHaveLength(MAX_PREV_EVENTS);
    expect(chosen.slice(0, 3)).toEqual(["$e09", "$e19", "$e29"]);
    // Depths 9..4 give 18; the two depth-3 events with the lowest IDs complete the 20.
    expect(chosen.slice(18)).toEqual(["$e03", "$e13"]);
  });
});

describe("depth", () => {
  it("is one more than the deepest parent, 1 without parents, capped at the largest safe integer", () => {
    expect(depthAfter([3, 9, 2])).toBe(10);
    expect(depthAfter([])).toBe(1);
    expect(depthAfter([MAX_DEPTH])).toBe(MAX_DEPTH);
  });
});

describe("forward extremities", () => {
  it("lose the new event's parents and gain the event", () => {
    expect([...extremitiesAfter(new Set(["$a", "$b", "$c"]), "$d", ["$a", "$b"])].sort()).toEqual(["$c", "$d"]);
  });

  it("do not gain an event that already has a known child (it arrived late)", () => {
    expect([...extremitiesAfter(new Set(["$x"]), "$old", ["$p"], true)]).toEqual(["$x"]);
  });

  it("keep a concurrent branch: two events on the same parent are both extremities", () => {
    const one = extremitiesAfter(new Set(["$p"]), "$l", ["$p"]);
    expect([...extremitiesAfter(one, "$r", ["$p"])].sort()).toEqual(["$l", "$r"]);
  });
});

describe("auth events selection", () => {
  const state = new Map([
    [stateKeyOf("m.room.create", ""), "$create"],
    [stateKeyOf("m.room.power_levels", ""), "$pl"],
    [stateKeyOf("m.room.join_rules", ""), "$jr"],
    [stateKeyOf("m.room.member", "@a:x"), "$ma"],
    [stateKeyOf("m.room.member", "@b:y"), "$mb"],
    [stateKeyOf("m.room.topic", ""), "$topic"],
  ]);

  it("cites create, power levels and the sender's membership for a message in v11", () => {
    expect(authEventIdsFor(ROOM_VERSION_11, state, { type: "m.room.message", sender: "@a:x", content: {} }).sort()).toEqual(["$create", "$ma", "$pl"]);
  });

  it("leaves the create event out in v12", () => {
    expect(authEventIdsFor(ROOM_VERSION_12, state, { type: "m.room.message", sender: "@a:x", content: {} }).sort()).toEqual(["$ma", "$pl"]);
  });

  it("adds the target's membership and the join rules for an invite", () => {
    const ids = authEventIdsFor(ROOM_VERSION_12, state, { type: "m.room.member", state_key: "@b:y", sender: "@a:x", content: { membership: "invite" } });
    expect(ids.sort()).toEqual(["$jr", "$ma", "$mb", "$pl"]);
  });

  it("cites nothing for the create event", () => {
    expect(authEventIdsFor(ROOM_VERSION_11, state, { type: "m.room.create", state_key: "", sender: "@a:x", content: {} })).toEqual([]);
  });
});

describe("state groups", () => {
  function memoryGroups() {
    const rows: StateGroupRow[] = [];
    const store = { stateGroup: (id: number) => rows[id - 1], insertStateGroup: (row: StateGroupRow) => rows.push(row) };
    return { rows, groups: new DagStateGroups(store) };
  }

  it("store a state event as a one-entry delta and a message as no group at all", () => {
    const { rows, groups } = memoryGroups();
    const base = groups.save(new Map([["k1", "$1"], ["k2", "$2"]]));
    const next = groups.withEvent(base, "k3", "$3");
    expect(groups.withEvent(next, "k3", "$3")).toBe(next);
    expect(rows[next - 1]?.delta).toEqual([["k3", "$3"]]);
    expect([...groups.get(next)].sort()).toEqual([["k1", "$1"], ["k2", "$2"], ["k3", "$3"]]);
  });

  it("read back the same state through a long chain, which is cut by a full snapshot", () => {
    const { rows, groups } = memoryGroups();
    let g = groups.save(new Map());
    for (let i = 0; i < 100; i++) g = groups.withEvent(g, `k${i % 7}`, `$${i}`);
    const fresh = new DagStateGroups({ stateGroup: (id) => rows[id - 1], insertStateGroup: () => 0 });
    expect(fresh.get(g)).toEqual(groups.get(g));
    expect(Math.max(...rows.map((r) => r.chain))).toBeLessThanOrEqual(32);
  });

  it("record removals in a delta", () => {
    expect(diff(new Map([["a", "$1"], ["b", "$2"]]), new Map([["a", "$9"]]))).toEqual([["a", "$9"], ["b", null]]);
  });
});
