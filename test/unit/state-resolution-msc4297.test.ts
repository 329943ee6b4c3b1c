// The two state resets MSC4297 fixes, each built as the MSC describes it: a state set that came from
// partial synchronisation (/state_ids) carries an outdated event while the auth chains agree on a
// newer one. State resolution v2 (room v11) resets the state; v2.1 (v11's rules with v2.1, and room
// v12) keeps what the auth chains say.

import { describe, expect, it } from "vitest";
import type { RoomVersion } from "../../shared/room-version.js";
import { ROOM_VERSION_11, ROOM_VERSION_12 } from "../../shared/room-versions.js";
import { resolveState } from "../../shared/state-resolution.js";
import { authDifference, conflictedSubgraph, splitStateSets } from "../../shared/state-res/conflicts.js";
import { EventGraph } from "../../shared/state-res/event-graph.js";
import { ALICE, BOB, CHARLIE, HYDRA_11, JR, PL, initialRoom, joinRule, membership, pl, topic } from "../support/state-res-dag.js";

const V21: readonly RoomVersion[] = [HYDRA_11, ROOM_VERSION_12];

/**
 * Problem A: Alice changes the join rule, then leaves. The true state has her new join rule; the
 * other set has the old one (outdated /state_ids). Both agree she has left, so v2 replays both join
 * rules on an unconflicted state in which she is not joined, both fail, and the room is left with no
 * join rule at all. v2.1 replays them from the empty state, on their own auth events, where she is
 * joined, and the newer one stands.
 */
function problemA(v: RoomVersion) {
  const dag = initialRoom(v);
  dag.chain("START", [
    ["JR2", joinRule(ALICE, "invite")],
    ["LEAVE", membership(ALICE, ALICE, "leave")],
  ]);
  const truth = dag.stateAfter("LEAVE");
  const outdated = new Map(truth).set(JR, dag.id("IJR"));
  return { dag, stateSets: [truth, outdated] };
}

/**
 * Problem B: Alice promotes Bob, Bob sets a topic, Bob promotes Charlie. The true state has Bob's
 * power levels; the other set has the room's first power levels (outdated) but Bob's topic, whose auth
 * chain holds Alice's promotion of Bob. That promotion is in both sets' auth chains, so it is not in the
 * auth difference: v2 replays the first power levels and then Bob's, which fails without his
 * promotion, a reset to the first power levels. v2.1's conflicted state subgraph (the path from Bob's
 * power levels back to the first) brings the promotion in, and Bob's power levels stand.
 */
function problemB(v: RoomVersion) {
  const dag = initialRoom(v);
  dag.chain("START", [
    ["PL1", pl(v, ALICE, { [BOB]: 50 })],
    ["TB", topic(BOB, "bob's")],
    ["PL2", pl(v, BOB, { [BOB]: 50, [CHARLIE]: 50 })],
  ]);
  const truth = dag.stateAfter("PL2");
  const outdated = new Map(truth).set(PL, dag.id("IPOWER"));
  return { dag, stateSets: [truth, outdated] };
}

describe("MSC4297 problem A: conflicting events unauthorised by the unconflicted state", () => {
  it("v2 (room v11) loses the join rule: both are replayed on a state where their sender has left", () => {
    const { dag, stateSets } = problemA(ROOM_VERSION_11);
    const resolved = resolveState({ version: ROOM_VERSION_11, stateSets, getEvent: dag.getEvent });
    const withoutJoinRule = dag.stateAfter("LEAVE");
    withoutJoinRule.delete(JR);
    expect(resolved).toEqual(withoutJoinRule);
  });

  it.each(V21.map((v) => ({ v, id: v.id })))("v2.1 ($id) keeps the newer join rule, replayed from the empty state", ({ v }) => {
    const { dag, stateSets } = problemA(v);
    const resolved = resolveState({ version: v, stateSets, getEvent: dag.getEvent });
    expect(resolved).toEqual(dag.stateAfter("LEAVE"));
    expect(resolved.get(JR)).toBe(dag.id("JR2"));
  });
});

describe("MSC4297 problem B: conflicting events that need unconflicted events to be authorised", () => {
  it("v2 (room v11) resets the power levels to the room's first: the promotion Bob's change needs is not replayed", () => {
    const { dag, stateSets } = problemB(ROOM_VERSION_11);
    const resolved = resolveState({ version: ROOM_VERSION_11, stateSets, getEvent: dag.getEvent });
    expect(resolved.get(PL)).toBe(dag.id("IPOWER"));
    expect(new Map([...resolved].filter(([k]) => k !== PL))).toEqual(new Map([...dag.stateAfter("PL2")].filter(([k]) => k !== PL)));
  });

  it.each(V21.map((v) => ({ v, id: v.id })))("v2.1 ($id) keeps Bob's power levels: the subgraph replays Alice's promotion of him first", ({ v }) => {
    const { dag, stateSets } = problemB(v);
    const resolved = resolveState({ version: v, stateSets, getEvent: dag.getEvent });
    expect(resolved).toEqual(dag.stateAfter("PL2"));
  });

  it("is so because the promotion is in both sets' auth chains: outside the auth difference, inside the conflicted subgraph", () => {
    const { dag, stateSets } = problemB(ROOM_VERSION_12);
    const graph = new EventGraph(dag.getEvent);
    const split = splitStateSets(stateSets);
    const conflicted = new Set([...split.conflicted.values()].flatMap((ids) => [...ids]));
    expect(conflicted).toEqual(new Set([dag.id("PL2"), dag.id("IPOWER")]));
    expect(authDifference(graph, stateSets, split)).toEqual(new Set([dag.id("PL2")]));
    // Every auth path from Bob's power levels down to the first: through Alice's promotion of him, and
    // through his join and the join rule it cites, which both cite the first power levels.
    const between = ["PL2", "PL1", "IMB", "IJR", "IPOWER"].map((n) => dag.id(n));
    expect(conflictedSubgraph(graph, conflicted)).toEqual(new Set(between));
  });
});
