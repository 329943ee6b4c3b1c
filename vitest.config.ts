import { defineConfig } from "vitest/config";

// One project per test layer (see README "Tests"):
//   unit         shared/ protocol code, in Node
//   integration  one server inside workerd with real DO and D1 bindings (vitest.workers.config.ts)
//   federation   several servers, each its own Miniflare on loopback, federating over real HTTP
//   clients      real client libraries (matrix-js-sdk) against servers of the federation harness
//   smoke        the README's `npm start` and `npm run demo`, the admin CLI and the smallest bench run, for real
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
          environment: "node",
        },
      },
      "./vitest.workers.config.ts",
      {
        test: {
          name: "federation",
          include: ["test/federation/**/*.test.ts"],
          environment: "node",
          globalSetup: ["test/federation/global-setup.ts"],
          fileParallelism: false,
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: "clients",
          include: ["test/clients/**/*.test.ts"],
          environment: "node",
          globalSetup: ["test/federation/global-setup.ts"],
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: "smoke",
          include: ["test/smoke/**/*.test.ts"],
          environment: "node",
          // The admin CLI test runs its servers from the federation bundle.
          globalSetup: ["test/federation/global-setup.ts"],
          testTimeout: 60_000,
        },
      },
    ],
  },
});
