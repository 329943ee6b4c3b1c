// Full-mesh room benchmark (issue 15): the cost of accepting one DAG event in a v12 room with users of
// 10 remote servers, split into the Worker's part (signature and content-hash checks of the PDU) and
// the Room's part (durable-objects/room/matrix-dag.ts: auth against the event's own auth events, the
// state before it and current state, the state groups, extremities and the commit), beside a baseline
// from the same run: the commit alone (RoomCore.commit of the same kind of event, no checks). Pure CPU
// in one Node process, on in-memory storage, so SQLite and RPC costs are not in these figures.
//
//   node bench/build.mjs && node --expose-gc bench/.build/dag-accept.mjs [--quick]

import { performance } from "node:perf_hooks";
import { MatrixDag } from "../durable-objects/room/matrix-dag.js";
import { RoomCore } from "../durable-objects/room/core.js";
import type { EnginePorts, RoomStore } from "../durable-objects/room/ports.js";
import { Writer } from "../durable-objects/room/writer.js";
import type { DagEventRow, DagStore, StateGroupRow } from "../durable-objects/room-dag-storage.js";
import type { StoredEvent } from "../durable-objects/room-storage.js";
import { checkContentHashes, verifyEventSignatures } from "../shared/event-signatures.js";
import type { Pdu } from "../shared/event.js";
import { eventIdOf, roomIdFromCreateEvent } from "../shared/hashes.js";
import type { JsonObject } from "../shared/canonical-json.js";
import { authEventIdsFor } from "../durable-objects/room/dag-auth.js";
import { prevEventsFor } from "../durable-objects/room/dag-extremities.js";
import { buildLocalPdu } from "../shared/local-event.js";
import { RoomState } from "../shared/room-state.js";
import { ROOM_VERSION_12 } from "../shared/room-versions.js";
import { generateSeed, signingKeyFromSeed, type SigningKey } from "../shared/signing-key.js";
import { resolveState } from "../shared/state-resolution.js";

const QUICK = process.argv.includes("--quick");
const CFG = QUICK ? { warmup: 20, samples: 200 } : { warmup: 100, samples: 2000 };
const REMOTES = 10;
const HOME = "home.test";
const v = ROOM_VERSION_12;

type Row = { eventId: string; pos: number | null; type: string; stateKey?: string; sender: string; json: string };

/** The RoomStore subset the engine uses, on maps (no SQLite). */
class MemoryRoomStore implements RoomStore {
  readonly events = new Map<string, Row>();
  readonly current = new Map<string, string>();
  private last: { eventId: string; pos: number } | undefined;
  getMeta = (): string | undefined => undefined;
  setMeta = (): void => undefined;
  getEvent = (id: string): StoredEvent | undefined => {
    const e = this.events.get(id);
    return e && { eventId: e.eventId, pos: e.pos, json: e.json };
  };
  getEvents = (ids: readonly string[]): StoredEvent[] => ids.flatMap((id) => this.getEvent(id) ?? []);
  insertEvent = (e: Row): void => {
    this.events.set(e.eventId, { ...e });
    if (e.pos !== null) this.last = { eventId: e.eventId, pos: e.pos };
  };
  setEventPos = (id: string, pos: number): void => {
    const e = this.events.get(id);
    if (e) e.pos = pos;
  };
  setCurrentState = (type: string, key: string, id: string): void => void this.current.set(`${type}\u0000${key}`, id);
  deleteCurrentState = (type: string, key: string): void => void this.current.delete(`${type}\u0000${key}`);
  currentState = (): StoredEvent[] => [...this.current.values()].flatMap((id) => this.getEvent(id) ?? []);
  lastEvent = (): { eventId: string; pos: number } | undefined => this.last;
  putRedaction = (): void => undefined;
  redactionsOf = (): Map<string, { redactionId: string; json: string }> => new Map();
  getEventIdByLpduHash = (): string | undefined => undefined;
  getPendingClientTxn = (): undefined => undefined;
  putPendingClientTxn = (): void => undefined;
  deletePendingClientTxns = (): void => undefined;
  bufferPdu = (): void => undefined;
  takeBufferedPdus = (): string[] => [];
  putJoinState = (): void => undefined;
}

class MemoryDagStore implements DagStore {
  private readonly rows = new Map<string, DagEventRow>();
  private readonly groups: StateGroupRow[] = [];
  private readonly ex = new Set<string>();
  getDagEvent = (id: string): DagEventRow | undefined => this.rows.get(id);
  putDagEvent = (row: DagEventRow): void => void this.rows.set(row.eventId, row);
  extremities = (): string[] => [...this.ex];
  setExtremities = (remove: readonly string[], add: readonly string[]): void => {
    for (const id of remove) this.ex.delete(id);
    for (const id of add) this.ex.add(id);
  };
  stateGroup = (id: number): StateGroupRow | undefined => this.groups[id - 1];
  insertStateGroup = (row: StateGroupRow): number => this.groups.push(row);
}

interface Engine {
  core: RoomCore;
  dag: MatrixDag;
  w: Writer;
}

const ALICE = `@alice:${HOME}`;
const remoteUser = (i: number): string => `@u${i}:r${i}.test`;

/** A v12 room created by alice on HOME, with one joined user of each remote server. */
async function room(keys: ReadonlyMap<string, SigningKey>): Promise<Engine> {
  const homeKey = keys.get(HOME) as SigningKey;
  const ports: EnginePorts = {
    serverName: HOME,
    signingKey: async () => homeKey,
    transaction: (fn) => fn(),
    mls: { vetAsHub: async () => undefined, observeAsParticipant: async () => undefined },
    federation: {
      request: async () => ({ status: 500, body: null }),
      inviteAndVerify: async () => ({ ok: false, status: 500, error: "bench" }),
      backfillVerified: async () => ({ ok: false, error: "bench" }),
      fetchVerified: async () => ({ ok: false, error: "bench" }),
      enqueue: async () => undefined,
    },
  };
  const section = Writer.section();
  let w: Writer | undefined;
  await section.run(async (x) => void (w = x));
  const ts = Date.now();
  const createContent = { room_version: "12" };
  const create = await buildLocalPdu({ room_id: "", type: "m.room.create", state_key: "", sender: ALICE, origin_server_ts: ts, content: createContent }, { authEvents: [], prevEvents: [], depth: 1 }, HOME, homeKey, v);
  const roomId = await roomIdFromCreateEvent(create);
  const core = new RoomCore({ roomId, version: v, hub: HOME }, new RoomState(), new MemoryRoomStore(), section, (fn) => fn(), []);
  const dag = new MatrixDag(core, ports, new MemoryDagStore(), (stateSets, getEvent) => resolveState({ version: v, stateSets, getEvent }));
  const e: Engine = { core, dag, w: w as Writer };
  const local = async (type: string, content: JsonObject, stateKey?: string, at?: number) => {
    const verdict = await dag.appendLocal(e.w, ALICE, { type, content, ...(stateKey !== undefined ? { state_key: stateKey } : {}) }, at);
    if (verdict.outcome !== "accepted") throw new Error(`${type}: ${JSON.stringify(verdict)}`);
  };
  await local("m.room.create", createContent, "", ts);
  await local("m.room.member", { membership: "join" }, ALICE);
  await local("m.room.power_levels", { users: {} }, "");
  await local("m.room.join_rules", { join_rule: "public" }, "");
  for (let i = 0; i < REMOTES; i++) {
    const join = await remoteEvent(e, keys, remoteUser(i), "m.room.member", { membership: "join" }, remoteUser(i));
    await accept(e, join);
  }
  return e;
}

/** An event by a remote user, on every forward extremity, signed by its server. */
async function remoteEvent(e: Engine, keys: ReadonlyMap<string, SigningKey>, sender: string, type: string, content: JsonObject, stateKey?: string): Promise<Pdu> {
  const server = sender.slice(sender.indexOf(":") + 1);
  const prevs = prevEventsFor(e.dag.graph.extremitiesWithDepth());
  const state = e.dag.graph.currentIds();
  const fields = { room_id: e.core.roomId, type, sender, origin_server_ts: Date.now(), content, ...(stateKey !== undefined ? { state_key: stateKey } : {}) };
  const depth = Math.max(...prevs.map((p) => e.dag.graph.row(p)?.depth ?? 0)) + 1;
  return buildLocalPdu(fields, { authEvents: authEventIdsFor(v, state, fields), prevEvents: prevs, depth }, server, keys.get(server) as SigningKey, v);
}

async function accept(e: Engine, pdu: Pdu): Promise<void> {
  const [r] = await e.dag.receive(e.w, pdu.sender.slice(pdu.sender.indexOf(":") + 1), [{ id: "x", pdu }]);
  if (r?.verdict.outcome !== "accepted") throw new Error(`not accepted: ${JSON.stringify(r?.verdict)}`);
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const p99 = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.99)] as number;
const ms3 = (x: number): number => Math.round(x * 1000) / 1000;

async function main(): Promise<void> {
  const keys = new Map<string, SigningKey>([[HOME, await signingKeyFromSeed(generateSeed(), "b")]]);
  for (let i = 0; i < REMOTES; i++) keys.set(`r${i}.test`, await signingKeyFromSeed(generateSeed(), "b"));
  const lookup = async (server: string): Promise<Uint8Array | undefined> => keys.get(server)?.publicKey;
  const e = await room(keys);
  const base = await room(keys);
  const verify: number[] = [];
  const engineMs: number[] = [];
  const commitMs: number[] = [];
  for (let n = 0; n < CFG.warmup + CFG.samples; n++) {
    const sender = remoteUser(n % REMOTES);
    const pdu = await remoteEvent(e, keys, sender, "m.room.message", { msgtype: "m.text", body: `message ${n}` });
    const t0 = performance.now();
    const sig = await verifyEventSignatures(pdu, v, lookup);
    const hash = await checkContentHashes(pdu);
    const t1 = performance.now();
    if (!sig.ok || !hash.ok) throw new Error("the bench's own event does not verify");
    await accept(e, pdu);
    const t2 = performance.now();
    // Baseline: the same kind of event committed with no checks, no state groups, no extremities.
    const plain = await remoteEvent(base, keys, sender, "m.room.message", { msgtype: "m.text", body: `message ${n}` });
    const id = await eventIdOf(plain, v);
    const t3 = performance.now();
    base.core.commit(base.w, { eventId: id, pdu: plain, destinations: [] });
    const t4 = performance.now();
    if (n < CFG.warmup) continue;
    verify.push(t1 - t0);
    engineMs.push(t2 - t1);
    commitMs.push(t4 - t3);
  }
  const result = {
    remotes: REMOTES,
    samples: CFG.samples,
    verifyMs: { p50: ms3(median(verify)), p99: ms3(p99(verify)) },
    roomMs: { p50: ms3(median(engineMs)), p99: ms3(p99(engineMs)) },
    commitOnlyMs: { p50: ms3(median(commitMs)), p99: ms3(p99(commitMs)) },
  };
  console.log(`dag-accept (${QUICK ? "quick" : "full"}): ${JSON.stringify(result)}`);
}

await main();
