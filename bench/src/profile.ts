// CPU profile of the hub under B1 load: `node bench/.build/profile.mjs [--senders=10] [--pdus=50] [--seconds=6]`.
// `--perf=1`: a native profile of the whole workerd process with Linux perf instead, in categories;
// `--baseline=1`: the same load on the bare-append baseline (for comparison), `--hops=n` with n calls
// to a do-nothing object before each append; `--floor=1`: the same transactions through the
// baseline worker's protocol floor (the draft's checks, completion and an append, nothing else).
// With `--b2=<events/s>`, a participant server under B2's load instead: a hub user sends at that rate
// and the participant's member long-polls /sync; the participant's isolate is profiled (`--profile=0`:
// only its CPU per event, from /proc).
// Starts the hub with Miniflare's inspector, connects to the Switchboard worker's isolate over the
// Chrome DevTools protocol, samples while the load generator runs one B1 cell, then prints the
// functions with the most self time and the heaviest call paths into Switchboard code. The raw
// profile goes to bench/.build/hub.cpuprofile (open it in Chrome DevTools).

import { fork } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { WebSocket } from "undici";
import { LoadGenClient } from "./ipc.js";
import { nativeCategories, recordNative, type NativeCategory } from "./native-profile.js";
import { BASELINE_HOST, freePort, NO_LIMITS, ROOT, startServer } from "./servers.js";
import type * as T from "./types.js";

interface CdpNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
  hitCount?: number;
}
interface CdpProfile {
  nodes: CdpNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const arg = (name: string, def: number) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? def);

class Cdp {
  private next = 1;
  private readonly pending = new Map<number, (v: unknown) => void>();
  constructor(private readonly ws: WebSocket) {
    ws.addEventListener("message", (ev) => {
      const m = JSON.parse(String(ev.data)) as { id?: number; result?: unknown; error?: unknown };
      if (m.id !== undefined) {
        this.pending.get(m.id)?.(m.error ? Promise.reject(new Error(JSON.stringify(m.error))) : m.result);
        this.pending.delete(m.id);
      }
    });
  }
  static async connect(url: string): Promise<Cdp> {
    const ws = new WebSocket(url, { headers: { origin: "http://localhost" } });
    await new Promise<void>((resolve, reject) => {
      ws.addEventListener("open", () => resolve());
      ws.addEventListener("error", () => reject(new Error(`cannot connect to ${url}`)));
    });
    return new Cdp(ws);
  }
  send<R>(method: string, params: object = {}): Promise<R> {
    const id = this.next++;
    this.ws.send(JSON.stringify({ id, method, params }));
    return new Promise<R>((resolve) => this.pending.set(id, resolve as (v: unknown) => void));
  }
  close(): void {
    this.ws.close();
  }
}

function report(p: CdpProfile): void {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // Each sample counts as the median interval, not as its time delta: when the sampler stalls (the
  // thread outside JavaScript, e.g. in a commit's fsync) the next sample carries the whole gap, and
  // whatever function it lands in would look expensive (one run put 1.2 s on a 10-line loop).
  const sortedDeltas = [...p.timeDeltas].sort((a, b) => a - b);
  const tick = sortedDeltas[Math.floor(sortedDeltas.length / 2)] ?? 0;
  const gapUs = p.timeDeltas.reduce((a, d) => a + Math.max(0, d - 4 * tick), 0);
  const weights = p.timeDeltas.map(() => tick);
  const selfUs = new Map<number, number>();
  p.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (weights[i] ?? 0)));
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
  const label = (n: CdpNode) => {
    const f = n.callFrame;
    const file = f.url.split("/").pop() ?? "";
    return `${f.functionName || "(anonymous)"} ${file}:${f.lineNumber + 1}`;
  };
  // Self time by function.
  const self = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const n = byId.get(id) as CdpNode;
    self.set(label(n), (self.get(label(n)) ?? 0) + us);
  }
  // Inclusive time by function (counted once per sample even under recursion).
  const incl = new Map<string, number>();
  p.samples.forEach((id, i) => {
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const l = label(byId.get(cur) as CdpNode);
      if (seen.has(l)) continue;
      seen.add(l);
      incl.set(l, (incl.get(l) ?? 0) + (weights[i] ?? 0));
    }
  });
  const idle = [...self].filter(([l]) => l.startsWith("(idle)")).reduce((a, [, v]) => a + v, 0);
  const busy = total - idle;
  const pct = (us: number) => `${((100 * us) / busy).toFixed(1).padStart(5)}%`;
  const span = p.timeDeltas.reduce((a, b) => a + b, 0);
  console.log(
    `\nprofile: ${p.samples.length} samples every ≈ ${tick} µs over ${(span / 1e6).toFixed(2)} s; ${(gapUs / 1e6).toFixed(2)} s of it in gaps > ${4 * tick} µs between samples ` +
      `(thread outside JavaScript, not attributed); of the samples, busy ${(busy / 1e6).toFixed(2)} s (percentages of busy samples)\n`,
  );
  console.log("top self time:");
  for (const [l, us] of [...self].filter(([l]) => !l.startsWith("(idle)")).sort((a, b) => b[1] - a[1]).slice(0, 35)) console.log(`  ${pct(us)}  ${l}`);
  // Where the time of native calls (SQL exec, crypto) comes from: self time by calling function.
  for (const native of ["exec :0", "sign :0", "verify :0", "digest :0"]) {
    const callers = new Map<string, number>();
    for (const [id, us] of selfUs) {
      const n = byId.get(id) as CdpNode;
      if (label(n) !== native) continue;
      const par = parent.get(id);
      let caller = par === undefined ? "?" : label(byId.get(par) as CdpNode);
      // Skip thin wrappers to the storage function that issued the statement.
      for (let cur = par; cur !== undefined && /^(\(anonymous\)|toArray|one|raw) /.test(caller); cur = parent.get(cur)) caller = label(byId.get(cur) as CdpNode);
      callers.set(caller, (callers.get(caller) ?? 0) + us);
    }
    if (callers.size === 0) continue;
    console.log(`\n${native} by caller:`);
    for (const [l, us] of [...callers].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`  ${pct(us)}  ${l}`);
  }
  // --focus=<function name>: the heaviest whole stacks through that function.
  const focus = process.argv.find((a) => a.startsWith("--focus="))?.slice(8);
  if (focus) {
    const stacks = new Map<string, number>();
    p.samples.forEach((id, i) => {
      const frames: string[] = [];
      for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) frames.push(label(byId.get(cur) as CdpNode));
      if (!frames.some((f) => f.startsWith(`${focus} `))) return;
      const key = frames.slice(0, 12).join(" < ");
      stacks.set(key, (stacks.get(key) ?? 0) + (weights[i] ?? 0));
    });
    console.log(`\nstacks through ${focus}:`);
    for (const [k, us] of [...stacks].sort((a, b) => b[1] - a[1]).slice(0, 12)) console.log(`  ${pct(us)}  ${k}`);
  }
  console.log("\ntop inclusive time:");
  for (const [l, us] of [...incl].filter(([l]) => !l.startsWith("(idle)") && !l.startsWith("(root)")).sort((a, b) => b[1] - a[1]).slice(0, 60)) console.log(`  ${pct(us)}  ${l}`);
}

async function profileIsolate(inspectorPort: number, work: () => Promise<void>): Promise<CdpProfile> {
  const cdp = await Cdp.connect(`ws://127.0.0.1:${inspectorPort}/core:user:switchboard`);
  await cdp.send("Profiler.enable");
  await cdp.send("Profiler.setSamplingInterval", { interval: 200 });
  await cdp.send("Profiler.start");
  await work();
  const { profile } = await cdp.send<{ profile: CdpProfile }>("Profiler.stop");
  cdp.close();
  return profile;
}

/** Runs `work` while perf records `pid` (from 1.5 s in, past the warm-up, for `seconds` − 2 s). */
async function recordDuring(pid: number, seconds: number, work: () => Promise<void>): Promise<NativeCategory[]> {
  const data = join(ROOT, "bench", ".build", "workerd.perf.data");
  const recorded = (async () => {
    await new Promise((res) => setTimeout(res, 1500));
    await recordNative(pid, Math.max(2, seconds - 2), data);
  })();
  await Promise.all([work(), recorded]);
  return (await nativeCategories(data)).categories;
}

function printNative(categories: NativeCategory[], msPerEvent: number): void {
  console.log(`\nnative profile of workerd (perf, all threads): share of samples, and that share of ${msPerEvent.toFixed(3)} ms CPU per event`);
  for (const c of categories) console.log(`  ${(100 * c.share).toFixed(1).padStart(5)}%  ${(c.share * msPerEvent).toFixed(3)} ms  ${c.name}`);
}

/** --b2=<rate>: one hub and one participant (profiled); a hub user sends, the participant's member syncs. */
async function mainB2(rate: number): Promise<void> {
  const seconds = arg("seconds", 6);
  const child = fork(join(ROOT, "bench", ".build", "loadgen.mjs"), [], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const lg = new LoadGenClient(child, (l) => console.log(l));
  await lg.call("init", { names: [] });
  const [hubPort, partPort, inspectorPort] = [await freePort(), await freePort(), await freePort()];
  const hostMap = { "hub.bench.test": `http://127.0.0.1:${hubPort}`, "p1.bench.test": `http://127.0.0.1:${partPort}` };
  const hub = await startServer({ name: "hub.bench.test", port: hubPort, hostMap, bindings: { RATE_LIMITS: NO_LIMITS } });
  const part = await startServer({ name: "p1.bench.test", port: partPort, hostMap, inspectorPort, bindings: { RATE_LIMITS: NO_LIMITS } });
  try {
    await lg.call("setHub", { name: "hub.bench.test", url: hub.url });
    const owner = await lg.call<T.Account>("register", { url: hub.url, username: "bench" });
    const [roomId] = await lg.call<string[]>("createRooms", { account: owner, count: 1, concurrency: 1 });
    const reader = await lg.call<T.Account>("register", { url: part.url, username: "reader" });
    await lg.call("clientJoin", { account: reader, roomId, via: "hub.bench.test" });
    let r: T.B2Result | undefined;
    const cpu0 = part.proc().cpuMs;
    const hubCpu0 = hub.proc().cpuMs;
    const run = async () => {
      r = await lg.call<T.B2Result>("b2Run", { roomId, sender: owner, participants: [reader], rate, durationMs: seconds * 1000 });
    };
    // --profile=0: CPU per event only, without the sampler's own cost (for before/after comparisons).
    const native = arg("perf", 0) === 1;
    const profile = arg("profile", 1) === 0 || native ? undefined : await profileIsolate(inspectorPort, run);
    const categories = native ? await recordDuring(part.pid, seconds, run) : undefined;
    if (!native && !profile) await run();
    const got = r as T.B2Result;
    const perEvent = (ms: number) => (ms / got.offered).toFixed(3);
    console.log(`${got.offered} events at ${rate}/s; participant CPU ${perEvent(part.proc().cpuMs - cpu0)} ms per event, hub ${perEvent(hub.proc().cpuMs - hubCpu0)} ms (/proc, whole run)`);
    if (profile) {
      writeFileSync(join(ROOT, "bench", ".build", "participant.cpuprofile"), JSON.stringify(profile));
      report(profile);
    }
    if (categories) printNative(categories, (part.proc().cpuMs - cpu0) / got.offered);
  } finally {
    await part.dispose();
    await hub.dispose();
    child.disconnect();
  }
}

async function main(): Promise<void> {
  const b2 = arg("b2", 0);
  if (b2 > 0) return mainB2(b2);
  const senders = arg("senders", 10);
  const pdus = arg("pdus", 50);
  const seconds = arg("seconds", 6);
  const child = fork(join(ROOT, "bench", ".build", "loadgen.mjs"), [], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const lg = new LoadGenClient(child, (l) => console.log(l));
  const fakes = Array.from({ length: senders }, (_, i) => `s${i}.fake.test`);
  const { hostMap } = await lg.call<{ hostMap: Record<string, string> }>("init", { names: fakes });
  const port = await freePort();
  const inspectorPort = await freePort();
  hostMap["hub.bench.test"] = `http://127.0.0.1:${port}`;
  const hub = await startServer({ name: "hub.bench.test", port, hostMap, inspectorPort, withBaseline: arg("baseline", 0) === 1 || arg("floor", 0) === 1, bindings: { RATE_LIMITS: NO_LIMITS } });
  try {
    await lg.call("setHub", { name: "hub.bench.test", url: hub.url });
    const owner = await lg.call<T.Account>("register", { url: hub.url, username: "bench" });
    const [roomId] = await lg.call<string[]>("createRooms", { account: owner, count: 1, concurrency: 1 });
    await lg.call("joinFakes", { roomId, fakes });
    const txnsPerSender = Math.ceil((9000 * (seconds + 1)) / senders / pdus);
    await lg.call("prepare", { key: "p", senders: fakes.map((fake) => ({ fake, roomId })), pdusPerTxn: pdus, txnsPerSender });
    const list = (await (await fetch(`http://127.0.0.1:${inspectorPort}/json`)).json()) as Array<{ id: string; webSocketDebuggerUrl?: string }>;
    console.log(`inspector targets: ${list.map((t) => t.id).join(", ")}`);
    const cpu0 = hub.proc().cpuMs;
    const wall0 = Date.now();
    const clients = arg("clients", 0);
    let r: T.RunResult | undefined;
    // `--profile=0`: no CDP sampling (it slows the isolate), e.g. to attach `perf record -p <pid>`.
    console.log(`hub workerd pid ${hub.pid}`);
    const run = async () => {
      r = await load();
      await new Promise((res) => setTimeout(res, 1500)); // let the fan-out drain into the profile
    };
    // `--perf=1`: a native profile of the whole workerd process instead (bench/src/native-profile.ts).
    const native = arg("perf", 0) === 1;
    const profile = arg("profile", 1) === 0 || native ? undefined : await profileIsolate(inspectorPort, run);
    const categories = native ? await recordDuring(hub.pid, seconds, run) : undefined;
    if (!native && !profile) await run();
    const got = r as T.RunResult;
    const cpuMs = hub.proc().cpuMs - cpu0;
    console.log(`workerd CPU (all threads, /proc) during the profile: ${(cpuMs / 1000).toFixed(2)} s over ${((Date.now() - wall0) / 1000).toFixed(2)} s wall; ${(cpuMs / got.sentEvents).toFixed(3)} ms per event sent`);
    console.log(`load: ${senders} senders × ${pdus} PDU/txn, ${Math.round((got.eventsInWindow * 1000) / got.windowMs)} events/s, ${got.failed} failed, ${got.errors} errors ${got.firstError ?? ""}`);
    if (profile) {
      writeFileSync(join(ROOT, "bench", ".build", "hub.cpuprofile"), JSON.stringify(profile));
      report(profile);
    }
    if (categories) printNative(categories, cpuMs / got.sentEvents);

    async function load(): Promise<T.RunResult> {
      // `--baseline=1`: the bare-append object under the same concurrency, for a native profile to compare.
      // `--hops=n`: n calls to a do-nothing object before each append, to price a hop.
      if (arg("baseline", 0) === 1) return lg.call<T.RunResult>("baseline", { host: BASELINE_HOST, log: "profile", concurrency: senders, rowsPerReq: pdus, warmupMs: 500, durationMs: seconds * 1000, rowFrom: fakes[0], hops: arg("hops", 0) });
      if (arg("floor", 0) === 1) {
        await lg.call("floorKeys", { host: BASELINE_HOST, fakes });
        return lg.call<T.RunResult>("runClosed", { key: "p", warmupMs: 500, durationMs: seconds * 1000, host: BASELINE_HOST });
      }
      if (clients <= 0) return lg.call<T.RunResult>("runClosed", { key: "p", warmupMs: 500, durationMs: seconds * 1000 });
      // The client path instead: a hub user sending in a closed loop to the same room.
      const c = await lg.call<{ ms: number; latencies: number[] }>("clientClosed", { account: owner, roomId, concurrency: clients, count: arg("count", 1000) });
      const sorted = [...c.latencies].sort((a, b) => a - b);
      console.log(`client sends: ${c.latencies.length} in ${Math.round(c.ms)} ms (${Math.round((c.latencies.length * 1000) / c.ms)}/s), p50 ${sorted[Math.floor(sorted.length / 2)]?.toFixed(2)} ms`);
      return { windowMs: c.ms, eventsInWindow: c.latencies.length, txnsInWindow: c.latencies.length, sentEvents: c.latencies.length, failed: 0, errors: 0, exhausted: false, latencies: [], rooms: [] };
    }
  } finally {
    await hub.dispose();
    child.disconnect();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
