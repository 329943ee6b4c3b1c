// The Room Durable Object evicted (every instance aborted) in the middle of a stream of client sends:
// what was acknowledged stays, the timeline keeps contiguous positions, and work queued behind the
// acknowledgement (the outbox) is still done after the eviction.

import { abortAllDurableObjects, runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

const SERVER = "hub.test";

async function call(method: string, path: string, token?: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const headers: Record<string, string> = {};
  if (token !== undefined) headers["authorization"] = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await exports.default.fetch(
    new Request(`https://${SERVER}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) }),
  );
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = { raw: text };
  }
  return { status: res.status, json };
}

let counter = 0;
async function registerUser(stem: string): Promise<string> {
  const username = `${stem}${Date.now().toString(36)}${++counter}`;
  const res = await call("POST", "/_matrix/client/v3/register", undefined, { username, password: `pw-${username}`, auth: { type: "m.login.dummy" } });
  expect(res.status).toBe(200);
  return res.json["access_token"] as string;
}

async function createRoom(token: string): Promise<string> {
  const res = await call("POST", "/_matrix/client/v3/createRoom", token, { name: "eviction" });
  expect(res.status).toBe(200);
  return res.json["room_id"] as string;
}

/** One message send; the event ID when acknowledged, undefined when the eviction cut it off. */
async function send(token: string, roomId: string, body: string): Promise<string | undefined> {
  try {
    const res = await call("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/m.room.message/${encodeURIComponent(body)}`, token, {
      msgtype: "m.text",
      body,
    });
    return res.status === 200 ? (res.json["event_id"] as string) : undefined;
  } catch {
    return undefined;
  }
}

interface TimelineRow {
  pos: number;
  eventId: string;
  json: string;
}

async function timeline(roomId: string): Promise<TimelineRow[]> {
  return env.ROOM.get(env.ROOM.idFromName(roomId)).timeline({ dir: "f", limit: 1000, from: 0 });
}

/** The live Room instance (a fresh stub each time: stubs from before an abort are broken). */
async function roomInstance(roomId: string): Promise<unknown> {
  return runInDurableObject(env.ROOM.get(env.ROOM.idFromName(roomId)), (instance) => instance);
}

function expectContiguous(rows: TimelineRow[]): void {
  const ids = rows.map((r) => r.eventId);
  expect(new Set(ids).size).toBe(ids.length);
  expect(rows.map((r) => r.pos)).toEqual(rows.map((_, i) => i + 1));
  for (let i = 1; i < rows.length; i++) {
    expect((JSON.parse((rows[i] as TimelineRow).json) as { prev_events: string[] }).prev_events).toEqual([ids[i - 1]]);
  }
}

describe("a room whose Durable Object is evicted mid-stream", () => {
  it("keeps every acknowledged send, once, at contiguous positions", async () => {
    const token = await registerUser("evict");
    const roomId = await createRoom(token);
    const acked: string[] = [];
    let cutOff = 0;
    for (let i = 0; i < 10; i++) {
      const id = await send(token, roomId, `before ${i}`);
      expect(id).toBeDefined();
      acked.push(id as string);
    }
    const original = await roomInstance(roomId);
    // Five sends in flight when every Durable Object is aborted; some may be cut off.
    const inFlight = Array.from({ length: 5 }, (_, i) => send(token, roomId, `during ${i}`));
    await abortAllDurableObjects();
    for (const id of await Promise.all(inFlight)) {
      if (id === undefined) cutOff++;
      else acked.push(id);
    }
    // The sends after the abort reached a new instance, which reloaded the room from storage.
    expect(await roomInstance(roomId)).not.toBe(original);
    for (let i = 0; i < 10; i++) {
      const id = await send(token, roomId, `after ${i}`);
      expect(id).toBeDefined();
      acked.push(id as string);
    }
    // And once more, straight after an acknowledgement.
    await abortAllDurableObjects();
    for (let i = 0; i < 5; i++) {
      const id = await send(token, roomId, `last ${i}`);
      expect(id).toBeDefined();
      acked.push(id as string);
    }

    const rows = await timeline(roomId);
    expectContiguous(rows);
    const ids = rows.map((r) => r.eventId);
    for (const id of acked) expect(ids.filter((x) => x === id).length, id).toBe(1);
    const bodies = rows.map((r) => (JSON.parse(r.json) as { content: { body?: string } }).content.body).filter((b) => b !== undefined);
    expect(new Set(bodies).size).toBe(bodies.length);
    // A cut-off send may or may not have been stored; nothing else may appear.
    expect(bodies.length).toBeGreaterThanOrEqual(acked.length);
    expect(bodies.length).toBeLessThanOrEqual(acked.length + cutOff);
    expect(acked.length + cutOff).toBe(30);
  });

  it("still indexes events acknowledged just before an eviction, without further sends", async () => {
    const token = await registerUser("index");
    const roomId = await createRoom(token);
    const acked = await Promise.all(Array.from({ length: 10 }, (_, i) => send(token, roomId, `indexed ${i}`)));
    await abortAllDurableObjects();
    expect(acked.every((id) => id !== undefined)).toBe(true);
    const deadline = Date.now() + 8_000;
    let missing: string[] = [];
    for (;;) {
      const found = new Set(
        (await env.DB.prepare(`SELECT event_id FROM event_rooms WHERE room_id = ?`).bind(roomId).all<{ event_id: string }>()).results.map((r) => r.event_id),
      );
      missing = (acked as string[]).filter((id) => !found.has(id));
      if (missing.length === 0 || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(missing).toEqual([]);
  });
});
