// The layering checker behind layering.test.ts: reads the source tree, resolves its imports and reports
// what docs/architecture.md ("Layers") forbids. Import specifiers are read with TypeScript's own
// pre-processor, so multi-line imports, `export ... from`, `import type` and dynamic `import()` all count.

import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { builtinModules } from "node:module";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const LAYERS = ["shared", "durable-objects", "workers"] as const;
export type Layer = (typeof LAYERS)[number];

/** Repository-relative path with forward slashes, e.g. "shared/ids.ts". */
export type RelPath = string;

/** Every import/export-from/dynamic-import specifier in a source text. */
export function importSpecifiers(source: string): string[] {
  return ts.preProcessFile(source, true, true).importedFiles.map((f) => f.fileName);
}

/**
 * Resolves a relative specifier against the importing file, mapping the ".js" that ESM source uses to the
 * ".ts" file on disk. Returns undefined for bare specifiers (packages, cloudflare:*, node:*).
 */
export function resolveRelative(from: RelPath, specifier: string, exists: (p: RelPath) => boolean): RelPath | undefined {
  if (!specifier.startsWith("./") && !specifier.startsWith("../")) return undefined;
  const base = join(dirname(from), specifier).split(sep).join("/");
  const candidates = base.endsWith(".js")
    ? [base.slice(0, -3) + ".ts", base]
    : base.endsWith(".ts")
      ? [base]
      : [base + ".ts", base + "/index.ts"];
  return candidates.find(exists) ?? candidates[0];
}

export function layerOf(path: RelPath): Layer | undefined {
  return LAYERS.find((l) => path.startsWith(`${l}/`));
}

export const NODE_BUILTINS = new Set(builtinModules);

export function isNodeBuiltin(specifier: string): boolean {
  return specifier.startsWith("node:") || NODE_BUILTINS.has(specifier) || NODE_BUILTINS.has(specifier.split("/")[0] ?? "");
}

export interface SourceTree {
  /** path -> source text */
  files: Map<RelPath, string>;
}

export interface ImportEdge {
  from: RelPath;
  specifier: string;
  /** The repository file a relative specifier points at. */
  target?: RelPath;
}

export function importEdges(tree: SourceTree): ImportEdge[] {
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
export function layeringViolations(tree: SourceTree): string[] {
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

export const ROOM_DIR = "durable-objects/room/";
/** The Room facade: `Room` (room.ts) and the classes it extends, one per group of RPCs. */
export const ROOM_FACADE: readonly string[] = ["durable-objects/room.ts", "durable-objects/room-facade-base.ts", "durable-objects/room-facade-reads.ts", "durable-objects/room-facade-writes.ts"];
export const ROOM_CORE = `${ROOM_DIR}core.ts`;
export const PROTOCOL_SEAM = `${ROOM_DIR}protocol.ts`;

/** Files of the room engine that implement the protocol seam (LmHub, LmParticipant, ...). */
export function protocolFiles(tree: SourceTree): RelPath[] {
  return [...tree.files].filter(([p, text]) => p.startsWith(ROOM_DIR) && /\bimplements\s+RoomProtocol\b/.test(text)).map(([p]) => p);
}

/** Every file `from` reaches through relative imports, itself excluded. */
export function reachable(graph: Map<RelPath, RelPath[]>, from: RelPath): Set<RelPath> {
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
export function roomEngineViolations(tree: SourceTree): string[] {
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
export function importGraph(tree: SourceTree): Map<RelPath, RelPath[]> {
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
export function findCycles(graph: Map<string, string[]>): string[][] {
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

export function readTree(): SourceTree {
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

export const tree = (files: Record<string, string>): SourceTree => ({ files: new Map(Object.entries(files)) });
