// /messages in a room hosted here, paged backwards from every token the spec allows as `from`: a
// /sync next_batch, a timeline prev_batch, a previous page's end, and none. Each walk must return
// every event the user may see exactly once, newest first, down to the create event; and history
// visibility decides what "may see" means.

import { env } from "cloudflare:workers";
import { C, call, enc, register } from "./client-helpers.js";
import { describe, expect, it } from "vitest";

let sent = 0;
async function send(roomId: string, token: string, body: string): Promise<string> {
  const r = await call("PUT", `${C}/rooms/${enc(roomId)}/send/m.room.message/${body}-${++sent}`, token, { msgtype: "m.text", body });
  expect(r.status).toBe(200);
  return r.json["event_id"] as string;
}

type Page = { chunk: Array<{ event_id: string; type: string }>; start: string; end?: string };

/** Every page backwards from `from` (none: the newest), following `end` until it is absent. */
async function walkBack(roomId: string, token: string, from: string | undefined, limit = 7): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < 200; i++) {
    const q = `dir=b&limit=${limit}${from === undefined ? "" : `&from=${enc(from)}`}`;
    const r = await call("GET", `${C}/rooms/${enc(roomId)}/messages?${q}`, token);
    expect(r.status).toBe(200);
    const page = r.json as unknown as Page;
    ids.push(...page.chunk.map((e) => e.event_id));
    if (page.end === undefined) return ids;
    from = page.end;
  }
  throw new Error("pagination did not end");
}

/** The room's whole timeline as the Room object holds it, newest first. */
async function timelineNewestFirst(roomId: string): Promise<string[]> {
  const rows = await env.ROOM.get(env.ROOM.idFromName(roomId)).timeline({ dir: "f", from: 0, limit: 1000 });
  return rows.map((r) => r.eventId).reverse();
}

async function sync(token: string, since?: string) {
  const r = await call("GET", `${C}/sync?timeout=0${since ? `&since=${since}` : ""}`, token);
  expect(r.status).toBe(200);
  return r.json as { next_batch: string; rooms: { join: Record<string, { timeline: { events: Array<{ event_id: string }>; prev_batch: string; limited: boolean } }> } };
}

describe("/messages backwards from each kind of token, in a room hosted here", () => {
  it("returns every event exactly once, newest first, down to the create event, from next_batch, prev_batch, end and no token", async () => {
    const alice = await register("pager");
    const bob = await register("newcomer");
    const roomId = (await call("POST", `${C}/createRoom`, alice.token, { preset: "public_chat", name: "Pages" })).json["room_id"] as string;
    for (let i = 0; i < 35; i++) await send(roomId, alice.token, `m${i}`);
    // bob's stream is young: his next_batch is a small number, far below the room's positions.
    expect((await call("POST", `${C}/join/${enc(roomId)}`, bob.token, {})).status).toBe(200);
    const first = await sync(bob.token);
    const timeline = first.rooms.join[roomId]?.timeline;
    expect(timeline?.limited).toBe(true);
    const all = await timelineNewestFirst(roomId);
    expect(all.length).toBeGreaterThan(40);

    // Events after the sync must not show up when paging from its next_batch.
    await send(roomId, alice.token, "after-the-sync");
    const sinceSync = await walkBack(roomId, bob.token, first.next_batch);
    expect(sinceSync).toEqual(all);

    // prev_batch: everything before the sync's timeline.
    const shown = (timeline?.events ?? []).map((e) => e.event_id);
    const fromPrev = await walkBack(roomId, bob.token, timeline?.prev_batch);
    expect([...fromPrev]).toEqual(all.slice(shown.length));

    // No token: from the newest, the event sent after the sync included.
    const now = await timelineNewestFirst(roomId);
    expect(await walkBack(roomId, bob.token, undefined)).toEqual(now);

    // A previous page's end, walked by walkBack itself above; and from one taken mid-way.
    const firstPage = (await call("GET", `${C}/rooms/${enc(roomId)}/messages?dir=b&limit=10&from=${enc(first.next_batch)}`, bob.token)).json as unknown as Page;
    expect(firstPage.chunk.map((e) => e.event_id)).toEqual(all.slice(0, 10));
    expect(await walkBack(roomId, bob.token, firstPage.end, 9)).toEqual(all.slice(10));
    expect(all[all.length - 1]).toBe((await call("GET", `${C}/rooms/${enc(roomId)}/state/m.room.create/?format=event`, bob.token)).json["event_id"]);

    // A later incremental sync's next_batch pins the later position.
    const second = await sync(bob.token, first.next_batch);
    expect(await walkBack(roomId, bob.token, second.next_batch)).toEqual(now);
  });

  it("answers a token it did not make with 400 M_INVALID_PARAM", async () => {
    const alice = await register("garbage");
    const roomId = (await call("POST", `${C}/createRoom`, alice.token, {})).json["room_id"] as string;
    const { next_batch } = await sync(alice.token);
    const ahead = `s${Number(next_batch.slice(1)) + 1_000}`;
    for (const token of ["x12", "p1x", "s", "s-1", "p", ahead, "s12_34"]) {
      const r = await call("GET", `${C}/rooms/${enc(roomId)}/messages?dir=b&from=${enc(token)}`, alice.token);
      expect([token, r.status, r.json["errcode"]]).toEqual([token, 400, "M_INVALID_PARAM"]);
    }
  });
});

describe("history visibility in /messages, in a room hosted here", () => {
  async function roomWith(visibility: string) {
    const alice = await register("host");
    const bob = await register("late");
    const roomId = (await call("POST", `${C}/createRoom`, alice.token, { preset: "public_chat", initial_state: [{ type: "m.room.history_visibility", state_key: "", content: { history_visibility: visibility } }] })).json["room_id"] as string;
    const before = [await send(roomId, alice.token, "before-1"), await send(roomId, alice.token, "before-2")];
    expect((await call("POST", `${C}/join/${enc(roomId)}`, bob.token, {})).status).toBe(200);
    const after = [await send(roomId, alice.token, "after-1")];
    return { alice, bob, roomId, before, after };
  }

  it("with joined, a newly joined user pages back to their own join and no further; the creator sees it all", async () => {
    const { alice, bob, roomId, before, after } = await roomWith("joined");
    const seen = await walkBack(roomId, bob.token, undefined, 3);
    const all = await timelineNewestFirst(roomId);
    // Everything but the messages sent while "joined" applied and bob was not in: the room's
    // opening events came before the setting (the default, shared, applied to them).
    expect(seen[0]).toBe(after[0]);
    expect(seen).toEqual(all.filter((id) => !before.includes(id)));
    expect(await walkBack(roomId, alice.token, undefined, 3)).toEqual(all);
  });

  it("with shared, a newly joined user sees what came before their join", async () => {
    const { bob, roomId, before } = await roomWith("shared");
    const seen = await walkBack(roomId, bob.token, undefined, 3);
    expect(seen).toEqual(await timelineNewestFirst(roomId));
    for (const id of before) expect(seen).toContain(id);
  });

  it("with invited, a user sees from their invite on, not before it", async () => {
    const alice = await register("host");
    const bob = await register("guest");
    const roomId = (await call("POST", `${C}/createRoom`, alice.token, { initial_state: [{ type: "m.room.history_visibility", state_key: "", content: { history_visibility: "invited" } }] })).json["room_id"] as string;
    const hidden = await send(roomId, alice.token, "before-invite");
    expect((await call("POST", `${C}/rooms/${enc(roomId)}/invite`, alice.token, { user_id: bob.userId })).status).toBe(200);
    const between = await send(roomId, alice.token, "after-invite");
    expect((await call("POST", `${C}/join/${enc(roomId)}`, bob.token, {})).status).toBe(200);
    const seen = await walkBack(roomId, bob.token, undefined, 2);
    expect(seen).toContain(between);
    expect(seen).not.toContain(hidden);
  });
});
