// Enforces the layering rules (docs/architecture.md, "Layers") on the source tree: shared/ stays portable (no Cloudflare, no Node
// built-ins, nothing from workers/ or durable-objects/), durable-objects/ never reach into workers/, and
// there are no import cycles. Import specifiers are read with TypeScript's own pre-processor, so
// multi-line imports, `export ... from`, `import type` and dynamic `import()` all count, while comments
// and strings that merely look like imports do not.

import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { builtinModules } from "node:module";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const LAYERS = ["shared", "durable-objects", "workers"] as const;
type Layer = (typeof LAYERS)[number];

/** Repository-relative path with forward slashes, e.g. "shared/ids.ts". */
type RelPath = string;

/** Every import/export-from/dynamic-import specifier in a source text. */
function importSpecifiers(source: string): string[] {
  return ts.preProcessFile(source, true, true).importedFiles.map((f) => f.fileName);
}

/**
 * Resolves a relative specifier against the importing file, mapping the ".js" that ESM source uses to the
 * ".ts" file on disk. Returns undefined for bare specifiers (packages, cloudflare:*, node:*).
 */
function resolveRelative(from: RelPath, specifier: string, exists: (p: RelPath) => boolean): RelPath | undefined {
  if (!specifier.startsWith("./") && !specifier.startsWith("../")) return undefined;
  const base = join(dirname(from), specifier).split(sep).join("/");
  const candidates = base.endsWith(".js")
    ? [base.slice(0, -3) + ".ts", base]
    : base.endsWith(".ts")
      ? [base]
      : [base + ".ts", base + "/index.ts"];
  return candidates.find(exists) ?? candidates[0];
}

function layerOf(path: RelPath): Layer | undefined {
  return LAYERS.find((l) => path.startsWith(`${l}/`));
}

const NODE_BUILTINS = new Set(builtinModules);

function isNodeBuiltin(specifier: string): boolean {
  return specifier.startsWith("node:") || NODE_BUILTINS.has(specifier) || NODE_BUILTINS.has(specifier.split("/")[0] ?? "");
}

interface SourceTree {
  /** path -> source text */
  files: Map<RelPath, string>;
}

interface ImportEdge {
  from: RelPath;
  specifier: string;
  /** The repository file a relative specifier points at. */
  target?: RelPath;
}

function importEdges(tree: SourceTree): ImportEdge[] {
  const edges: ImportEdge[] = [];
  const exists = (p: RelPath): boolean => tree.files.has(p);
  for (const [from, text] of tree.files) {
    for (const specifier of importSpecifiers(text)) {
      const target = resolveRelative(from, specifier, exists);
      edges.push(target === undefined ? { from, specifier } : { from, specifier, target });
    }
  }
  return edges;
}

/** Human-readable descriptions of every layering-rule violation in the tree. */
function layeringViolations(tree: SourceTree): string[] {
  const out: string[] = [];
  for (const { from, specifier, target } of importEdges(tree)) {
    const layer = layerOf(from);
    const targetLayer = target === undefined ? undefined : layerOf(target);
    if (layer === "shared") {
      if (specifier.startsWith("cloudflare:")) out.push(`${from} imports Cloudflare module ${specifier}`);
      if (isNodeBuiltin(specifier)) out.push(`${from} imports Node built-in ${specifier}`);
      if (targetLayer === "workers" || targetLayer === "durable-objects") {
        out.push(`${from} imports ${target} (shared/ must not depend on ${targetLayer}/)`);
      }
    }
    if (layer === "durable-objects" && targetLayer === "workers") {
      out.push(`${from} imports ${target} (durable-objects/ must not depend on workers/)`);
    }
  }
  return out;
}

const ROOM_DIR = "durable-objects/room/";
/** The Room facade: `Room` (room.ts) and the classes it extends, one per group of RPCs. */
const ROOM_FACADE = ["durable-objects/room.ts", "durable-objects/room-facade-base.ts", "durable-objects/room-facade-reads.ts", "durable-objects/room-facade-writes.ts"];
const ROOM_CORE = `${ROOM_DIR}core.ts`;
const PROTOCOL_SEAM = `${ROOM_DIR}protocol.ts`;

/** Files of the room engine that implement the protocol seam (LmHub, LmParticipant, ...). */
function protocolFiles(tree: SourceTree): RelPath[] {
  return [...tree.files].filter(([p, text]) => p.startsWith(ROOM_DIR) && /\bimplements\s+RoomProtocol\b/.test(text)).map(([p]) => p);
}

/** Every file `from` reaches through relative imports, itself excluded. */
function reachable(graph: Map<RelPath, RelPath[]>, from: RelPath): Set<RelPath> {
  const seen = new Set<RelPath>();
  const stack = [...(graph.get(from) ?? [])];
  while (stack.length > 0) {
    const next = stack.pop() as RelPath;
    if (seen.has(next) || next === from) continue;
    seen.add(next);
    stack.push(...(graph.get(next) ?? []));
  }
  return seen;
}

/**
 * The rules inside durable-objects/room/ (DESIGN.md "The room engine and its protocols"): a protocol
 * implementation imports no other one; the core reaches no protocol, not even the seam; only the
 * facade picks protocols; and nothing in the engine imports Cloudflare modules, so it runs in Node.
 */
function roomEngineViolations(tree: SourceTree): string[] {
  const out: string[] = [];
  const graph = importGraph(tree);
  const protocols = protocolFiles(tree);
  for (const p of protocols) {
    for (const other of reachable(graph, p)) if (protocols.includes(other)) out.push(`${p} reaches protocol ${other} (protocols must not import each other)`);
  }
  for (const f of reachable(graph, ROOM_CORE)) if (protocols.includes(f) || f === PROTOCOL_SEAM) out.push(`${ROOM_CORE} reaches ${f} (the core imports no protocol)`);
  for (const { from, specifier, target } of importEdges(tree)) {
    if (target !== undefined && protocols.includes(target) && !ROOM_FACADE.includes(from) && !from.startsWith("test/")) out.push(`${from} imports protocol ${target} (only the facade picks a protocol)`);
    if (from.startsWith(ROOM_DIR) && specifier.startsWith("cloudflare:")) out.push(`${from} imports Cloudflare module ${specifier} (the room engine runs on ports)`);
  }
  return out;
}

/** The import graph between repository files (relative imports only). */
function importGraph(tree: SourceTree): Map<RelPath, RelPath[]> {
  const graph = new Map<RelPath, RelPath[]>();
  for (const path of tree.files.keys()) graph.set(path, []);
  for (const { from, target } of importEdges(tree)) {
    const next = graph.get(from);
    if (target !== undefined && tree.files.has(target) && next !== undefined && !next.includes(target)) next.push(target);
  }
  return graph;
}

/**
 * Finds import cycles with a depth-first search. Returns one path per back edge found, each starting and
 * ending at the same file, e.g. ["a.ts", "b.ts", "a.ts"]; an empty list means the graph is acyclic.
 */
function findCycles(graph: Map<string, string[]>): string[][] {
  const WHITE = 0;
  const GREY = 1;
  const BLACK = 2;
  const colour = new Map<string, number>();
  const stack: string[] = [];
  const cycles: string[][] = [];

  const visit = (node: string): void => {
    colour.set(node, GREY);
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      const c = colour.get(next) ?? WHITE;
      if (c === GREY) cycles.push([...stack.slice(stack.indexOf(next)), next]);
      else if (c === WHITE) visit(next);
    }
    stack.pop();
    colour.set(node, BLACK);
  };

  for (const node of [...graph.keys()].sort()) if ((colour.get(node) ?? WHITE) === WHITE) visit(node);
  return cycles;
}

function readTree(): SourceTree {
  const files = new Map<RelPath, string>();
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      if (name === "node_modules" || name.startsWith(".")) continue;
      const full = join(dir, name);
      if (statSync(full).isDirectory()) walk(full);
      else if (/\.(ts|mts|js|mjs)$/.test(name) && !name.endsWith(".d.ts")) {
        files.set(relative(ROOT, full).split(sep).join("/"), readFileSync(full, "utf8"));
      }
    }
  };
  for (const layer of LAYERS) if (existsSync(join(ROOT, layer))) walk(join(ROOT, layer));
  return { files };
}

const tree = (files: Record<string, string>): SourceTree => ({ files: new Map(Object.entries(files)) });

describe("layering rules on the repository", () => {
  const repo = readTree();

  it("finds the source files and their imports", () => {
    const paths = [...repo.files.keys()];
    expect(paths).toContain("shared/canonical-json.ts");
    expect(paths).toContain("shared/signed-json.ts");
    expect(paths.some((p) => p.startsWith("workers/"))).toBe(true);
    // shared/signed-json.ts imports ./canonical-json.js, which must resolve to the .ts file.
    expect(importGraph(repo).get("shared/signed-json.ts")).toContain("shared/canonical-json.ts");
  });

  it("shared/ imports nothing from cloudflare:*, node:*, workers/ or durable-objects/", () => {
    expect(layeringViolations({ files: new Map([...repo.files].filter(([p]) => p.startsWith("shared/"))) })).toEqual([]);
  });

  it("durable-objects/ never import from workers/", () => {
    expect(layeringViolations({ files: new Map([...repo.files].filter(([p]) => p.startsWith("durable-objects/"))) })).toEqual([]);
  });

  it("every relative import resolves to an existing file", () => {
    const dangling = importEdges(repo)
      .filter((e) => e.target !== undefined && !repo.files.has(e.target))
      .map((e) => `${e.from} -> ${e.specifier}`);
    expect(dangling).toEqual([]);
  });

  it("has no import cycles among shared/, durable-objects/ and workers/", () => {
    expect(findCycles(importGraph(repo)).map((c) => c.join(" -> "))).toEqual([]);
  });

  it("inside durable-objects/room/: protocols do not import each other, the core imports no protocol, only the facade picks one", () => {
    expect(protocolFiles(repo).sort()).toEqual(["durable-objects/room/lm-hub.ts", "durable-objects/room/lm-participant.ts", "durable-objects/room/matrix-dag.ts"]);
    expect(roomEngineViolations(repo)).toEqual([]);
  });

  it("the LM and Matrix auth rules share code only through auth-rules-common.ts", () => {
    const graph = importGraph(repo);
    expect(graph.get("shared/auth-rules-matrix.ts")).not.toContain("shared/auth-rules-lm.ts");
    expect(graph.get("shared/auth-rules-lm.ts")).not.toContain("shared/auth-rules-matrix.ts");
    expect(graph.get("shared/auth-rules-matrix.ts")).toContain("shared/auth-rules-common.ts");
  });

  it("Durable Objects whose tables have a storage module run no SQL of their own", () => {
    // Extend the list as each object's SQL moves behind its own *-storage.ts.
    const sqlInClass = ["durable-objects/user-stream.ts", ...ROOM_FACADE, "durable-objects/destination.ts"].filter((p) => {
      const text = repo.files.get(p) ?? "";
      return /\bsql\.exec\b|\.storage\.sql\b|\b(SELECT|INSERT INTO|UPDATE|DELETE FROM|CREATE TABLE)\b/.test(text);
    });
    expect(sqlInClass).toEqual([]);
    expect(repo.files.has("durable-objects/user-stream-storage.ts")).toBe(true);
  });

  it("the LM federation path prefix is spelled out once, in shared/federation-paths.ts", () => {
    const files = new Map<RelPath, string>();
    const walk = (dir: string): void => {
      for (const name of readdirSync(dir)) {
        if (name === "node_modules" || name.startsWith(".")) continue;
        const full = join(dir, name);
        if (statSync(full).isDirectory()) walk(full);
        else if (/\.(ts|mts|js|mjs)$/.test(name)) files.set(relative(ROOT, full).split(sep).join("/"), readFileSync(full, "utf8"));
      }
    };
    for (const dir of [...LAYERS, "test", "bench", "scripts", "bin"]) if (existsSync(join(ROOT, dir))) walk(join(ROOT, dir));
    // Split so this file does not match itself.
    const prefix = "/_matrix/federation/unstable/" + "org.matrix.i-d.ralston-mimi-linearized-matrix.02";
    expect([...files].filter(([, text]) => text.includes(prefix)).map(([p]) => p)).toEqual(["shared/federation-paths.ts"]);
  });
});

describe("importSpecifiers", () => {
  it("reads static, multi-line, type-only, re-export, side-effect and dynamic imports", () => {
    const src = [
      'import { a } from "./a.js";',
      "import {",
      "  b,",
      "  c,",
      '} from "../b.js";',
      'import type { T } from "./types.js";',
      'export { d } from "./d.js";',
      'export * from "./e.js";',
      'import "./side-effect.js";',
      'const m = await import("./lazy.js");',
      'import { DurableObject } from "cloudflare:workers";',
    ].join("\n");
    expect(importSpecifiers(src)).toEqual([
      "./a.js",
      "../b.js",
      "./types.js",
      "./d.js",
      "./e.js",
      "./side-effect.js",
      "./lazy.js",
      "cloudflare:workers",
    ]);
  });

  it("ignores comments and strings that only mention imports", () => {
    const src = ['// import { x } from "../workers/app.js";', '/* import "node:fs"; */', 'const s = "import x from \'node:fs\'";'].join("\n");
    expect(importSpecifiers(src)).toEqual([]);
  });
});

describe("resolveRelative", () => {
  const exists = (p: string): boolean => ["shared/a.ts", "shared/dir/index.ts"].includes(p);

  it("maps .js to .ts and walks up directories", () => {
    expect(resolveRelative("workers/app.ts", "../shared/a.js", exists)).toBe("shared/a.ts");
  });

  it("tries .ts and /index.ts for extensionless specifiers", () => {
    expect(resolveRelative("shared/b.ts", "./a", exists)).toBe("shared/a.ts");
    expect(resolveRelative("shared/b.ts", "./dir", exists)).toBe("shared/dir/index.ts");
  });

  it("leaves bare specifiers alone", () => {
    expect(resolveRelative("shared/b.ts", "@noble/ed25519", exists)).toBeUndefined();
    expect(resolveRelative("shared/b.ts", "cloudflare:workers", exists)).toBeUndefined();
  });
});

describe("layeringViolations catches what the rules forbid", () => {
  it("flags shared/ importing a Cloudflare module, even type-only", () => {
    const v = layeringViolations(tree({ "shared/x.ts": 'import type { DurableObjectState } from "cloudflare:workers";' }));
    expect(v).toEqual(["shared/x.ts imports Cloudflare module cloudflare:workers"]);
  });

  it("flags shared/ importing Node built-ins with or without the node: prefix", () => {
    const v = layeringViolations(tree({ "shared/x.ts": 'import { readFileSync } from "node:fs";\nimport { createHash } from "crypto";' }));
    expect(v).toEqual(["shared/x.ts imports Node built-in node:fs", "shared/x.ts imports Node built-in crypto"]);
  });

  it("flags shared/ importing workers/ or durable-objects/", () => {
    const v = layeringViolations(
      tree({
        "shared/x.ts": 'import { app } from "../workers/app.js";\nexport { Room } from "../durable-objects/room.js";',
        "workers/app.ts": "export const app = 1;",
        "durable-objects/room.ts": "export class Room {}",
      }),
    );
    expect(v).toEqual([
      "shared/x.ts imports workers/app.ts (shared/ must not depend on workers/)",
      "shared/x.ts imports durable-objects/room.ts (shared/ must not depend on durable-objects/)",
    ]);
  });

  it("flags durable-objects/ importing workers/", () => {
    const v = layeringViolations(
      tree({ "durable-objects/room.ts": 'import { getConfig } from "../workers/config.js";', "workers/config.ts": "" }),
    );
    expect(v).toEqual(["durable-objects/room.ts imports workers/config.ts (durable-objects/ must not depend on workers/)"]);
  });

  it("allows what the rules permit", () => {
    const v = layeringViolations(
      tree({
        "shared/a.ts": 'import { base64nopad } from "@scure/base";\nimport { b } from "./b.js";',
        "shared/b.ts": "export const b = 1;",
        "durable-objects/room.ts": 'import { DurableObject } from "cloudflare:workers";\nimport { b } from "../shared/b.js";',
        "workers/index.ts": 'export { Room } from "../durable-objects/room.js";\nimport { b } from "../shared/b.js";',
      }),
    );
    expect(v).toEqual([]);
  });
});

describe("roomEngineViolations catches what the room folder's rules forbid", () => {
  const engine = (extra: Record<string, string>): SourceTree =>
    tree({
      "durable-objects/room/core.ts": 'import type { Writer } from "./writer.js";\nexport class RoomCore {}',
      "durable-objects/room/writer.ts": "export class Writer {}",
      "durable-objects/room/protocol.ts": 'import type { RoomCore } from "./core.js";\nexport interface RoomProtocol {}',
      "durable-objects/room/lm-hub.ts": 'import type { RoomCore } from "./core.js";\nexport class LmHub implements RoomProtocol {}',
      "durable-objects/room/lm-participant.ts": 'import { linksFor } from "./lm-common.js";\nexport class LmParticipant implements RoomProtocol {}',
      "durable-objects/room/lm-common.ts": "export const linksFor = 1;",
      "durable-objects/room.ts": 'import { LmHub } from "./room/lm-hub.js";\nimport { LmParticipant } from "./room/lm-participant.js";',
      ...extra,
    });

  it("allows the layout the rules describe", () => {
    expect(roomEngineViolations(engine({}))).toEqual([]);
  });

  it("flags a protocol that imports another, directly or through a shared file", () => {
    expect(roomEngineViolations(engine({ "durable-objects/room/lm-common.ts": 'import { LmHub } from "./lm-hub.js";' }))).toEqual([
      "durable-objects/room/lm-participant.ts reaches protocol durable-objects/room/lm-hub.ts (protocols must not import each other)",
      "durable-objects/room/lm-common.ts imports protocol durable-objects/room/lm-hub.ts (only the facade picks a protocol)",
    ]);
  });

  it("flags a core that reaches a protocol or the seam", () => {
    const v = roomEngineViolations(engine({ "durable-objects/room/writer.ts": 'import type { RoomProtocol } from "./protocol.js";' }));
    expect(v).toEqual(["durable-objects/room/core.ts reaches durable-objects/room/protocol.ts (the core imports no protocol)"]);
  });

  it("flags a listener that picks a protocol, and an engine file importing a Cloudflare module", () => {
    const v = roomEngineViolations(
      engine({ "durable-objects/room/outbox.ts": 'import { DurableObject } from "cloudflare:workers";\nimport { LmParticipant } from "./lm-participant.js";' }),
    );
    expect(v).toEqual([
      "durable-objects/room/outbox.ts imports Cloudflare module cloudflare:workers (the room engine runs on ports)",
      "durable-objects/room/outbox.ts imports protocol durable-objects/room/lm-participant.ts (only the facade picks a protocol)",
    ]);
  });
});

describe("findCycles", () => {
  const graph = (edges: Record<string, string[]>): Map<string, string[]> => new Map(Object.entries(edges));

  it("reports nothing for an acyclic graph, including diamonds", () => {
    expect(findCycles(graph({ a: ["b", "c"], b: ["d"], c: ["d"], d: [] }))).toEqual([]);
  });

  it("reports a three-file cycle as the path around it", () => {
    expect(findCycles(graph({ a: ["b"], b: ["c"], c: ["a"], d: ["a"] }))).toEqual([["a", "b", "c", "a"]]);
  });

  it("reports a file that imports itself", () => {
    expect(findCycles(graph({ a: ["a"] }))).toEqual([["a", "a"]]);
  });

  it("reports separate cycles separately", () => {
    const cycles = findCycles(graph({ a: ["b"], b: ["a"], c: ["d"], d: ["c"] }));
    expect(cycles).toEqual([
      ["a", "b", "a"],
      ["c", "d", "c"],
    ]);
  });

  it("finds a cycle built from real import statements across layers", () => {
    const t = tree({
      "shared/a.ts": 'import { b } from "./b.js";\nexport const a = 1;',
      "shared/b.ts": 'import type { W } from "../workers/w.js";\nexport const b = 1;',
      "workers/w.ts": 'import { a } from "../shared/a.js";\nexport type W = 1;',
    });
    expect(findCycles(importGraph(t))).toEqual([["shared/a.ts", "shared/b.ts", "workers/w.ts", "shared/a.ts"]]);
  });
});
