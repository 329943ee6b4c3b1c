import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

// Integration tests: one Switchboard inside workerd with real Durable Object and D1 bindings.
export default defineConfig(async () => {
  const migrations = await readD1Migrations("migrations");
  return {
    plugins: [
      cloudflareTest({
        main: "./workers/index.ts",
        wrangler: { configPath: "./wrangler.toml" },
        miniflare: {
          bindings: {
            TEST_MIGRATIONS: migrations,
            SERVER_NAME: "hub.test",
            // A fixed test-only key; production keys come from the SIGNING_KEY secret.
            SIGNING_KEY: "ed25519:test:nwBTmxKOhSLH3L3HrbFTfsMcdzHbOeDq7Iv8zEUb/0w",
            FEDERATION_HOST_MAP: "{}",
            // Long fuzz runs (test/integration/fuzz-endpoints.test.ts): the host's FUZZ_RUNS, if set.
            FUZZ_RUNS: process.env["FUZZ_RUNS"] ?? "",
          },
        },
      }),
    ],
    test: {
      name: "integration",
      include: ["test/integration/**/*.test.ts"],
      setupFiles: ["./test/integration/apply-migrations.ts"],
    },
  };
});
