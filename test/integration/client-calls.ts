// Client-API requests into the integration server with raw bodies and extra headers, plus the
// small steps (register, create, join, send) that the client-API behaviour test files share.
import { exports } from "cloudflare:workers";
import { expect } from "vitest";

export const SERVER = "hub.test";
export const C = "/_matrix/client/v3";

export interface CallOptions {
  body?: unknown;
  rawBody?: string;
  token?: string;
  headers?: Record<string, string>;
}

/** A request and its answer: status, parsed JSON and the response headers. */
export async function callWithHeaders(method: string, path: string, opts: CallOptions = {}) {
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

/** As callWithHeaders, without the headers, so whole answers compare with toEqual. */
export async function call(method: string, path: string, opts: CallOptions = {}) {
  const { status, json } = await callWithHeaders(method, path, opts);
  return { status, json };
}

let counter = 0;
/** A username no other test uses, so tests stay independent of order and of the rate limiter. */
export const uniqueName = (stem: string) => `${stem}${Date.now().toString(36)}${++counter}`;

export interface User {
  userId: string;
  token: string;
}

export async function register(stem: string): Promise<User> {
  const res = await call("POST", `${C}/register`, { body: { username: uniqueName(stem), password: "pw", auth: { type: "m.login.dummy" } } });
  expect(res.status).toBe(200);
  return { userId: res.json["user_id"] as string, token: res.json["access_token"] as string };
}

export const enc = encodeURIComponent;

export async function createRoom(u: User, body: Record<string, unknown> = {}): Promise<string> {
  const res = await call("POST", `${C}/createRoom`, { token: u.token, body });
  expect(res.status).toBe(200);
  return res.json["room_id"] as string;
}

export async function join(u: User, roomId: string): Promise<void> {
  const res = await call("POST", `${C}/join/${enc(roomId)}`, { token: u.token, body: {} });
  expect(res.status).toBe(200);
}

let txn = 0;
export async function send(u: User, roomId: string, text: string): Promise<string> {
  const res = await call("PUT", `${C}/rooms/${enc(roomId)}/send/m.room.message/t${++txn}`, { token: u.token, body: { msgtype: "m.text", body: text } });
  expect(res.status).toBe(200);
  return res.json["event_id"] as string;
}

export async function memberContent(u: User, roomId: string, target: string): Promise<Record<string, unknown>> {
  const res = await call("GET", `${C}/rooms/${enc(roomId)}/state/m.room.member/${enc(target)}`, { token: u.token });
  expect(res.status).toBe(200);
  return res.json;
}

export function expectError(res: { status: number; json: Record<string, unknown> }, status: number, errcode: string): void {
  expect({ status: res.status, errcode: res.json["errcode"] }).toEqual({ status, errcode });
}
