#!/usr/bin/env node
// switchboard: the operator CLI for a Switchboard hub. Plain Node ESM, no build step.
// Talks to a hub's admin API (/_switchboard/admin/v1, Bearer ADMIN_TOKEN) and client API (register).
// Exit codes: 0 success, 1 failure (server error, unreachable, auth), 2 usage error.

import { createPrivateKey, createPublicKey, randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { mimiPeerCommands } from "./mimi-peers.mjs";

const ADMIN_PREFIX = "/_switchboard/admin/v1";
const DEFAULT_URL = "http://localhost:8787";

/** An expected failure: printed as one friendly message, never with a stack trace. */
class CliError extends Error {
  constructor(message, exitCode = 1) {
    super(message);
    this.exitCode = exitCode;
  }
}
const usageError = (message, command) => new CliError(`${message}\n\n${command ? commandUsage(command) : mainUsage()}`, 2);

// ---------------------------------------------------------------------------------------------
// Options and commands
// ---------------------------------------------------------------------------------------------

const GLOBAL_OPTIONS = {
  url: { type: "string" },
  "admin-token": { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
};

const GLOBAL_HELP = `Global options:
  --url <url>            hub base URL (default $SWITCHBOARD_URL, else ${DEFAULT_URL})
  --admin-token <token>  admin API token (default $SWITCHBOARD_ADMIN_TOKEN, else ADMIN_TOKEN
                         from .dev.vars in the current directory when the URL is local)
  --json                 print JSON instead of tables
  -h, --help             show help`;

const COMMANDS = {
  keygen: {
    args: "[--version <v>]",
    summary: "print a new Ed25519 signing key secret for SIGNING_KEY",
    help: `Generates a new Ed25519 signing key. The secret ("ed25519:<version>:<seed>") goes to stdout,
the public key to stderr, so the secret can be piped straight into wrangler:

  switchboard keygen | npx wrangler secret put SIGNING_KEY

Options:
  --version <v>   key version (letters, digits, _); default a_<6 random hex digits>`,
    options: { version: { type: "string" } },
    positionals: [],
    run: keygen,
  },
  register: {
    args: "<username> [--password <p>]",
    summary: "register a user on the hub (client API, m.login.dummy)",
    help: `Registers a local user through the hub's client API and prints the user ID, device ID and
access token. Without --password a random password is generated and printed.

Options:
  --password <p>  the account password`,
    options: { password: { type: "string" } },
    positionals: ["username"],
    run: register,
  },
  rooms: {
    args: "[--limit N]",
    summary: "list the rooms this server knows",
    help: `Lists rooms hosted here or joined through another hub, oldest first.

Options:
  --limit N   at most N rooms (default 100, max 1000)`,
    options: { limit: { type: "string" } },
    positionals: [],
    run: rooms,
  },
  room: {
    args: "<roomId>",
    summary: "one room: version, hub, timeline length, outbox",
    help: `Shows a room's version, hub server, last timeline position, state size and, per destination,
the events not yet reported delivered (the room's outbox; "switchboard outbox <server>" sums them).`,
    options: {},
    positionals: ["roomId"],
    run: room,
  },
  events: {
    args: "<roomId> [--from N] [--limit N]",
    summary: "a room's stored events in timeline order",
    help: `Lists a room's events as this server stored them, in timeline order.

Options:
  --from N    start after timeline position N (default 0: from the beginning)
  --limit N   at most N events (default 500, max 1000)`,
    options: { from: { type: "string" }, limit: { type: "string" } },
    positionals: ["roomId"],
    run: events,
  },
  state: {
    args: "<roomId>",
    summary: "a room's current state",
    help: `Lists a room's current state events (create event first, then in timeline order).`,
    options: {},
    positionals: ["roomId"],
    run: state,
  },
  pair: {
    args: "<roomId> --user <userId> [--public]",
    summary: "pair an LM room hosted here with a new Matrix v12 room",
    help: `Pairs an LM room this hub orders with a new Matrix room (version 12) created by the hub's
service user; the converter then carries messages, encrypted messages, MLS commits, name, topic and
membership between them (remote users appear as ghosts). The LM side's pair event is sent as
--user, a local member with the power to send it.

Options:
  --user <userId>  the local room member on whose behalf the pairing is made
  --public         make the Matrix room joinable by anyone (default: invite only)`,
    options: { user: { type: "string" }, public: { type: "boolean" } },
    positionals: ["roomId"],
    run: pair,
  },
  outbox: {
    args: "<server>",
    summary: "what is pending for a destination server, and its delivery queue",
    help: `Shows what this server still has to deliver to a remote server: the events its hub rooms
hold for it until delivery is reported (per room, the counts "switchboard room" shows), the PDUs
and EDUs stored in its delivery queue, the transaction in flight, consecutive failures, next retry,
last error and last success.`,
    options: {},
    positionals: ["server"],
    run: outbox,
  },
  ...mimiPeerCommands({
    adminCall: (ctx, method, path, body) => adminCall(ctx, method, path, body),
    out: (s) => out(s),
    printJson: (v) => printJson(v),
    table: (headers, rows) => table(headers, rows),
    when: (ts) => when(ts),
  }),
};

function mainUsage() {
  const width = Math.max(...Object.entries(COMMANDS).map(([n, c]) => `${n} ${c.args}`.length));
  const lines = Object.entries(COMMANDS).map(([n, c]) => `  ${`${n} ${c.args}`.padEnd(width)}  ${c.summary}`);
  return `Usage: switchboard <command> [options]

Commands:
${lines.join("\n")}

${GLOBAL_HELP}

Run "switchboard <command> --help" for a command's options.`;
}

function commandUsage(name) {
  const c = COMMANDS[name];
  return `Usage: switchboard ${name} ${c.args}\n\n${c.help}\n\n${GLOBAL_HELP}`;
}

// ---------------------------------------------------------------------------------------------
// Output helpers
// ---------------------------------------------------------------------------------------------

const out = (s = "") => process.stdout.write(`${s}\n`);
const printJson = (v) => out(JSON.stringify(v, null, 2));

/** A plain text table: a header row, a rule, then rows; cells are strings. */
function table(headers, rows) {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i] ?? "").length)));
  const line = (cells) => cells.map((c, i) => (i === cells.length - 1 ? String(c ?? "") : String(c ?? "").padEnd(widths[i]))).join("  ").trimEnd();
  return [line(headers), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

/** Key: value lines, keys aligned. */
function fields(pairs) {
  const width = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${`${k}:`.padEnd(width + 1)} ${v}`).join("\n");
}

const clip = (s, n = 60) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);
const when = (ts) => (typeof ts === "number" && ts > 0 ? new Date(ts).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z") : "-");

/** A one-line description of an event's content, by type. */
function summarize(pdu, { inState = false } = {}) {
  const c = pdu.content ?? {};
  const str = (v) => (typeof v === "string" ? v : JSON.stringify(v));
  switch (pdu.type) {
    case "m.room.message":
      return c.msgtype && c.msgtype !== "m.text" ? `[${c.msgtype}] ${str(c.body ?? "")}` : str(c.body ?? "");
    case "m.room.member":
      return `${inState ? "" : `${pdu.state_key} `}${c.membership ?? "?"}${c.reason ? ` (${c.reason})` : ""}`;
    case "m.room.name":
      return `name: ${str(c.name ?? "")}`;
    case "m.room.topic":
      return `topic: ${str(c.topic ?? "")}`;
    case "m.room.create":
      return `version ${c.room_version ?? "1"}`;
    case "m.room.join_rules":
      return `join_rule: ${c.join_rule}`;
    case "m.room.history_visibility":
      return `history: ${c.history_visibility}`;
    case "m.room.guest_access":
      return `guest_access: ${c.guest_access}`;
    case "m.room.power_levels":
      return `users: ${Object.entries(c.users ?? {}).map(([u, l]) => `${u}=${l}`).join(", ")}`;
    case "m.room.encrypted":
      return "(encrypted)";
    default: {
      const json = JSON.stringify(c);
      return json === "{}" ? "" : json;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------

function isLocalUrl(url) {
  const host = url.hostname.replace(/^\[|\]$/g, "");
  return host === "localhost" || host.endsWith(".localhost") || host === "::1" || /^127\./.test(host);
}

/** Names and values of a dotenv file (quotes and trailing comments removed), as wrangler reads it. */
function readVarsFile(file) {
  const vars = {};
  for (const line of readFileSync(file, "utf8").split(/\r?\n/)) {
    const m = /^\s*(?:export\s+)?([\w.-]+)\s*(?:=|:\s)\s*(.*)$/.exec(line);
    if (!m) continue;
    const value = m[2].trim();
    const quoted = /^(["'`])(.*)\1$/.exec(value);
    vars[m[1]] = quoted ? quoted[2] : value.replace(/\s+#.*$/, "");
  }
  return vars;
}

/** The vars file `npm start` wrote for a local hub on this port: .dev.vars.<name>_<port>, else .dev.vars. */
function localVarsFile(url) {
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  if (port !== "8787") {
    const perName = readdirSync(".").filter((f) => f.startsWith(".dev.vars.") && f.endsWith(`_${port}`));
    if (perName.length === 1) return perName[0];
  }
  return existsSync(".dev.vars") ? ".dev.vars" : undefined;
}

function adminToken(ctx) {
  if (ctx.options["admin-token"]) return { token: ctx.options["admin-token"], source: "--admin-token" };
  if (process.env.SWITCHBOARD_ADMIN_TOKEN) return { token: process.env.SWITCHBOARD_ADMIN_TOKEN, source: "$SWITCHBOARD_ADMIN_TOKEN" };
  if (isLocalUrl(ctx.url)) {
    const file = localVarsFile(ctx.url);
    const token = file ? readVarsFile(file).ADMIN_TOKEN : undefined;
    if (token) return { token, source: `ADMIN_TOKEN in ${file}` };
  }
  throw new CliError(
    `No admin token for ${ctx.url.origin}.\nPass --admin-token <token> or set SWITCHBOARD_ADMIN_TOKEN.` +
      (isLocalUrl(ctx.url) ? `\nFor a hub started with \`npm start\`, run this from the repository: ADMIN_TOKEN is in its\n.dev.vars (.dev.vars.<server name> for other server names).` : ""),
  );
}

function unreachable(url, err) {
  const code = err?.cause?.code ?? err?.code;
  const why =
    code === "ECONNREFUSED" ? "connection refused"
    : code === "ENOTFOUND" || code === "EAI_AGAIN" ? "host not found"
    : code === "ETIMEDOUT" || err?.name === "TimeoutError" ? "timed out"
    : code ?? err?.cause?.message ?? err?.message ?? "unknown error";
  const hint = isLocalUrl(url) ? " Is the hub running? Start one with `npm start`, or point --url at it." : " Check --url.";
  return new CliError(`Cannot reach ${url.origin} (${why}).${hint}`);
}

/** Sends a request; returns parsed JSON on 2xx, throws CliError with `errcode: error` otherwise. */
async function request(ctx, method, path, { body, token, tokenSource, admin = false } = {}) {
  const target = new URL(path, ctx.url);
  let res;
  try {
    res = await fetch(target, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
  } catch (err) {
    throw unreachable(ctx.url, err);
  }
  const text = await res.text();
  let data;
  try {
    data = text === "" ? {} : JSON.parse(text);
  } catch {
    throw new CliError(`${method} ${target.pathname}: HTTP ${res.status} with a body that is not JSON. Is ${ctx.url.origin} a Switchboard hub?`);
  }
  if (res.ok) return { status: res.status, data };
  const matrix = typeof data?.errcode === "string" ? `${data.errcode}: ${data.error ?? ""}`.trim() : `HTTP ${res.status}`;
  if (admin && (res.status === 401 || res.status === 403)) {
    const tokenHelp =
      res.status === 403
        ? "The admin API is off on this hub: set its ADMIN_TOKEN secret (npm start generates one in .dev.vars)."
        : `The admin API refused the token from ${tokenSource}. Pass the hub's ADMIN_TOKEN with --admin-token <token>\nor set SWITCHBOARD_ADMIN_TOKEN.`;
    throw new CliError(`${matrix}\n${tokenHelp}`);
  }
  if (admin && res.status === 404 && data?.errcode === "M_UNRECOGNIZED") {
    throw new CliError(`${matrix}\n${ctx.url.origin} has no Switchboard admin API at ${ADMIN_PREFIX}.`);
  }
  const err = new CliError(matrix);
  err.status = res.status;
  err.data = data;
  throw err;
}

function adminGet(ctx, path) {
  return adminCall(ctx, "GET", path);
}

function adminCall(ctx, method, path, body) {
  const { token, source } = adminToken(ctx);
  return request(ctx, method, `${ADMIN_PREFIX}${path}`, { body, token, tokenSource: source, admin: true }).then((r) => r.data);
}

function intOption(ctx, name, { min = 0 } = {}) {
  const v = ctx.options[name];
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < min) throw usageError(`--${name} must be a whole number${min > 0 ? ` of at least ${min}` : ""}, got ${JSON.stringify(v)}`, ctx.command);
  return Number(v);
}

// ---------------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------------

const b64 = (buf) => Buffer.from(buf).toString("base64").replace(/=+$/, "");
// PKCS#8 DER for an Ed25519 private key is this fixed 16-byte prefix followed by the 32-byte seed.
const ED25519_PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

async function keygen(ctx) {
  const version = ctx.options.version ?? `a_${randomBytes(3).toString("hex")}`;
  if (!/^[A-Za-z0-9_]+$/.test(version)) throw usageError(`--version may contain only letters, digits and _, got ${JSON.stringify(version)}`, "keygen");
  const seed = randomBytes(32);
  const privateKey = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: "der", type: "pkcs8" });
  const publicKey = Buffer.from(createPublicKey(privateKey).export({ format: "jwk" }).x, "base64url");
  const secret = `ed25519:${version}:${b64(seed)}`;
  if (ctx.options.json) return printJson({ secret, key_id: `ed25519:${version}`, public_key: b64(publicKey) });
  out(secret);
  process.stderr.write(`public key ed25519:${version} ${b64(publicKey)}\n`);
}

async function register(ctx, username) {
  const generated = ctx.options.password === undefined;
  const password = ctx.options.password ?? randomBytes(12).toString("base64url");
  if (password === "") throw usageError("--password must not be empty", "register");
  const { data } = await request(ctx, "POST", "/_matrix/client/v3/register", {
    body: { username, password, auth: { type: "m.login.dummy" }, initial_device_display_name: "switchboard CLI" },
  });
  if (ctx.options.json) return printJson({ ...data, ...(generated ? { password } : {}) });
  out(`Registered ${data.user_id}`);
  out(
    fields([
      ["device", data.device_id ?? "-"],
      ["access token", data.access_token ?? "-"],
      ...(generated ? [["password", `${password} (generated)`]] : []),
    ]),
  );
}

async function rooms(ctx) {
  const limit = intOption(ctx, "limit", { min: 1 });
  const data = await adminGet(ctx, `/rooms${limit ? `?limit=${limit}` : ""}`);
  if (ctx.options.json) return printJson(data);
  if (data.rooms.length === 0) return out(`No rooms on ${ctx.url.origin} yet.`);
  out(table(["room", "version", "hub", "creator", "created"], data.rooms.map((r) => [r.room_id, r.room_version, r.hub_server, r.creator ?? "-", when(r.created_ts)])));
  out(`\n${data.rooms.length} room${data.rooms.length === 1 ? "" : "s"}`);
}

async function pair(ctx, roomId) {
  if (!ctx.options.user) throw usageError("--user <userId> is required: the room member the pairing is made for", "pair");
  const { token, source } = adminToken(ctx);
  const body = { user_id: ctx.options.user, preset: ctx.options.public ? "public_chat" : "private_chat" };
  // Not marked admin: a 403 here is usually the auth rules refusing --user, not the token.
  const { data } = await request(ctx, "POST", `${ADMIN_PREFIX}/rooms/${encodeURIComponent(roomId)}/pair`, { body, token, tokenSource: source });
  if (ctx.options.json) return printJson(data);
  out(fields([["room", data.room_id], ["paired with", data.peer_room_id]]));
}

async function room(ctx, roomId) {
  const data = await adminGet(ctx, `/rooms/${encodeURIComponent(roomId)}`);
  if (ctx.options.json) return printJson(data);
  out(
    fields([
      ["room", data.roomId],
      ["version", data.version],
      ["hub", `${data.hub}${data.isHub ? " (this server)" : ""}`],
      ["events", `${data.lastPos} (last timeline position)`],
      ["state", `${data.stateCount} state events`],
    ]),
  );
  out();
  if (data.outbox.length === 0) out("Outbox: empty (every destination has reported every event delivered)");
  else out(`Outbox (events not yet reported delivered):\n${table(["destination", "pending"], data.outbox.map((o) => [o.destination, String(o.count)]))}`);
}

async function events(ctx, roomId) {
  const from = intOption(ctx, "from");
  const limit = intOption(ctx, "limit", { min: 1 });
  const q = new URLSearchParams();
  if (from !== undefined) q.set("from", String(from));
  if (limit !== undefined) q.set("limit", String(limit));
  const qs = q.toString();
  const data = await adminGet(ctx, `/rooms/${encodeURIComponent(roomId)}/events${qs ? `?${qs}` : ""}`);
  if (ctx.options.json) return printJson(data);
  if (data.events.length === 0) return out(`No events${from ? ` after position ${from}` : ""}.`);
  out(table(["pos", "sender", "type", "content", "event_id"], data.events.map((e) => [String(e.pos), e.pdu.sender, e.pdu.type, clip(summarize(e.pdu)), e.event_id])));
  const last = data.events[data.events.length - 1].pos;
  const n = `${data.events.length} event${data.events.length === 1 ? "" : "s"}`;
  // A full page may have more after it; a short one reached the end of the timeline.
  out(data.events.length === (limit ?? 500) ? `\n${n}; next page: --from ${last}` : `\n${n} (end of timeline)`);
}

async function state(ctx, roomId) {
  const data = await adminGet(ctx, `/rooms/${encodeURIComponent(roomId)}/state`);
  if (ctx.options.json) return printJson(data);
  out(table(["type", "state_key", "sender", "content", "event_id"], data.state.map((e) => [e.pdu.type, e.pdu.state_key === "" ? '""' : e.pdu.state_key, e.pdu.sender, clip(summarize(e.pdu, { inState: true }), 50), e.event_id])));
  out(`\n${data.state.length} state event${data.state.length === 1 ? "" : "s"}`);
}

async function outbox(ctx, server) {
  const data = await adminGet(ctx, `/destinations/${encodeURIComponent(server)}`);
  if (ctx.options.json) return printJson(data);
  const owed = data.pendingByRoom ?? [];
  const never =
    data.lastSuccessTs === null && data.failures === 0 && data.queuedPdus === 0 && data.queuedEdus === 0 && !data.roomsWaiting && !data.pendingEvents && !data.inFlightTxn;
  if (never) return out(`No deliveries to ${server} yet: nothing queued, nothing sent.`);
  const retry = data.nextAttemptTs === null ? "-" : `${when(data.nextAttemptTs)}${data.nextAttemptTs > Date.now() ? ` (in ${Math.ceil((data.nextAttemptTs - Date.now()) / 1000)} s)` : ""}`;
  const rooms = `${owed.length} room${owed.length === 1 ? "" : "s"}${data.pendingPartial ? " (not every room was asked)" : ""}`;
  out(
    fields([
      ["destination", data.destination || server],
      ["pending events", data.pendingEvents === undefined ? "-" : `${data.pendingEvents}${data.pendingPartial ? "+" : ""} in ${rooms}, not yet reported delivered`],
      ["queued PDUs", String(data.queuedPdus)],
      ["queued EDUs", String(data.queuedEdus)],
      ["rooms queued", String(data.roomsWaiting ?? 0)],
      ["in flight", data.inFlightTxn ?? "-"],
      ["failures", String(data.failures)],
      ["next attempt", retry],
      ["last error", data.lastError ?? "-"],
      ["last success", when(data.lastSuccessTs)],
    ]),
  );
  if (owed.length > 0) out(`\nPending per room:\n${table(["room", "pending"], owed.map((o) => [o.roomId, String(o.count)]))}`);
}

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

function parseUrl(raw) {
  let url;
  try {
    url = new URL(raw);
  } catch {
    throw usageError(`--url must be an absolute http(s) URL, got ${JSON.stringify(raw)}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw usageError(`--url must be http or https, got ${url.protocol}`);
  return url;
}

async function main(argv) {
  // The command is the first bare word, skipping the values of global string options ("--url X rooms").
  let idx = -1;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--url" || a === "--admin-token") {
      i++;
      continue;
    }
    if (!a.startsWith("-")) {
      idx = i;
      break;
    }
  }
  if (idx === -1) {
    const { values } = parseCommand(argv, GLOBAL_OPTIONS, undefined);
    if (values.help) return out(mainUsage());
    throw usageError("No command given.");
  }
  const name = argv[idx];
  if (name === "help") {
    const topic = argv[idx + 1];
    return out(topic && Object.hasOwn(COMMANDS, topic) ? commandUsage(topic) : mainUsage());
  }
  if (!Object.hasOwn(COMMANDS, name)) throw usageError(`Unknown command "${name}".`);
  const command = COMMANDS[name];
  const rest = [...argv.slice(0, idx), ...argv.slice(idx + 1)];
  const { values, positionals } = parseCommand(rest, { ...GLOBAL_OPTIONS, ...command.options }, name);
  if (values.help) return out(commandUsage(name));
  if (positionals.length < command.positionals.length) {
    throw usageError(`Missing ${command.positionals.slice(positionals.length).map((p) => `<${p}>`).join(" ")}.`, name);
  }
  if (positionals.length > command.positionals.length) throw usageError(`Unexpected argument "${positionals[command.positionals.length]}".`, name);
  const ctx = { command: name, options: values, url: parseUrl(values.url ?? process.env.SWITCHBOARD_URL ?? DEFAULT_URL) };
  await command.run(ctx, ...positionals);
}

function parseCommand(args, options, name) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw usageError(String(err.message).replace(/\. To specify a positional argument.*$/s, "."), name);
  }
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (err) => {
    if (err instanceof CliError) {
      process.stderr.write(`switchboard: ${err.message}\n`);
      process.exit(err.exitCode);
    }
    process.stderr.write(`switchboard: unexpected error: ${err?.stack ?? err}\n`);
    process.exit(1);
  },
);
