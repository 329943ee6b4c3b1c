// Bundles the Worker once per test run; every federation test server loads this bundle.
import { execFileSync } from "node:child_process";
import { join } from "node:path";

export const BUNDLE_DIR = join(import.meta.dirname, "..", "..", "dist", "federation-bundle");

export default function setup(): void {
  execFileSync(join("node_modules", ".bin", "wrangler"), ["deploy", "--dry-run", "--outdir", BUNDLE_DIR], {
    cwd: join(import.meta.dirname, "..", ".."),
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false" },
    stdio: ["ignore", "ignore", "inherit"],
  });
}
