import { defineConfig } from "vitest/config";

// `npm run test:synapse` (scripts/test-synapse.sh): Switchboard against a real Synapse that the
// script has started. Not part of `npm test`: it needs root to install and run Synapse.
export default defineConfig({
  test: {
    name: "peers",
    include: ["test/peers/**/*.test.ts"],
    environment: "node",
    globalSetup: ["test/federation/global-setup.ts"],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
