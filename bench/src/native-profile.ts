// A native profile of one workerd process with Linux `perf`, summed into categories of work. The
// CDP profile (profile.ts) sees only the Switchboard isolate's JavaScript, roughly half of the
// process's CPU; this one sees all of it: V8, the HTTP and RPC layers, SQLite, crypto, the kernel.
// workerd ships with symbols, so no setup beyond `perf` itself is needed. JIT-compiled JavaScript
// has no symbols and counts as "JavaScript".

import { execFile, spawn } from "node:child_process";

export interface NativeCategory {
  name: string;
  share: number;
}

/** Records `pid` for `seconds` (call graphs, 1,999 Hz) into `out`. Rejects when perf is missing or refused. */
export function recordNative(pid: number, seconds: number, out: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn("perf", ["record", "-F", "1999", "-g", "-p", String(pid), "-o", out, "--", "sleep", String(seconds)], { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    p.stderr.on("data", (d: Buffer) => (err += d.toString()));
    p.on("error", reject);
    p.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`perf record exited ${code}: ${err.trim().split("\n").pop() ?? ""}`))));
  });
}

type Rule = readonly [name: string, test: (frame: string) => boolean];

// Work that sits inside something else: the first rule any frame of a stack matches wins, so a
// commit's fsync counts as "commit", not as the JavaScript that issued it.
const INNER: readonly Rule[] = [
  ["SQLite commit (fsync)", (f) => f.includes("fsync") || f.includes("xSync")],
  ["SQLite commit (other)", (f) => f.includes("vdbeCommit") || f.includes("PagerCommit")],
  ["SQLite statements", (f) => f.includes("sqlite3") || f.includes("SqliteDatabase")],
  ["Ed25519 verify", (f) => f.includes("SubtleCrypto::verify")],
  ["Ed25519 sign", (f) => f.includes("SubtleCrypto::sign")],
  ["SHA-256 digest", (f) => f.includes("SubtleCrypto::digest")],
  // BoringSSL's assembly keeps no frame pointers, so some samples inside it lose their callers.
  ["Ed25519 (caller lost)", (f) => /^(sha512_block|fe_|ge_|x25519_|fiat_curve25519|ED25519_)/.test(f)],
  ["garbage collection", (f) => /v8::internal::(Heap|Scavenger|MarkCompact|ConcurrentMarking|MinorMark|IncrementalMarking)|cppgc|CppHeap/.test(f)],
  ["JSON parse/stringify", (f) => f.includes("JsonParser") || f.includes("JsonStringifier")],
  ["RPC argument serialization", (f) => f.includes("ValueSerializer") || f.includes("ValueDeserializer")],
];

// Otherwise the nearest frame from the leaf that says what kind of code was running.
const OUTER: readonly Rule[] = [
  ["JavaScript (JIT and builtins)", (f) => f.includes("Builtins_") || /^[0-9a-f]+$/.test(f) || f === "[unknown]"],
  ["HTTP (kj)", (f) => f.includes("kj::") && f.includes("Http")],
  ["RPC (capnp, JS RPC)", (f) => f.includes("capnp::") || f.includes("JsRpc")],
  ["V8 runtime", (f) => f.startsWith("v8::")],
  ["malloc", (f) => f.toLowerCase().includes("tcmalloc")],
];

function classify(frames: readonly string[]): string {
  for (const [name, test] of INNER) if (frames.some(test)) return name;
  for (const f of frames) for (const [name, test] of OUTER) if (test(f)) return name;
  const leaf = frames[0] ?? "";
  if (leaf.startsWith("workerd::") || leaf.startsWith("kj::")) return "workerd/kj event loop, other";
  return "other (libc, kernel)";
}

/** `perf script` of `data`, each sample's frames (leaf first) classified; shares sum to 1. */
export async function nativeCategories(data: string): Promise<{ samples: number; categories: NativeCategory[] }> {
  const text = await new Promise<string>((resolve, reject) =>
    execFile("perf", ["script", "-i", data, "-F", "comm,tid,ip,sym"], { maxBuffer: 1 << 30 }, (e, out) => (e ? reject(e) : resolve(out))),
  );
  const counts = new Map<string, number>();
  let samples = 0;
  let frames: string[] = [];
  const flush = () => {
    if (frames.length === 0) return;
    const name = classify(frames);
    counts.set(name, (counts.get(name) ?? 0) + 1);
    samples++;
    frames = [];
  };
  for (const line of text.split("\n")) {
    if (line.trim() === "") flush();
    else if (/^\s/.test(line)) {
      // "\t    addr symbol": the symbol, or the bare address when there is none.
      const [addr, ...sym] = line.trim().split(/\s+/);
      frames.push(sym.length > 0 ? sym.join(" ") : (addr ?? ""));
    }
  }
  flush();
  const categories = [...counts].map(([name, n]) => ({ name, share: n / Math.max(1, samples) })).sort((a, b) => b.share - a.share);
  return { samples, categories };
}
