// The load generator: a Node process of its own, separate from every server under test. It plays the
// remote participant servers (each with its own Ed25519 key, its key document served on its own
// loopback port, its own connection to the hub, one transaction in flight at a time), acts as the
// clients of the real Switchboard servers, and times everything from outside workerd.
//
// The orchestrator (run.ts) drives it over Node IPC; see the methods in `handlers`.
//
// This file is the IPC dispatcher; the workloads live in loadgen-*.ts.

import type { AnswerMessage, CallMessage } from "./ipc.js";
import { httpRequest } from "./http.js";
import { selfTest } from "./proto.js";
import type * as T from "./types.js";
import { fake, fakes, joinViaHandshake, requireHub, setHub, setRecording, startFake } from "./loadgen-fakes.js";
import { baseline, baselineRows, deliveryReport, prepare, runClosed } from "./loadgen-closed-loop.js";
import { b2Run, clientClosed, clientJoin, createRooms, register } from "./loadgen-clients.js";
import { seedMembers } from "./loadgen-seeding.js";
import { b5, verifyKeys } from "./loadgen-inbound-checks.js";

// ---------------------------------------------------------------------------------------------

const handlers: Record<string, (params: never) => Promise<unknown> | unknown> = {
  async init(p: { names: string[] }) {
    await selfTest();
    const hostMap: Record<string, string> = {};
    for (const name of p.names) hostMap[name] = `http://127.0.0.1:${(await startFake(name)).port}`;
    return { hostMap };
  },
  setHub(p: { name: string; url: string }) {
    setHub(p.name, p.url);
    return {};
  },
  register,
  createRooms,
  clientJoin,
  async joinFakes(p: { roomId: string; fakes: string[]; concurrency?: number }) {
    const timings: T.JoinTiming[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: p.concurrency ?? 4 }, async () => {
        while (next < p.fakes.length) {
          const f = fake(p.fakes[next++] as string);
          timings.push(await joinViaHandshake(f, p.roomId, `@bench:${f.id.name}`));
        }
      }),
    );
    return timings;
  },
  async measureJoin(p: { roomId: string; fake: string; user: string }) {
    return joinViaHandshake(fake(p.fake), p.roomId, p.user);
  },
  prepare,
  runClosed,
  baseline,
  baselineRows,
  b2Run,
  clientClosed,
  seedMembers,
  b5,
  /** Gives the baseline worker's protocol floor the simulated servers' keys and the hub's name. */
  async floorKeys(p: { host: string; fakes: string[] }) {
    const h = requireHub();
    const keys = verifyKeys(p.fakes.map(fake));
    const res = await httpRequest(h.http, "POST", "/floor-keys", { headers: { host: p.host }, body: JSON.stringify({ keys, hub: h.name }) });
    if (res.status !== 200) throw new Error(`floor-keys: HTTP ${res.status} ${res.body.toString().slice(0, 300)}`);
    return {};
  },
  /** Starts noting fan-out arrivals at every simulated server (for deliveryReport after the next runClosed). */
  deliveryStart() {
    for (const f of fakes.values()) f.arrivals = [];
    setRecording(true);
    return {};
  },
  deliveryReport,
  fanoutStats() {
    let received = 0;
    let transactions = 0;
    for (const f of fakes.values()) (received += f.received), (transactions += f.transactions);
    return { received, transactions };
  },
  selfCpu() {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  },
};

process.on("message", (m: CallMessage) => {
  const h = handlers[m.method];
  const reply = (a: AnswerMessage) => process.send?.(a);
  if (!h) return reply({ id: m.id, error: `unknown method ${m.method}` });
  Promise.resolve()
    .then(() => h(m.params as never))
    .then(
      (result) => reply({ id: m.id, result: result ?? {} }),
      (e: unknown) => reply({ id: m.id, error: e instanceof Error ? (e.stack ?? e.message) : String(e) }),
    );
});
process.on("disconnect", () => process.exit(0));
