// The layering checker itself (layering-rules.ts), on small made-up trees: what it reads as an import,
// how it resolves one, and which violations and cycles it reports.

import { describe, expect, it } from "vitest";
import { findCycles, importGraph, importSpecifiers, layeringViolations, resolveRelative, roomEngineViolations, tree, type SourceTree } from "./layering-rules.js";

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
