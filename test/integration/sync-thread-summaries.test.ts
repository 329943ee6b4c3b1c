// Thread roots in /sync and sliding sync timelines carry the thread summary in
// unsigned.m.relations.m.thread, as /messages and /event serve them, so a client shows a thread's
// reply count and latest reply without fetching it.
import { describe, expect, it } from "vitest";
import { C, call, enc, register } from "./client-helpers.js";

const SS = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync";
let txn = 0;

interface TimelineEvent {
  event_id: string;
  unsigned?: { "m.relations"?: { "m.thread"?: { count: number; current_user_participated: boolean; latest_event: { event_id: string; content: Record<string, unknown> } } } };
}

async function send(token: string, roomId: string, content: Record<string, unknown>): Promise<string> {
  const res = await call("PUT", `${C}/rooms/${enc(roomId)}/send/m.room.message/ts${++txn}`, token, content);
  expect(res.status, JSON.stringify(res.json)).toBe(200);
  return res.json["event_id"] as string;
}

const reply = (root: string, body: string) => ({ msgtype: "m.text", body, "m.relates_to": { rel_type: "m.thread", event_id: root, is_falling_back: true, "m.in_reply_to": { event_id: root } } });
const summaryOf = (events: TimelineEvent[], id: string) => events.find((e) => e.event_id === id)?.unsigned?.["m.relations"]?.["m.thread"];

/** A room where b started a thread on a's root, then a replied: two replies, the latest a's. */
async function threadRoom() {
  const a = await register("tsa");
  const b = await register("tsb");
  const roomId = (await call("POST", `${C}/createRoom`, a.token, { preset: "public_chat" })).json["room_id"] as string;
  expect((await call("POST", `${C}/join/${enc(roomId)}`, b.token, {})).status).toBe(200);
  const root = await send(a.token, roomId, { msgtype: "m.text", body: "root" });
  const plain = await send(a.token, roomId, { msgtype: "m.text", body: "not a thread" });
  await send(b.token, roomId, reply(root, "first"));
  const latest = await send(a.token, roomId, reply(root, "second"));
  return { a, b, roomId, root, plain, latest };
}

describe("thread summaries in sync timelines", () => {
  it("bundles the summary into a root in a /sync timeline, per user, and leaves other events alone", async () => {
    const { a, b, roomId, root, plain, latest } = await threadRoom();
    for (const [user, participated] of [
      [a, true],
      [b, true],
    ] as const) {
      const r = await call("GET", `${C}/sync`, user.token);
      expect(r.status).toBe(200);
      const events = (r.json["rooms"] as { join: Record<string, { timeline: { events: TimelineEvent[] } }> }).join[roomId]?.timeline.events ?? [];
      const s = summaryOf(events, root);
      expect(s).toMatchObject({ count: 2, current_user_participated: participated, latest_event: { event_id: latest, content: { body: "second" } } });
      expect(summaryOf(events, plain)).toBeUndefined();
    }
    // Someone who joined and did not reply has not participated.
    const c = await register("tsc");
    expect((await call("POST", `${C}/join/${enc(roomId)}`, c.token, {})).status).toBe(200);
    const r = await call("GET", `${C}/sync`, c.token);
    const events = (r.json["rooms"] as { join: Record<string, { timeline: { events: TimelineEvent[] } }> }).join[roomId]?.timeline.events ?? [];
    expect(summaryOf(events, root)).toMatchObject({ count: 2, current_user_participated: false });
  });

  it("bundles the summary into a root in a sliding sync room timeline", async () => {
    const { a, roomId, root, plain, latest } = await threadRoom();
    const r = await call("POST", SS, a.token, { conn_id: "main", room_subscriptions: { [roomId]: { timeline_limit: 10, required_state: [] } } });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const events = (r.json["rooms"] as Record<string, { timeline: TimelineEvent[] }>)[roomId]?.timeline ?? [];
    expect(summaryOf(events, root)).toMatchObject({ count: 2, current_user_participated: true, latest_event: { event_id: latest } });
    expect(summaryOf(events, plain)).toBeUndefined();
  });
});
