// Switchboard servers for the benchmark: one Miniflare (one workerd process) per server name, on a
// loopback port, loading the bundle wrangler builds for deployment. The hub's Miniflare also loads the
// bare-append baseline worker, so the baseline runs in the same workerd as the hub.

import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Miniflare } from "miniflare";
import { unstable_splitSqlQuery } from "wrangler";
import { workerOptionsWithoutLocalSecrets } from "../../test/support/worker-options.js";
import { childPids, readProc, type ProcStat } from "./proc.js";

export const ROOT = join(import.meta.dirname, "..", "..");
const BUILD = join(ROOT, "bench", ".build");
/** Requests with this Host reach the baseline worker through the same Miniflare entry as the hub's. */
export const BASELINE_HOST = "baseline.bench.invalid";
export const ADMIN_TOKEN = "bench-admin-token";
/** The benchmark measures throughput, not the rate limiter: every limit is set far above the offered load. */
export const NO_LIMITS = JSON.stringify({
  token: { capacity: 1e9, refillPerSecond: 1e9 },
  user: { capacity: 1e9, refillPerSecond: 1e9 },
  serverPdus: { capacity: 1e9, refillPerSecond: 1e9 },
  serverRequests: { capacity: 1e9, refillPerSecond: 1e9 },
});

export interface BenchServer {
  readonly name: string;
  readonly port: number;
  readonly url: string;
  /** The workerd process serving this server. */
  readonly pid: number;
  proc(): ProcStat;
  dispose(): Promise<void>;
}

// Ports are picked before the servers start (their host maps name each other): outside the kernel's
// ephemeral range, where a probed port cannot be taken by an outbound connection before Miniflare
// binds it. The test suite's allocator knows how to find that range on each OS.
export { freePort } from "../../test/support/ports.js";

function migrationStatements(): string[] {
  const dir = join(ROOT, "migrations");
  return readdirSync(dir)
    .filter((f) => f.endsWith(".sql"))
    .sort()
    .flatMap((f) => unstable_splitSqlQuery(readFileSync(join(dir, f), "utf8")));
}

export interface StartOptions {
  name: string;
  port: number;
  hostMap: Record<string, string>;
  /** Load the baseline worker into this server's workerd. */
  withBaseline?: boolean;
  /** Open a V8 inspector (CPU profiles of the workers) on this port. */
  inspectorPort?: number;
  /** Extra bindings for Switchboard (e.g. RATE_LIMITS). */
  bindings?: Record<string, string>;
}

/**
 * Servers not yet disposed: workerd process and state directory. Should the process end without
 * disposing them (a dispose() that never settles lets Node exit with it pending; a workerd with the
 * inspector attached then outlives us), the exit handler ends them and removes their state.
 */
const undisposed = new Map<number, string>();
process.on("exit", () => {
  for (const [pid, dir] of undisposed) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      /* already gone */
    }
    if (!process.env["BENCH_KEEP_STATE"]) rmSync(dir, { recursive: true, force: true });
  }
});

export async function startServer(opts: StartOptions): Promise<BenchServer> {
  const base = workerOptionsWithoutLocalSecrets(join(ROOT, "wrangler.toml"));
  const dir = mkdtempSync(join(tmpdir(), `sb-bench-${opts.name.replace(/[^a-z0-9]/gi, "_")}-`));
  const seed = randomBytes(32).toString("base64").replace(/=+$/, "");
  // BENCH_BUNDLE=<dir> runs another build of Switchboard (before/after comparisons of a fix).
  const bundle = process.env["BENCH_BUNDLE"] ?? join(BUILD, "switchboard");
  const before = new Set(childPids(process.pid));
  const switchboard = {
    name: "switchboard",
    modulesRoot: bundle,
    modules: [{ type: "ESModule" as const, path: join(bundle, "index.js") }],
    compatibilityDate: base.compatibilityDate,
    compatibilityFlags: base.compatibilityFlags,
    durableObjects: base.durableObjects,
    serviceBindings: base.serviceBindings,
    d1Databases: { DB: "db" },
    r2Buckets: { MEDIA: "media" },
    bindings: {
      SERVER_NAME: opts.name,
      SIGNING_KEY: `ed25519:b_${randomBytes(3).toString("hex")}:${seed}`,
      FEDERATION_HOST_MAP: JSON.stringify(opts.hostMap),
      FEDERATION_RETRY_BASE_MS: "200",
      FEDERATION_RETRY_MAX_MS: "2000",
      ADMIN_TOKEN,
      ...opts.bindings,
    },
  };
  const workers = [switchboard as never];
  if (opts.withBaseline) {
    const b = join(BUILD, "baseline");
    workers.push({
      name: "baseline",
      modulesRoot: b,
      modules: [{ type: "ESModule", path: join(b, "index.js") }],
      compatibilityDate: base.compatibilityDate,
      compatibilityFlags: base.compatibilityFlags,
      durableObjects: { BASE: { className: "BareAppend", useSQLite: true } },
      routes: [`${BASELINE_HOST}/*`],
    } as never);
  }
  const mf = new Miniflare({
    workers,
    d1Persist: join(dir, "d1"),
    durableObjectsPersist: join(dir, "do"),
    r2Persist: join(dir, "r2"),
    host: "127.0.0.1",
    port: opts.port,
    cf: false,
    ...(opts.inspectorPort !== undefined ? { inspectorPort: opts.inspectorPort } : {}),
  });
  await mf.ready;
  const db = await mf.getD1Database("DB", "switchboard");
  for (const sql of migrationStatements()) await db.prepare(sql).run();
  const fresh = childPids(process.pid).filter((p) => !before.has(p) && readProc(p)?.comm === "workerd");
  if (fresh.length !== 1) throw new Error(`expected one new workerd process for ${opts.name}, found ${fresh.length}`);
  const pid = fresh[0] as number;
  undisposed.set(pid, dir);
  return {
    name: opts.name,
    port: opts.port,
    url: `http://127.0.0.1:${opts.port}`,
    pid,
    proc() {
      const p = readProc(pid);
      if (!p) throw new Error(`workerd ${pid} of ${opts.name} is gone`);
      return p;
    },
    async dispose() {
      await mf.dispose();
      // With the inspector attached, workerd has been seen to outlive dispose(); end it ourselves.
      const alive = () => (readProc(pid)?.state ?? "Z") !== "Z";
      for (let i = 0; i < 20 && alive(); i++) await new Promise((r) => setTimeout(r, 100));
      if (alive()) process.kill(pid, "SIGKILL");
      undisposed.delete(pid);
      // BENCH_KEEP_STATE=1 keeps the servers' SQLite files for inspection.
      if (process.env["BENCH_KEEP_STATE"]) console.log(`state of ${opts.name} kept in ${dir}`);
      else rmSync(dir, { recursive: true, force: true });
    },
  };
}
