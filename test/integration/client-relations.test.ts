// Relations and threads through the client API in workerd: an event's children by relation type and
// event type with pagination both ways, thread roots by latest activity, and the thread summary
// bundled into a root's unsigned.m.relations (in /relations, /threads, /event and /messages; sync timelines: sync-thread-summaries.test.ts).
import { describe, expect, it } from "vitest";
import { C, call, enc, register } from "./client-helpers.js";

const V1 = "/_matrix/client/v1";
let txn = 0;

async function send(token: string, roomId: string, type: string, content: Record<string, unknown>): Promise<string> {
  const res = await call("PUT", `${C}/rooms/${enc(roomId)}/send/${type}/r${++txn}`, token, content);
  expect(res.status, JSON.stringify(res.json)).toBe(200);
  return res.json["event_id"] as string;
}

const threadReply = (root: string, body: string) => ({ msgtype: "m.text", body, "m.relates_to": { rel_type: "m.thread", event_id: root, is_falling_back: true, "m.in_reply_to": { event_id: root } } });
const ids = (chunk: unknown) => (chunk as Array<{ event_id: string }>).map((e) => e.event_id);

describe("relations and threads", () => {
  it("lists an event's children newest first, filtered by rel_type and event type, and pages through them both ways", async () => {
    const a = await register("rel");
    const roomId = (await call("POST", `${C}/createRoom`, a.token, {})).json["room_id"] as string;
    const root = await send(a.token, roomId, "m.room.message", { msgtype: "m.text", body: "root" });
    const r1 = await send(a.token, roomId, "m.room.message", threadReply(root, "one"));
    const like = await send(a.token, roomId, "m.reaction", { "m.relates_to": { rel_type: "m.annotation", event_id: root, key: "👍" } });
    const r2 = await send(a.token, roomId, "m.room.message", threadReply(root, "two"));
    const edit = await send(a.token, roomId, "m.room.message", { msgtype: "m.text", body: "* root!", "m.new_content": { msgtype: "m.text", body: "root!" }, "m.relates_to": { rel_type: "m.replace", event_id: root } });
    await send(a.token, roomId, "m.room.message", { msgtype: "m.text", body: "unrelated" });
    const base = `${V1}/rooms/${enc(roomId)}/relations/${enc(root)}`;

    expect(ids((await call("GET", base, a.token)).json["chunk"])).toEqual([edit, r2, like, r1]);
    expect(ids((await call("GET", `${base}/m.thread`, a.token)).json["chunk"])).toEqual([r2, r1]);
    expect(ids((await call("GET", `${base}/m.annotation/m.reaction`, a.token)).json["chunk"])).toEqual([like]);
    expect(ids((await call("GET", `${base}/m.annotation/m.room.message`, a.token)).json["chunk"])).toEqual([]);
    expect(ids((await call("GET", `${base}/m.replace`, a.token)).json["chunk"])).toEqual([edit]);

    const page1 = await call("GET", `${base}?limit=2`, a.token);
    expect(ids(page1.json["chunk"])).toEqual([edit, r2]);
    const next = page1.json["next_batch"] as string;
    const page2 = await call("GET", `${base}?limit=2&from=${next}`, a.token);
    expect(ids(page2.json["chunk"])).toEqual([like, r1]);
    expect(page2.json["prev_batch"]).toBe(next);
    const page3 = await call("GET", `${base}?limit=2&from=${page2.json["next_batch"] as string}`, a.token);
    expect(page3.json).toEqual({ chunk: [], prev_batch: page2.json["next_batch"] });
    expect(ids((await call("GET", `${base}?dir=f&limit=3`, a.token)).json["chunk"])).toEqual([r1, like, r2]);

    // Errors: bad tokens and parameters, and a room the caller is not in.
    const stranger = await register("relstranger");
    expect((await call("GET", base, stranger.token)).json["errcode"]).toBe("M_FORBIDDEN");
    expect((await call("GET", `${base}?from=s12`, a.token)).json["errcode"]).toBe("M_INVALID_PARAM");
    expect((await call("GET", `${base}?dir=x`, a.token)).json["errcode"]).toBe("M_INVALID_PARAM");
    expect((await call("GET", `${V1}/rooms/${enc(roomId)}/relations/notanevent`, a.token)).json["errcode"]).toBe("M_INVALID_PARAM");
  });

  it("bundles a thread summary into the root wherever the root is served, and lists threads by latest activity", async () => {
    const a = await register("thr");
    const b = await register("thrb");
    const roomId = (await call("POST", `${C}/createRoom`, a.token, { preset: "public_chat" })).json["room_id"] as string;
    expect((await call("POST", `${C}/join/${enc(roomId)}`, b.token, {})).status).toBe(200);
    const rootA = await send(a.token, roomId, "m.room.message", { msgtype: "m.text", body: "a's root" });
    const rootB = await send(b.token, roomId, "m.room.message", { msgtype: "m.text", body: "b's root" });
    await send(b.token, roomId, "m.room.message", threadReply(rootA, "b replies to a"));
    const latest = await send(b.token, roomId, "m.room.message", threadReply(rootA, "b again"));
    await send(b.token, roomId, "m.room.message", threadReply(rootB, "b in own thread"));

    const event = await call("GET", `${C}/rooms/${enc(roomId)}/event/${enc(rootA)}`, a.token);
    const thread = ((event.json["unsigned"] as Record<string, unknown>)["m.relations"] as Record<string, { count: number; current_user_participated: boolean; latest_event: { event_id: string; content: { body: string } } }>)["m.thread"];
    expect(thread?.count).toBe(2);
    expect(thread?.latest_event.event_id).toBe(latest);
    expect(thread?.latest_event.content.body).toBe("b again");
    // a wrote the root: a took part; for b's thread, a did not.
    expect(thread?.current_user_participated).toBe(true);
    const messages = await call("GET", `${C}/rooms/${enc(roomId)}/messages?dir=b&limit=50`, a.token);
    const rootBSeen = (messages.json["chunk"] as Array<{ event_id: string; unsigned: Record<string, unknown> }>).find((e) => e.event_id === rootB);
    expect((rootBSeen?.unsigned["m.relations"] as Record<string, { current_user_participated: boolean; count: number }>)["m.thread"]).toMatchObject({ count: 1, current_user_participated: false });
    // A plain event gets no summary.
    const plain = (messages.json["chunk"] as Array<{ event_id: string; unsigned: Record<string, unknown> }>).find((e) => e.event_id === latest);
    expect(plain?.unsigned["m.relations"]).toBeUndefined();

    const all = await call("GET", `${V1}/rooms/${enc(roomId)}/threads`, a.token);
    expect(ids(all.json["chunk"])).toEqual([rootB, rootA]);
    expect(((all.json["chunk"] as Array<{ unsigned: Record<string, unknown> }>)[0]?.unsigned["m.relations"] as Record<string, { count: number }>)["m.thread"]?.count).toBe(1);
    const mine = await call("GET", `${V1}/rooms/${enc(roomId)}/threads?include=participated`, a.token);
    expect(ids(mine.json["chunk"])).toEqual([]);
    const bs = await call("GET", `${V1}/rooms/${enc(roomId)}/threads?include=participated`, b.token);
    expect(ids(bs.json["chunk"])).toEqual([rootB, rootA]);
    const first = await call("GET", `${V1}/rooms/${enc(roomId)}/threads?limit=1`, a.token);
    expect(ids(first.json["chunk"])).toEqual([rootB]);
    const second = await call("GET", `${V1}/rooms/${enc(roomId)}/threads?limit=1&from=${first.json["next_batch"] as string}`, a.token);
    expect(ids(second.json["chunk"])).toEqual([rootA]);
    expect((await call("GET", `${V1}/rooms/${enc(roomId)}/threads?include=mine`, a.token)).json["errcode"]).toBe("M_INVALID_PARAM");
  });
});
