#!/usr/bin/env node
// `npm start`: runs one local hub on workerd (wrangler dev) with local D1 and Durable Object state.
// First run per server name: adds a signing key and an admin token to a git-ignored vars file and
// applies D1 migrations.
// Environment: PORT (default 8787), SERVER_NAME (default localhost:<PORT>), FEDERATION_HOST_MAP (JSON),
// INSPECTOR_PORT (devtools; default: none fixed, so several hubs can start side by side),
// HTTPS=true (serve HTTPS with a self-signed certificate made on first run, for peers such as Synapse
// that federate only over HTTPS).

import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const port = process.env.PORT || "8787";
const inspectorPort = process.env.INSPECTOR_PORT || "";
const hostMap = process.env.FEDERATION_HOST_MAP || "{}";
const httpsEnv = (process.env.HTTPS || "").toLowerCase();
if (!["", "true", "false", "1", "0"].includes(httpsEnv)) {
  console.error(`HTTPS must be true or false, got ${process.env.HTTPS}`);
  process.exit(2);
}
const https = httpsEnv === "true" || httpsEnv === "1";

try {
  const m = JSON.parse(hostMap);
  if (typeof m !== "object" || m === null || Array.isArray(m)) throw new Error();
} catch {
  console.error(`FEDERATION_HOST_MAP must be a JSON object, e.g. {"localhost:8788":"http://127.0.0.1:8788"}`);
  process.exit(2);
}
for (const [name, value] of [["PORT", port], ["INSPECTOR_PORT", inspectorPort]]) {
  if (value !== "" && (!/^\d{1,5}$/.test(value) || Number(value) > 65535)) {
    console.error(`${name} must be a port number, got ${value}`);
    process.exit(2);
  }
}

// Other servers reach this one by its name: a name naming another port only works through their host maps.
const serverName = process.env.SERVER_NAME || `localhost:${port}`;
const namedPort = /:(\d+)$/.exec(serverName)?.[1];
if (namedPort !== undefined && namedPort !== port) {
  console.warn(
    `[start] warning: SERVER_NAME ${serverName} names port ${namedPort}, but this server listens on ${port}. ` +
      `Servers that resolve the name will look for it on ${namedPort}; map it to http://127.0.0.1:${port} in their FEDERATION_HOST_MAP, or drop SERVER_NAME to use localhost:${port}.`,
  );
}

// Each server name keeps its own key and state, so several hubs can run side by side.
const isDefault = serverName === "localhost:8787";
const slug = serverName.replace(/[^A-Za-z0-9.-]/g, "_");
const varsFile = join(root, isDefault ? ".dev.vars" : `.dev.vars.${slug}`);
const persistTo = join(root, ".wrangler", isDefault ? "state" : `state-${slug}`);
const shown = relative(process.cwd(), varsFile) || varsFile;

/** Each name set in a dotenv file, with its value (quotes and trailing comment removed). */
function definedVars(text) {
  const vars = new Map();
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*(?:export\s+)?([\w.-]+)\s*(?:=|:\s)\s*(.*)$/.exec(line);
    if (!m) continue;
    let value = m[2].trim();
    const quoted = /^(["'`])(.*)\1$/.exec(value);
    value = quoted ? quoted[2] : value.replace(/\s+#.*$/, "");
    vars.set(m[1], value);
  }
  return vars;
}

// What a user wrote stays as written (comments, JSON values, quoting): only missing names are appended.
const existing = existsSync(varsFile) ? readFileSync(varsFile, "utf8") : undefined;
const defined = definedVars(existing ?? "");
const added = [];
if (!defined.has("SIGNING_KEY")) {
  const seed = randomBytes(32).toString("base64").replace(/=+$/, "");
  const version = `a_${randomBytes(3).toString("hex")}`;
  added.push(`SIGNING_KEY="ed25519:${version}:${seed}"`);
  console.log(`[start] generated signing key ed25519:${version} for ${serverName} in ${shown}`);
} else if (!/^ed25519:[A-Za-z0-9_]+:[A-Za-z0-9+/]{43}=?$/.test(defined.get("SIGNING_KEY"))) {
  console.warn(
    `[start] warning: SIGNING_KEY in ${shown} is not "ed25519:<version>:<base64 32-byte seed>"; the server will answer every request with an error. ` +
      `Delete that line to have one generated, or set one from \`npx switchboard keygen\`.`,
  );
}
// An ADMIN_TOKEN line left empty on purpose keeps the admin API off.
if (!defined.has("ADMIN_TOKEN")) added.push(`ADMIN_TOKEN="${randomBytes(24).toString("base64url")}"`);
if (existing === undefined) {
  const header = `# Local secrets for ${serverName}, written by \`npm start\`. Edit freely: npm start only adds missing names.\n`;
  writeFileSync(varsFile, `${header}${added.join("\n")}\n`, { mode: 0o600 });
} else if (added.length > 0) {
  const sep = existing === "" || existing.endsWith("\n") ? "" : "\n";
  appendFileSync(varsFile, `${sep}# Added by \`npm start\`:\n${added.join("\n")}\n`);
}

const tls = https ? selfSignedCertificate(join(root, ".wrangler", "tls"), serverName) : undefined;

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
  // wrangler's default (9229, probed then bound later) lets two hubs started together race for
  // the same port; 0 has the OS pick a free one for each.
  "--inspector-port", inspectorPort || "0",
  "--persist-to", persistTo,
  "--env-file", varsFile,
  "--var", `SERVER_NAME:${serverName}`,
  "--var", `FEDERATION_HOST_MAP:${hostMap}`,
  "--show-interactive-dev-session=false",
  "--log-level", process.env.LOG_LEVEL || "warn",
  ...(tls ? ["--local-protocol", "https", "--https-key-path", tls.key, "--https-cert-path", tls.cert] : []),
];
console.log(`[start] ${serverName} on ${tls ? "https" : "http"}://127.0.0.1:${port}${inspectorPort ? ` (devtools inspector on 127.0.0.1:${inspectorPort})` : ""}`);
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

/**
 * A self-signed certificate for this server name, made once with openssl and kept in `dir`
 * (git-ignored). Peers check no certificate on loopback (Synapse: federation_verify_certificates: false),
 * but it names the host anyway so a curious client sees the right subject.
 */
function selfSignedCertificate(dir, name) {
  const host = name.replace(/:\d+$/, "").replace(/^\[(.*)\]$/, "$1");
  const file = name.replace(/[^A-Za-z0-9.-]/g, "_");
  const key = join(dir, `${file}.key`);
  const cert = join(dir, `${file}.crt`);
  if (existsSync(key) && existsSync(cert)) return { key, cert };
  mkdirSync(dir, { recursive: true });
  const isIp = /^[\d.]+$/.test(host) || host.includes(":");
  const made = spawnSync("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "3650",
    "-subj", `/CN=${host}`, "-addext", `subjectAltName=${isIp ? "IP" : "DNS"}:${host}`,
    "-keyout", key, "-out", cert,
  ], { stdio: ["ignore", "ignore", "pipe"], encoding: "utf8" });
  if (made.error || made.status !== 0) {
    console.error(`[start] HTTPS=true needs openssl to make a self-signed certificate: ${made.error?.message ?? made.stderr}`);
    process.exit(1);
  }
  console.log(`[start] made a self-signed certificate for ${host} in ${relative(process.cwd(), cert) || cert}`);
  return { key, cert };
}
