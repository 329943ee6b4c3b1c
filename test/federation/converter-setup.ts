// The converter tests' shared step: pairing an LM room through the hub's admin API.

import { expect } from "vitest";
import type { TestServer } from "./harness.js";

/** The admin token the harness gives every server (ADMIN_TOKEN). */
const ADMIN_HEADERS = { authorization: "Bearer test-admin-token", "content-type": "application/json" };

/** POSTs `body` to `path` on `server` as its admin: the status and the JSON answer. */
export async function adminPost(server: TestServer, path: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await server.fetch(path, { method: "POST", headers: ADMIN_HEADERS, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** Pairs the LM room `lm` on `hub` with a new public v12 room on behalf of `userId`; the v12 room's ID. */
export async function pairPublic(hub: TestServer, lm: string, userId: string): Promise<string> {
  const res = await adminPost(hub, `/_switchboard/admin/v1/rooms/${encodeURIComponent(lm)}/pair`, { user_id: userId, preset: "public_chat" });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body["peer_room_id"] as string;
}
