#!/usr/bin/env node
// `npm start`: runs one local hub on workerd (wrangler dev) with local D1 and Durable Object state.
// First run per server name: writes a signing key to a git-ignored vars file and applies D1 migrations.
// Environment: SERVER_NAME (default localhost:8787), PORT (default 8787), FEDERATION_HOST_MAP (JSON).

import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const serverName = process.env.SERVER_NAME || "localhost:8787";
const port = process.env.PORT || "8787";
const hostMap = process.env.FEDERATION_HOST_MAP || "{}";

try {
  const m = JSON.parse(hostMap);
  if (typeof m !== "object" || m === null || Array.isArray(m)) throw new Error();
} catch {
  console.error(`FEDERATION_HOST_MAP must be a JSON object, e.g. {"localhost:8788":"http://127.0.0.1:8788"}`);
  process.exit(2);
}
if (!/^\d{1,5}$/.test(port)) {
  console.error(`PORT must be a number, got ${port}`);
  process.exit(2);
}

// Each server name keeps its own key and state, so several hubs can run side by side.
const isDefault = serverName === "localhost:8787";
const slug = serverName.replace(/[^A-Za-z0-9.-]/g, "_");
const varsFile = join(root, isDefault ? ".dev.vars" : `.dev.vars.${slug}`);
const persistTo = join(root, ".wrangler", isDefault ? "state" : `state-${slug}`);

function readVars(file) {
  if (!existsSync(file)) return {};
  const out = {};
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const m = /^\s*([A-Z_][A-Z0-9_]*)\s*=\s*"?([^"]*)"?\s*$/.exec(line);
    if (m) out[m[1]] = m[2];
  }
  return out;
}

const vars = readVars(varsFile);
if (!vars.SIGNING_KEY) {
  const seed = randomBytes(32).toString("base64").replace(/=+$/, "");
  const version = `a_${randomBytes(3).toString("hex")}`;
  vars.SIGNING_KEY = `ed25519:${version}:${seed}`;
  console.log(`[start] generated signing key ed25519:${version} for ${serverName} in ${varsFile}`);
}
if (!vars.ADMIN_TOKEN) vars.ADMIN_TOKEN = randomBytes(24).toString("base64url");
writeFileSync(varsFile, Object.entries(vars).map(([k, v]) => `${k}="${v}"`).join("\n") + "\n", { mode: 0o600 });

const env = { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false" };
const wrangler = join(root, "node_modules", ".bin", "wrangler");

const migrate = spawnSync(wrangler, ["d1", "migrations", "apply", "DB", "--local", "--persist-to", persistTo], {
  cwd: root,
  env: { ...env, CI: "true" },
  stdio: ["ignore", "pipe", "inherit"],
  encoding: "utf8",
});
if (migrate.status !== 0) {
  process.stdout.write(migrate.stdout ?? "");
  console.error("[start] applying D1 migrations failed");
  process.exit(migrate.status ?? 1);
}
console.log(`[start] D1 migrations applied (${persistTo})`);

const args = [
  "dev",
  "--ip", "127.0.0.1",
  "--port", port,
  "--persist-to", persistTo,
  "--env-file", varsFile,
  "--var", `SERVER_NAME:${serverName}`,
  "--var", `FEDERATION_HOST_MAP:${hostMap}`,
  "--show-interactive-dev-session=false",
  "--log-level", process.env.LOG_LEVEL || "warn",
];
console.log(`[start] ${serverName} on http://127.0.0.1:${port}`);
// A process group of its own, so stopping us stops workerd too (wrangler alone leaves it running).
const child = spawn(wrangler, args, { cwd: root, env, stdio: "inherit", detached: true });
const stop = (signal) => {
  try {
    process.kill(-child.pid, signal);
  } catch {}
};
for (const s of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(s, () => stop("SIGTERM"));
process.on("exit", () => stop("SIGTERM"));
child.on("exit", (code) => process.exit(code ?? 0));
