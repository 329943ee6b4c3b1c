import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { defineConfig, type Plugin } from "vitest/config";
import { workerOptionsWithoutLocalSecrets } from "./test/support/worker-options.js";

// ts-mls ships source maps naming .ts files it does not ship; Vite warns once per module it loads
// (about fifty lines a run) and nobody here can act on it. Every other warning still shows. (Vitest
// installs its own logger over a configured customLogger, so this wraps the resolved one.)
const quietForeignSourcemaps: Plugin = {
  name: "switchboard:quiet-foreign-sourcemaps",
  configResolved(config) {
    const warnOnce = config.logger.warnOnce.bind(config.logger);
    config.logger.warnOnce = (msg, options) => {
      if (/^Sourcemap for ".*\/node_modules\/.*" points to missing source files$/.test(msg)) return;
      warnOnce(msg, options);
    };
  },
};

// Integration tests: one Switchboard inside workerd with real Durable Object and D1 bindings, built
// from wrangler.toml without the developer's .dev.vars (test/support/worker-options.ts).
export default defineConfig(async () => {
  const migrations = await readD1Migrations("migrations");
  const base = workerOptionsWithoutLocalSecrets();
  return {
    plugins: [
      quietForeignSourcemaps,
      cloudflareTest({
        main: "./workers/index.ts",
        miniflare: {
          ...base,
          bindings: {
            ...base.bindings,
            TEST_MIGRATIONS: migrations,
            SERVER_NAME: "hub.test",
            // A fixed test-only key; production keys come from the SIGNING_KEY secret.
            SIGNING_KEY: "ed25519:test:nwBTmxKOhSLH3L3HrbFTfsMcdzHbOeDq7Iv8zEUb/0w",
            FEDERATION_HOST_MAP: "{}",
            // Small enough that the oversize tests send little (wrangler.toml's default is 50 MiB).
            MAX_UPLOAD_BYTES: String(1024 * 1024),
            // Long fuzz runs (test/integration/fuzz-*-endpoints.test.ts): the host's FUZZ_RUNS, if set.
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
