// Test servers must not read a developer's local secrets: wrangler loads .dev.vars (else .env) next to
// wrangler.toml into every set of worker options it builds, so after one `npm start` the tests
// would run with that developer's ADMIN_TOKEN, RATE_LIMITS and so on (and print where from, once per
// server). test/support/worker-options.ts builds them from wrangler.toml alone; the federation
// harness and the integration pool both use it. test/integration/bindings.test.ts checks the pool.

import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { WRANGLER_TOML, workerOptionsWithoutLocalSecrets } from "../support/worker-options.js";

let dir: string | undefined;
afterEach(() => {
  vi.restoreAllMocks();
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe("test servers' worker options", () => {
  it("ignore a .dev.vars and a .env beside wrangler.toml, and say nothing about them", () => {
    dir = mkdtempSync(join(tmpdir(), "sb-secrets-"));
    const config = join(dir, "wrangler.toml");
    copyFileSync(WRANGLER_TOML, config);
    writeFileSync(join(dir, ".dev.vars"), 'ADMIN_TOKEN="planted-admin"\nRATE_LIMITS={"token":{"capacity":1,"refillPerSecond":1}}\nSIGNING_KEY="ed25519:planted:AAAA"\n');
    writeFileSync(join(dir, ".env"), "KEY_NOTARIES=planted.example\n");
    const said: string[] = [];
    for (const method of ["log", "info", "warn"] as const) {
      vi.spyOn(console, method).mockImplementation((...args: unknown[]) => void said.push(args.map(String).join(" ")));
    }

    const { bindings } = workerOptionsWithoutLocalSecrets(config);

    // Exactly wrangler.toml's [vars]; the tests add their own bindings on top.
    expect(bindings).toEqual({
      SERVER_NAME: "localhost:8787",
      FEDERATION_HOST_MAP: "{}",
      FEDERATION_RETRY_BASE_MS: "1000",
      FEDERATION_RETRY_MAX_MS: "600000",
      RATE_LIMITS: "",
      KEY_NOTARIES: "",
      FANOUT_BACKLOG_LIMIT: "1000",
      MIMI_PROPOSAL_GRACE_MS: "60000",
      MAX_UPLOAD_BYTES: "52428800",
      DEFAULT_ROOM_VERSION: "",
    });
    expect(said.filter((l) => /\.dev\.vars|\.env|secrets/i.test(l))).toEqual([]);
  });

  it("still carry what the servers need from wrangler.toml: Durable Objects, D1, R2, the Outbound self-binding", () => {
    const o = workerOptionsWithoutLocalSecrets();
    expect(Object.keys(o.durableObjects ?? {}).sort()).toEqual(["DESTINATION", "INBOX", "RATE_LIMITER", "ROOM", "USER_STREAM"]);
    expect(Object.keys(o.d1Databases ?? {})).toEqual(["DB"]);
    expect(Object.keys(o.r2Buckets ?? {})).toEqual(["MEDIA"]);
    expect(o.serviceBindings).toMatchObject({ OUTBOUND: { entrypoint: "Outbound" } });
  });
});
