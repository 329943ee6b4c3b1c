// Properties of state resolution over random room DAGs. From a room where Bob and Charlie are
// moderators, random events (topics, power-level changes, kicks, bans, joins, leaves, invites, join-rule
// changes, and merges of two branches) go onto three branches; an event is kept only when it passes
// auth against the state before it, as a server would. The branches' final states are then resolved:
//   - the result does not depend on the order of the state sets, nor on the order in which each
//     set's entries (and the events behind them) were inserted;
//   - a state set given twice changes nothing;
//   - every key the sets agree on keeps its event.
// Run for v11 (v2), v11 rules with v2.1, and v12. FUZZ_RUNS raises the count.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Pdu } from "../../shared/event.js";
import type { RoomVersion } from "../../shared/room-version.js";
import { resolveState } from "../../shared/state-resolution.js";
import type { Spec } from "../support/state-res-dag.js";
import { ALICE, BOB, CHARLIE, EVELYN, VERSIONS, ZARA, initialRoom, joinRule, membership, message, pl, topic } from "../support/state-res-dag.js";

const FUZZ_RUNS = Number(process.env["FUZZ_RUNS"] ?? "") || 0;
const RUNS = Math.max(40, FUZZ_RUNS);
const USERS = [ALICE, BOB, CHARLIE, ZARA, EVELYN] as const;
const KINDS = ["topic", "pl", "kick", "ban", "join", "leave", "invite", "joinRule", "merge"] as const;

interface Op {
  branch: number;
  other: number;
  kind: (typeof KINDS)[number];
  actor: number;
  target: number;
  level: number;
  /** Few distinct timestamps, so that ties fall through to the event-ID comparison. */
  ts: number;
}

const opArb: fc.Arbitrary<Op> = fc.record({
  branch: fc.nat(2),
  other: fc.nat(2),
  kind: fc.constantFrom(...KINDS),
  actor: fc.nat(USERS.length - 1),
  target: fc.nat(USERS.length - 1),
  level: fc.constantFrom(0, 25, 50, 75),
  ts: fc.nat(2),
});

function specOf(v: RoomVersion, op: Op): Spec {
  return { ...baseSpec(v, op), ts: 1_800_000_000_000 + op.ts };
}

function baseSpec(v: RoomVersion, op: Op): Spec {
  const actor = USERS[op.actor] as string;
  const target = USERS[op.target] as string;
  switch (op.kind) {
    case "topic":
    case "merge":
      return topic(actor, `${op.kind} ${op.level}`);
    case "pl":
      return pl(v, actor, { [BOB]: 50, [CHARLIE]: 50, [target]: op.level });
    case "kick":
      return membership(actor, target, "leave");
    case "ban":
      return membership(actor, target, "ban");
    case "join":
      return membership(actor, actor, "join");
    case "leave":
      return membership(actor, actor, "leave");
    case "invite":
      return membership(actor, target, "invite");
    case "joinRule":
      return joinRule(actor, op.level >= 50 ? "invite" : "public");
  }
}

/** A permutation of `items` drawn from `seed` (a small LCG: deterministic per fast-check case). */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let s = seed >>> 0 || 1;
  for (let i = out.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1_103_515_245) + 12_345) >>> 0;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [[...items]];
  return items.flatMap((x, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [x, ...rest]));
}

function randomBranches(v: RoomVersion, ops: readonly Op[]) {
  const dag = initialRoom(v);
  dag.add("MODS", pl(v, ALICE, { [BOB]: 50, [CHARLIE]: 50 }), ["START"]);
  const heads = ["MODS", "MODS", "MODS"];
  ops.forEach((op, i) => {
    const prevs = op.kind === "merge" && heads[op.other] !== heads[op.branch] ? [heads[op.branch] as string, heads[op.other] as string] : [heads[op.branch] as string];
    const added = dag.tryAdd(`E${i}`, specOf(v, op), prevs) ?? (prevs.length > 1 ? dag.tryAdd(`E${i}`, { ...message(ZARA), ts: 1_800_000_000_000 }, prevs) : undefined);
    if (added !== undefined) heads[op.branch] = `E${i}`;
  });
  return { dag, heads: [...new Set(heads)] };
}

describe.each(VERSIONS.map((v) => ({ v, label: `${v.id} (${v.stateResolution})` })))("state resolution properties in room version $label", ({ v }) => {
  it("gives the same state whatever the order of the state sets and of their entries", () => {
    let withConflicts = 0;
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 14 }), fc.integer(), (ops, seed) => {
        const { dag, heads } = randomBranches(v, ops);
        const states = heads.map((h) => dag.stateAfter(h));
        const reference = resolveState({ version: v, stateSets: states, getEvent: dag.getEvent });
        if (states.some((s) => [...s].some(([k, id]) => states.some((o) => o.get(k) !== id)))) withConflicts++;

        // The caller's event store filled in another order; each set's entries inserted in another order.
        const store = new Map<string, Pdu>(shuffled([...dag.events], seed));
        const getEvent = (id: string) => store.get(id);
        for (const [p, order] of permutations(states).entries()) {
          const reordered = order.map((s, i) => new Map(shuffled([...s], seed + 7 * p + i)));
          expect(resolveState({ version: v, stateSets: reordered, getEvent })).toEqual(reference);
        }

        // A state set given twice changes neither the unconflicted state nor any auth chain.
        expect(resolveState({ version: v, stateSets: [...states, states[0] as Map<string, string>], getEvent })).toEqual(reference);

        for (const [k, id] of states[0] ?? []) if (states.every((s) => s.get(k) === id)) expect(reference.get(k)).toBe(id);
      }),
      { numRuns: RUNS },
    );
    // The property says little unless the branches really conflict in a good share of the cases.
    expect(withConflicts).toBeGreaterThan(RUNS / 3);
  }, 120_000);
});
