// State resolution benchmark (issue 15): the cost of resolving the state of a 1,000-member room with
// 20 conflicted entries under state resolution v2 (room v11) and v2.1 (room v12), beside baselines
// measured in the same run: the fast path (two identical state sets) and the same conflict in a
// 100-member room. Pure CPU in one Node process: shared/state-resolution.ts is synchronous and does
// no I/O; getEvent is a Map lookup, as a room engine's in-memory cache would be.
//
// `npm run bench` (and bench:quick) runs it after the MLS benchmark; alone:
//   node bench/build.mjs && node --expose-gc bench/.build/state-resolution.mjs [--quick]
// bench/README.md ("State resolution") has the method and the figures.

import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { join, relative } from "node:path";
import { performance } from "node:perf_hooks";
import type { Pdu } from "../shared/event.js";
import type { RoomVersion } from "../shared/room-version.js";
import { ROOM_VERSION_11, ROOM_VERSION_12 } from "../shared/room-versions.js";
import { resolveState, type StateSet } from "../shared/state-resolution.js";
import { ALICE, BOB, Dag, initialRoom, membership, pl, type Spec } from "../test/support/state-res-dag.js";
import { r2 } from "./src/stats.js";

/** The repository, from the bundle in bench/.build/. */
const ROOT = join(import.meta.dirname, "..", "..");
const ms3 = (x: number): number => Math.round(x * 1000) / 1000;

const QUICK = process.argv.includes("--quick");
const CFG = QUICK ? { warmup: 5, samples: 30 } : { warmup: 30, samples: 300 };
const CONFLICTS = 20;

const user = (i: number): string => `@u${i}:s${i % 10}.test`;

interface Room {
  members: number;
  dag: Dag;
  /** The two branches' states, which differ at CONFLICTS keys. */
  sides: [StateSet, StateSet];
}

/**
 * Alice's room with `members` joined members (Bob a moderator), forked at its last event: on one
 * branch Alice kicks five members, five members change their display names and Alice changes the
 * power levels; on the other eight more members change their names and Bob names the room.
 */
function buildRoom(v: RoomVersion, members: number): Room {
  const dag = initialRoom(v);
  let head = dag.chain("START", [["MODS", pl(v, ALICE, { [BOB]: 50 })]]);
  for (let i = 1; i <= members - 4; i++) head = dag.chain(head, [[`J${i}`, membership(user(i), user(i), "join")]]);
  const rename = (i: number): Spec => ({ ...membership(user(i), user(i), "join"), content: { membership: "join", displayname: `user ${i}` } });
  const a: Array<[string, Spec]> = [];
  for (let i = 1; i <= 5; i++) a.push([`K${i}`, membership(ALICE, user(i), "leave")]);
  for (let i = 6; i <= 10; i++) a.push([`N${i}`, rename(i)]);
  a.push(["PL2", pl(v, ALICE, { [BOB]: 50, [user(20)]: 10 })]);
  const b: Array<[string, Spec]> = [];
  for (let i = 11; i <= 18; i++) b.push([`N${i}`, rename(i)]);
  b.push(["NAME", { sender: BOB, type: "m.room.name", stateKey: "", content: { name: "bench" } }]);
  const sideA = dag.stateAfter(dag.chain(head, a));
  const sideB = dag.stateAfter(dag.chain(head, b));
  const differing = [...new Set([...sideA.keys(), ...sideB.keys()])].filter((k) => sideA.get(k) !== sideB.get(k));
  if (differing.length !== CONFLICTS) throw new Error(`expected ${CONFLICTS} conflicted keys, built ${differing.length}`);
  return { members, dag, sides: [sideA, sideB] };
}

interface Row {
  version: string;
  algorithm: string;
  members: number;
  case: "conflicted" | "fast path";
  /** Entries in each input state set (the first, for the conflicted case). */
  inputSize: number;
  stateSize: number;
  lookups: number;
  medianMs: number;
  p95Ms: number;
  meanMs: number;
  /** Process CPU (user + system) over all samples, per call: unlike wall time, not inflated by waiting for a core. */
  cpuMs: number;
}

function measure(v: RoomVersion, room: Room, which: Row["case"]): Row {
  const [a, b] = room.sides;
  const stateSets = which === "conflicted" ? [a, b] : [a, new Map(a)];
  let lookups = 0;
  const getEvent = (id: string): Pdu | undefined => (lookups++, room.dag.events.get(id));
  const run = () => resolveState({ version: v, stateSets, getEvent });
  // The rooms' construction leaves garbage behind; collect it (node --expose-gc) so no sample pays for it.
  (globalThis as { gc?: () => void }).gc?.();
  for (let i = 0; i < CFG.warmup; i++) run();
  lookups = 0;
  const out = run();
  const perCall = lookups;
  const times: number[] = [];
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < CFG.samples; i++) {
    const t0 = performance.now();
    run();
    times.push(performance.now() - t0);
  }
  const cpu = process.cpuUsage(cpu0);
  times.sort((x, y) => x - y);
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? 0;
  return {
    version: v.id,
    algorithm: v.stateResolution,
    members: room.members,
    case: which,
    inputSize: room.sides[0].size,
    stateSize: out.size,
    lookups: perCall,
    medianMs: ms3(at(0.5)),
    p95Ms: ms3(at(0.95)),
    meanMs: ms3(times.reduce((s, t) => s + t, 0) / times.length),
    cpuMs: ms3((cpu.user + cpu.system) / 1000 / CFG.samples),
  };
}

function main(): void {
  const started = Date.now();
  const rooms: Array<[RoomVersion, Room]> = [];
  for (const v of [ROOM_VERSION_11, ROOM_VERSION_12]) {
    for (const members of [100, 1_000]) {
      const t0 = Date.now();
      rooms.push([v, buildRoom(v, members)]);
      console.log(`[state-res] v${v.id}: built a ${members}-member room in ${Date.now() - t0} ms`);
    }
  }
  const rows: Row[] = [];
  for (const [v, room] of rooms) rows.push(measure(v, room, "conflicted"), measure(v, room, "fast path"));
  const find = (version: string, members: number, c: Row["case"]) => rows.find((r) => r.version === version && r.members === members && r.case === c) as Row;
  const ratio = (x: Row, y: Row) => r2(x.cpuMs / y.cpuMs);
  const lines = [
    "| Room | Case | State entries in → out | Events looked up | CPU ms/call | Median ms | p95 ms | Ratio (CPU) |",
    "|---|---|---|---|---|---|---|---|",
  ];
  for (const r of rows) {
    const base = find(r.version, r.members, "fast path");
    const note = r.case === "fast path" ? "baseline" : `${ratio(r, base)}× its fast path`;
    lines.push(`| v${r.version} (${r.algorithm}), ${r.members.toLocaleString("en")} members | ${r.case} | ${r.inputSize} → ${r.stateSize} | ${r.lookups} | ${r.cpuMs} | ${r.medianMs} | ${r.p95Ms} | ${note} |`);
  }
  const big11 = find("11", 1_000, "conflicted");
  const big12 = find("12", 1_000, "conflicted");
  lines.push("");
  lines.push(`v2.1 / v2 at 1,000 members, 20 conflicts: ${ratio(big12, big11)}×`);
  lines.push(`1,000 / 100 members, 20 conflicts: v2 ${ratio(big11, find("11", 100, "conflicted"))}×, v2.1 ${ratio(big12, find("12", 100, "conflicted"))}×`);

  const out = {
    mode: QUICK ? "quick" : "full",
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? "unknown", memGiB: r2(totalmem() / 2 ** 30), node: process.version, loadavgAtStart: loadavg().map(r2) },
    samples: CFG.samples,
    rows,
    durationS: Math.round((Date.now() - started) / 1000),
  };
  // Only a full run writes the tracked results file the README cites; a quick one stays in the git-ignored build folder.
  const dir = QUICK ? join(ROOT, "bench", ".build", "results") : join(ROOT, "bench", "results");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `state-resolution-latest-${out.mode}.json`);
  writeFileSync(file, JSON.stringify(out, null, 2) + "\n");
  console.log("\n" + lines.join("\n") + "\n");
  console.log(`[state-res] done in ${out.durationS} s; results in ${relative(ROOT, file)}`);
}

main();
