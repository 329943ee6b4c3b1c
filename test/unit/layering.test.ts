// Enforces the layering rules (docs/architecture.md, "Layers") on the source tree: shared/ stays portable (no Cloudflare, no Node
// built-ins, nothing from workers/ or durable-objects/), durable-objects/ never reach into workers/, and
// there are no import cycles. Import specifiers are read with TypeScript's own pre-processor, so
// multi-line imports, `export ... from`, `import type` and dynamic `import()` all count, while comments
// and strings that merely look like imports do not.

import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, sep } from "node:path";
import { describe, expect, it } from "vitest";
import { findCycles, importEdges, importGraph, LAYERS, layeringViolations, protocolFiles, readTree, ROOM_FACADE, ROOT, roomEngineViolations, type RelPath } from "./layering-rules.js";

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
