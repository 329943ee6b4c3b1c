import { defineConfig } from "vitest/config";

// One project per test layer (see README "Tests"). The workerd-backed projects live in their own
// config files because the Workers pool plugin must not touch the Node-run projects.
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
    ],
  },
});
