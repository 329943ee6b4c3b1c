// State resolution on the classic races, each built as a real DAG (fixtures/state-res-fixtures.ts)
// and resolved under room v11 (state resolution v2), v11's rules with v2.1 (MSC4297's framing) and
// room v12 (v2.1, creators privileged). The scenarios are the ones Synapse's and ruma's suites use,
// written afresh; each expectation is reasoned from the spec's algorithm in the comment beside it.

import { describe, expect, it } from "vitest";
import type { RoomVersion } from "../../shared/room-version.js";
import type { Spec } from "../support/state-res-dag.js";
import {
  ALICE,
  BOB,
  CHARLIE,
  EVELYN,
  JR,
  PL,
  TOPIC,
  VERSIONS,
  ZARA,
  buildScenario,
  changedSince,
  initialRoom,
  joinRule,
  member,
  membership,
  message,
  pl,
  topic,
} from "../support/state-res-dag.js";

interface Scenario {
  name: string;
  events: (v: RoomVersion) => Array<[string, Spec]>;
  edges: string[][];
  /** The state at END that differs from START, plus these keys: key → node name, or null for absent. */
  expected: Array<[key: string, node: string | null]>;
}

const SCENARIOS: Scenario[] = [
  {
    // The ban is a power event, so it is replayed before the topics; Bob's topic then fails as he is banned.
    name: "a ban wins over a concurrent topic change by the banned user",
    events: (v) => [
      ["T1", topic(ALICE, "one")],
      ["PA", pl(v, ALICE, { [BOB]: 50 })],
      ["MB", membership(ALICE, BOB, "ban")],
      ["T2", topic(BOB, "two")],
    ],
    edges: [["END", "MB", "PA", "T1", "START"], ["END", "T2", "PA"]],
    expected: [[TOPIC, "T1"], [member(BOB), "MB"], [PL, "PA"]],
  },
  {
    // As measured against Synapse 1.160 (Carol banned, no topic), with the ban and the topic on the same parent.
    name: "a ban and a topic change by the banned user on the same parent: banned, and no topic",
    events: (v) => [
      ["PA", pl(v, ALICE, { [CHARLIE]: 50 })],
      ["MC", membership(ALICE, CHARLIE, "ban")],
      ["TC", topic(CHARLIE, "carol's")],
    ],
    edges: [["END", "MC", "PA", "START"], ["END", "TC", "PA"]],
    expected: [[TOPIC, null], [member(CHARLIE), "MC"], [PL, "PA"]],
  },
  {
    // Neither join is a power event nor touches the other's key: both are conflicted only by absence.
    name: "two users joining concurrently both end up joined",
    events: () => [
      ["ME", membership(EVELYN, EVELYN, "join")],
      ["MD", membership("@dave:d.test", "@dave:d.test", "join")],
    ],
    edges: [["END", "ME", "START"], ["END", "MD", "START"]],
    expected: [[member(EVELYN), "ME"], [member("@dave:d.test"), "MD"]],
  },
  {
    // Both are power events with no order between them: Alice's higher level puts the demotion first,
    // and Bob's kick is then checked against level 0.
    name: "a power-level demotion wins over a concurrent kick by the demoted user",
    events: (v) => [
      ["PA", pl(v, ALICE, { [BOB]: 50 })],
      ["PA2", pl(v, ALICE, { [BOB]: 0 })],
      ["KC", membership(BOB, CHARLIE, "leave")],
    ],
    edges: [["END", "PA2", "PA", "START"], ["END", "KC", "PA"]],
    expected: [[PL, "PA2"], [member(CHARLIE), "IMC"]],
  },
  {
    // The join-rules change is a power event; the join is not, and fails against the invite-only rule.
    name: "a change to invite-only wins over a concurrent join",
    events: () => [
      ["JR", joinRule(ALICE, "invite")],
      ["ME", membership(EVELYN, EVELYN, "join")],
    ],
    edges: [["END", "JR", "START"], ["END", "ME", "START"]],
    expected: [[JR, "JR"], [member(EVELYN), null]],
  },
  {
    // Synapse's ban_vs_pl: Bob's no-op power levels come after his ban in the ordering and fail.
    name: "a ban wins over a concurrent power-levels event from the banned user",
    events: (v) => [
      ["PA", pl(v, ALICE, { [BOB]: 50 })],
      ["MA", membership(ALICE, ALICE, "join")],
      ["MB", membership(ALICE, BOB, "ban")],
      ["PB", pl(v, BOB, { [BOB]: 50 })],
    ],
    edges: [["END", "MB", "MA", "PA", "START"], ["END", "PB", "PA"]],
    expected: [[PL, "PA"], [member(ALICE), "MA"], [member(BOB), "MB"]],
  },
  {
    // "offtopic power levels": a chain of power levels on one branch against the older levels on the
    // other; the chain is in the auth difference and replays in order, so the newest stands.
    name: "a chain of power-levels events on one branch beats the older power levels it builds on",
    events: (v) => [
      ["PA", pl(v, ALICE, { [BOB]: 50 })],
      ["PB", pl(v, BOB, { [BOB]: 50, [CHARLIE]: 50 })],
      ["PC", pl(v, CHARLIE, { [BOB]: 50, [CHARLIE]: 0 })],
    ],
    edges: [["END", "PC", "PB", "PA", "START"], ["END", "PA"]],
    expected: [[PL, "PC"]],
  },
  {
    // Synapse's topic_basic: the demotion wins; T2 and T3 share a mainline position (both on PA1), so
    // timestamps order them, and Bob's T3, last, fails at level 0.
    name: "a topic from a demoted user loses to the topic set before the demotion",
    events: (v) => [
      ["T1", topic(ALICE, "1")],
      ["PA1", pl(v, ALICE, { [BOB]: 50 })],
      ["T2", topic(ALICE, "2")],
      ["PA2", pl(v, ALICE, { [BOB]: 0 })],
      ["PB", pl(v, BOB, { [BOB]: 50 })],
      ["T3", topic(BOB, "3")],
    ],
    edges: [["END", "PA2", "T2", "PA1", "T1", "START"], ["END", "T3", "PB", "PA1"]],
    expected: [[PL, "PA2"], [TOPIC, "T2"]],
  },
  {
    // Synapse's topic_reset: the ban makes Bob's later topic fail, so the topic goes back to T1.
    name: "a ban resets the topic the banned user set",
    events: (v) => [
      ["T1", topic(ALICE, "1")],
      ["PA", pl(v, ALICE, { [BOB]: 50 })],
      ["T2", topic(BOB, "2")],
      ["MB", membership(ALICE, BOB, "ban")],
    ],
    edges: [["END", "MB", "T2", "PA", "T1", "START"], ["END", "T1"]],
    expected: [[TOPIC, "T1"], [member(BOB), "MB"], [PL, "PA"]],
  },
  {
    // Synapse's topic: the branches merge at Zara's message (resolved as in the previous case), then
    // Alice sets the topic again.
    name: "a topic set after a merge stands, on the merged power levels",
    events: (v) => [
      ["T1", topic(ALICE, "1")],
      ["PA1", pl(v, ALICE, { [BOB]: 50 })],
      ["T2", topic(ALICE, "2")],
      ["PA2", pl(v, ALICE, { [BOB]: 0 })],
      ["PB", pl(v, BOB, { [BOB]: 50 })],
      ["T3", topic(BOB, "3")],
      ["MZ1", message(ZARA)],
      ["T4", topic(ALICE, "4")],
    ],
    edges: [["END", "T4", "MZ1", "PA2", "T2", "PA1", "T1", "START"], ["END", "MZ1", "T3", "PB", "PA1"]],
    expected: [[TOPIC, "T4"], [PL, "PA2"]],
  },
  {
    // Mainline sort: PA2 (Alice) beats PB (Bob). T3 cites PA2 (mainline position 0), T4 cites PB,
    // whose own power levels are PA1 (position 1), so T4 sorts first and T3 is applied last, although
    // T4 is the later event.
    name: "mainline ordering puts the topic based on the resolved power levels last",
    events: (v) => [
      ["T1", topic(ALICE, "1")],
      ["PA1", pl(v, ALICE, { [BOB]: 50 })],
      ["T2", topic(ALICE, "2")],
      ["PA2", pl(v, ALICE, { [BOB]: 50 }, { events: { "m.room.power_levels": 100 } })],
      ["PB", pl(v, BOB, { [BOB]: 50 })],
      ["T3", topic(BOB, "3")],
      ["T4", topic(ALICE, "4")],
    ],
    edges: [["END", "T3", "PA2", "T2", "PA1", "T1", "START"], ["END", "T4", "PB", "PA1"]],
    expected: [[TOPIC, "T3"], [PL, "PA2"]],
  },
];

describe.each(VERSIONS.map((v) => ({ v, label: `${v.id} (${v.stateResolution})` })))("state resolution in room version $label", ({ v }) => {
  it.each(SCENARIOS)("$name", (s) => {
    const dag = initialRoom(v);
    buildScenario(dag, s.events(v), s.edges);
    const expected = new Map(s.expected.map(([k, node]) => [k, node === null ? undefined : dag.id(node)]));
    expect(changedSince(dag, "START", "END", [...expected.keys()])).toEqual(expected);
  });
});
