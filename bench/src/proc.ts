// What /proc says about a process: CPU time (user + system) and resident memory. Linux only.

import { readdirSync, readFileSync } from "node:fs";

export interface ProcStat {
  pid: number;
  comm: string;
  /** user + system CPU time, milliseconds. */
  cpuMs: number;
  /** Resident set size (VmRSS), kibibytes. */
  rssKiB: number;
  threads: number;
  /** Field 3 of /proc/<pid>/stat: R, S, D, Z (exited, not yet reaped), … */
  state: string;
}

const TICK_MS = 1000 / 100; // USER_HZ is 100 on Linux

export function readProc(pid: number): ProcStat | undefined {
  let stat: string;
  let status: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    status = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return undefined;
  }
  // comm may contain spaces and parentheses: fields after it start past the last ")".
  const close = stat.lastIndexOf(")");
  const comm = stat.slice(stat.indexOf("(") + 1, close);
  const fields = stat.slice(close + 2).split(" ");
  // fields[0] is field 3 (state); utime is field 14, stime field 15.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  const rss = /VmRSS:\s+(\d+) kB/.exec(status);
  const threads = /Threads:\s+(\d+)/.exec(status);
  return { pid, comm, state: fields[0] ?? "", cpuMs: (utime + stime) * TICK_MS, rssKiB: rss ? Number(rss[1]) : 0, threads: threads ? Number(threads[1]) : 0 };
}

/** Direct children of `pid`. */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[1]) === pid) out.push(Number(d));
    } catch {
      /* gone */
    }
  }
  return out;
}

/** CPU time of this Node process itself, milliseconds. */
export function selfCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** Waits until `pid` has used less than `idlePct` % of a core over two consecutive `stepMs` periods. */
export async function waitQuiet(pid: number, opts: { stepMs?: number; idlePct?: number; maxMs?: number } = {}): Promise<number> {
  const step = opts.stepMs ?? 250;
  const idle = ((opts.idlePct ?? 4) / 100) * step;
  const deadline = Date.now() + (opts.maxMs ?? 60_000);
  let quiet = 0;
  let last = readProc(pid)?.cpuMs ?? 0;
  const t0 = Date.now();
  while (Date.now() < deadline && quiet < 2) {
    await new Promise((r) => setTimeout(r, step));
    const now = readProc(pid)?.cpuMs ?? 0;
    quiet = now - last <= idle ? quiet + 1 : 0;
    last = now;
  }
  return Date.now() - t0;
}
