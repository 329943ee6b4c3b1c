// Shared helpers of the account tests: requests to the hub, fresh users, logins and a snapshot of the account tables.

import { env, exports } from "cloudflare:workers";
import { expect } from "vitest";

export const SERVER = "hub.test";

export interface CallOptions {
  body?: unknown;
  rawBody?: string;
  token?: string;
  headers?: Record<string, string>;
}

export async function call(method: string, path: string, opts: CallOptions = {}) {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token !== undefined) headers["authorization"] = `Bearer ${opts.token}`;
  let body: string | undefined = opts.rawBody;
  if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers["content-type"] = "application/json";
  }
  const res = await exports.default.fetch(new Request(`https://${SERVER}${path}`, { method, headers, body }));
  const json = (await res.json()) as Record<string, unknown>;
  return { status: res.status, json, headers: res.headers };
}

let counter = 0;
/** A username no other test uses, so tests stay independent of order and of the rate limiter. */
export const uniqueName = (stem: string) => `${stem}${Date.now().toString(36)}${++counter}`;

export interface Session {
  user_id: string;
  access_token: string;
  device_id: string;
}

export async function registerUser(username: string, password = "pw-" + username, extra: Record<string, unknown> = {}): Promise<Session> {
  const res = await call("POST", "/_matrix/client/v3/register", {
    body: { username, password, auth: { type: "m.login.dummy" }, ...extra },
  });
  expect(res.status).toBe(200);
  return res.json as unknown as Session;
}

export async function login(body: Record<string, unknown>, headers: Record<string, string> = {}, prefix = "v3") {
  return call("POST", `/_matrix/client/${prefix}/login`, { body: { type: "m.login.password", ...body }, headers });
}

/** Every account row, so a test can show that a rejected request stored nothing. */
export async function snapshot(): Promise<string> {
  const tables = ["users", "devices", "access_tokens"];
  const out: Record<string, unknown> = {};
  for (const t of tables) out[t] = (await env.DB.prepare(`SELECT * FROM ${t} ORDER BY 1, 2`).all()).results;
  return JSON.stringify(out);
}

export async function sha256Hex(s: string): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(s)));
  return [...d].map((b) => b.toString(16).padStart(2, "0")).join("");
}
