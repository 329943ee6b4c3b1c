// CPU accounting for the bench orchestrator, and the figures of one closed-loop run.

import { LoadGenClient } from "./ipc.js";
import { waitQuiet } from "./proc.js";
import { type BenchServer } from "./servers.js";
import { r0, summarize } from "./stats.js";
import type * as T from "./types.js";
import { type RunFiguresJson } from "./report.js";
import { log } from "./run-config.js";

export const mib = (kib: number) => r0(kib / 1024);

// ---------------------------------------------------------------------------------------------
// CPU accounting: workerd's own CPU time (utime + stime from /proc) from before a run until the
// hub is quiet again (fan-out included), divided by the events it accepted.
// ---------------------------------------------------------------------------------------------

export async function measured<R extends T.RunResult>(server: BenchServer, lg: LoadGenClient, run: () => Promise<R>): Promise<R & { cpuMs: number; wallMs: number; genCpuMs: number; peakCorePct: number }> {
  await waitQuiet(server.pid);
  const c0 = server.proc().cpuMs;
  const g0 = await lg.call<number>("selfCpu");
  const w0 = Date.now();
  let peak = 0;
  let last = { t: w0, c: c0 };
  const timer = setInterval(() => {
    const c = server.proc().cpuMs;
    const t = Date.now();
    if (t > last.t) peak = Math.max(peak, (100 * (c - last.c)) / (t - last.t));
    last = { t, c };
  }, 500);
  const r = await run();
  const g1 = await lg.call<number>("selfCpu");
  await waitQuiet(server.pid);
  clearInterval(timer);
  const c1 = server.proc().cpuMs;
  return { ...r, cpuMs: c1 - c0, wallMs: Date.now() - w0, genCpuMs: g1 - g0, peakCorePct: r0(peak) };
}

export function runFigures(r: T.RunResult & { cpuMs: number }): RunFiguresJson {
  const all = r.latencies.flat();
  const accepted = r.sentEvents - r.failed;
  return {
    eventsPerS: r0((r.eventsInWindow * 1000) / r.windowMs),
    txnsPerS: r0((r.txnsInWindow * 1000) / r.windowMs),
    latency: summarize(all),
    ...(r.handlerMs && r.handlerMs.length > 0 ? { handler: summarize(r.handlerMs) } : {}),
    windowMs: r0(r.windowMs),
    accepted,
    failed: r.failed,
    errors: r.errors,
    ...(r.firstError !== undefined ? { firstError: r.firstError } : {}),
    cpuMsPerEvent: accepted > 0 ? Math.round((r.cpuMs / accepted) * 1000) / 1000 : NaN,
    exhausted: r.exhausted,
    ...(r.pushedBack ? { pushedBack: r.pushedBack, pushedBackMs: r.pushedBackMs ?? 0 } : {}),
  };
}

export function check(r: RunFiguresJson, what: string): void {
  if (r.errors > 0 || r.failed > 0) log(`  !! ${what}: ${r.errors} errors, ${r.failed} failed PDUs: ${r.firstError ?? ""}`);
}
