// Client-API helpers for the key-distribution integration tests (one Switchboard in workerd).

import { exports } from "cloudflare:workers";
import { expect } from "vitest";
import { KeyDevice } from "../support/e2ee-keys.js";

export const SERVER = "hub.test";
export const C = "/_matrix/client/v3";
export const enc = encodeURIComponent;

export interface Res {
  status: number;
  json: Record<string, unknown>;
}

export async function call(method: string, path: string, opts: { token?: string; body?: unknown; rawBody?: string } = {}): Promise<Res> {
  const headers: Record<string, string> = {};
  if (opts.token !== undefined) headers["authorization"] = `Bearer ${opts.token}`;
  let body = opts.rawBody;
  if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers["content-type"] = "application/json";
  }
  const res = await exports.default.fetch(new Request(`https://${SERVER}${path}`, { method, headers, body }));
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

export function expectError(res: Res, status: number, errcode: string): void {
  expect({ status: res.status, errcode: res.json["errcode"] }).toEqual({ status, errcode });
}

let counter = 0;
export const uniqueName = (stem: string) => `${stem}${Date.now().toString(36)}${++counter}`;

/** A logged-in device of a user, with keys it can publish. */
export interface Session {
  userId: string;
  deviceId: string;
  token: string;
  keys: KeyDevice;
  password: string;
}

export async function register(stem: string, deviceId = "DEV1"): Promise<Session> {
  const password = "pw";
  const res = await call("POST", `${C}/register`, { body: { username: uniqueName(stem), password, device_id: deviceId, auth: { type: "m.login.dummy" } } });
  expect(res.status).toBe(200);
  const userId = res.json["user_id"] as string;
  return { userId, deviceId, token: res.json["access_token"] as string, keys: await KeyDevice.create(userId, deviceId), password };
}

/** Logs the same user in on another device. */
export async function login(s: Session, deviceId: string, displayName?: string): Promise<Session> {
  const res = await call("POST", `${C}/login`, {
    body: { type: "m.login.password", identifier: { type: "m.id.user", user: s.userId }, password: s.password, device_id: deviceId, initial_device_display_name: displayName },
  });
  expect(res.status).toBe(200);
  return { ...s, deviceId, token: res.json["access_token"] as string, keys: await KeyDevice.create(s.userId, deviceId) };
}

export async function upload(s: Session, body: Record<string, unknown>): Promise<Res> {
  return call("POST", `${C}/keys/upload`, { token: s.token, body });
}

export async function uploadOk(s: Session, body: Record<string, unknown>): Promise<Record<string, number>> {
  const res = await upload(s, body);
  expect(res.status, JSON.stringify(res.json)).toBe(200);
  return res.json["one_time_key_counts"] as Record<string, number>;
}

export async function claim(s: Session, request: Record<string, Record<string, string>>): Promise<Record<string, Record<string, Record<string, unknown>>>> {
  const res = await call("POST", `${C}/keys/claim`, { token: s.token, body: { one_time_keys: request } });
  expect(res.status, JSON.stringify(res.json)).toBe(200);
  return res.json["one_time_keys"] as Record<string, Record<string, Record<string, unknown>>>;
}

export interface SyncBody {
  next_batch: string;
  to_device: { events: Array<{ sender: string; type: string; content: Record<string, unknown> }> };
  device_lists: { changed: string[]; left: string[] };
  device_one_time_keys_count: Record<string, number>;
  device_unused_fallback_key_types: string[];
  rooms: { join: Record<string, unknown>; leave: Record<string, unknown> };
}

export async function sync(s: Session, since?: string, timeout = 0): Promise<SyncBody> {
  const res = await call("GET", `${C}/sync?timeout=${timeout}${since ? `&since=${since}` : ""}`, { token: s.token });
  expect(res.status, JSON.stringify(res.json)).toBe(200);
  return res.json as unknown as SyncBody;
}

export async function createRoom(s: Session): Promise<string> {
  const res = await call("POST", `${C}/createRoom`, { token: s.token, body: { preset: "public_chat" } });
  expect(res.status).toBe(200);
  return res.json["room_id"] as string;
}

export async function join(s: Session, roomId: string): Promise<void> {
  const res = await call("POST", `${C}/join/${enc(roomId)}`, { token: s.token, body: {} });
  expect(res.status, JSON.stringify(res.json)).toBe(200);
}

export async function leave(s: Session, roomId: string): Promise<void> {
  const res = await call("POST", `${C}/rooms/${enc(roomId)}/leave`, { token: s.token, body: {} });
  expect(res.status, JSON.stringify(res.json)).toBe(200);
}
