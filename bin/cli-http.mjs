// HTTP for the switchboard CLI: requests to a hub, the admin token and friendly errors for failures.

import { existsSync, readdirSync, readFileSync } from "node:fs";
import { CliError, usageError } from "./cli-errors.mjs";

export const ADMIN_PREFIX = "/_switchboard/admin/v1";

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
export async function request(ctx, method, path, { body, token, tokenSource, admin = false } = {}) {
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

export function adminGet(ctx, path) {
  return adminCall(ctx, "GET", path);
}

/** `refusalMeansToken: false` where a 401/403 is the route's own answer (e.g. auth rules), not the token's. */
export function adminCall(ctx, method, path, body, { refusalMeansToken = true } = {}) {
  const { token, source } = adminToken(ctx);
  return request(ctx, method, `${ADMIN_PREFIX}${path}`, { body, token, tokenSource: source, admin: refusalMeansToken }).then((r) => r.data);
}

export function intOption(ctx, name, { min = 0 } = {}) {
  const v = ctx.options[name];
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < min) throw usageError(`--${name} must be a whole number${min > 0 ? ` of at least ${min}` : ""}, got ${JSON.stringify(v)}`, ctx.command);
  return Number(v);
}
