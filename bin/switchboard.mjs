#!/usr/bin/env node
// switchboard: the operator CLI for a Switchboard hub. Plain Node ESM, no build step.
// Talks to a hub's admin API (/_switchboard/admin/v1, Bearer ADMIN_TOKEN) and client API (register).
// Exit codes: 0 success, 1 failure (server error, unreachable, auth), 2 usage error.

import { parseArgs } from "node:util";
import { CliError, UsageError, usageError } from "./cli-errors.mjs";
import { adminCall } from "./cli-http.mjs";
import { out, printJson, table, when } from "./cli-output.mjs";
import { outboxCommands } from "./cli-outbox.mjs";
import { pairCommands } from "./cli-pair.mjs";
import { converterCommands } from "./cli-converter.mjs";
import { roomCommands } from "./cli-rooms.mjs";
import { setupCommands } from "./cli-setup.mjs";
import { mimiPeerCommands } from "./mimi-peers.mjs";

const DEFAULT_URL = "http://localhost:8787";

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
  ...setupCommands,
  ...roomCommands,
  ...pairCommands,
  ...converterCommands,
  ...outboxCommands,
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
    if (err instanceof UsageError) {
      process.stderr.write(`switchboard: ${err.message}\n\n${err.command ? commandUsage(err.command) : mainUsage()}\n`);
      process.exit(err.exitCode);
    }
    if (err instanceof CliError) {
      process.stderr.write(`switchboard: ${err.message}\n`);
      process.exit(err.exitCode);
    }
    process.stderr.write(`switchboard: unexpected error: ${err?.stack ?? err}\n`);
    process.exit(1);
  },
);
