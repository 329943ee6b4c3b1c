// Shared helpers of the account tests: requests to the hub, fresh users, logins and a snapshot of the account tables.

import { env } from "cloudflare:workers";
import { expect } from "vitest";

// The request helper (with headers: the login tests read Retry-After) and unique names are the client-API tests' own.
export { callWithHeaders as call, SERVER, uniqueName, type CallOptions } from "./client-calls.js";
import { callWithHeaders as call } from "./client-calls.js";

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
