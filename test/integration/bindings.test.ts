// The integration server runs with wrangler.toml's [vars] and the bindings vitest.workers.config.ts
// sets, nothing from a developer's .dev.vars (which `npm start` writes next to wrangler.toml).

import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

describe("the integration server's configuration", () => {
  it("has only wrangler.toml's vars and the test's own bindings, whatever .dev.vars holds", () => {
    const e = env as unknown as Record<string, unknown>;
    const vars = Object.fromEntries(Object.entries(e).filter(([, v]) => typeof v === "string"));
    expect(vars).toEqual({
      SERVER_NAME: "hub.test",
      SIGNING_KEY: "ed25519:test:nwBTmxKOhSLH3L3HrbFTfsMcdzHbOeDq7Iv8zEUb/0w",
      FEDERATION_HOST_MAP: "{}",
      FEDERATION_RETRY_BASE_MS: "1000",
      FEDERATION_RETRY_MAX_MS: "600000",
      RATE_LIMITS: "",
      KEY_NOTARIES: "",
      FANOUT_BACKLOG_LIMIT: "1000",
      MIMI_PROPOSAL_GRACE_MS: "60000",
      MAX_UPLOAD_BYTES: String(1024 * 1024),
      DEFAULT_ROOM_VERSION: "",
      FUZZ_RUNS: process.env["FUZZ_RUNS"] ?? "",
    });
  });
});
