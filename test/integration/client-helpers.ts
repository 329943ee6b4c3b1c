// Client-API calls into the integration server, shared by the test files that only need to
// register users and make JSON requests.
import { exports } from "cloudflare:workers";

export const C = "/_matrix/client/v3";
export const enc = encodeURIComponent;

export async function call(method: string, path: string, token?: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const headers: Record<string, string> = {};
  if (token) headers["authorization"] = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await exports.default.fetch(new Request(`https://hub.test${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) }));
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

let n = 0;
/** A fresh user with a unique name built from `stem`. */
export async function register(stem: string): Promise<{ userId: string; token: string }> {
  const r = await call("POST", `${C}/register`, undefined, { username: `${stem}${++n}${Date.now().toString(36)}`, password: "pw-pw-pw-pw", auth: { type: "m.login.dummy" } });
  return { userId: r.json["user_id"] as string, token: r.json["access_token"] as string };
}
