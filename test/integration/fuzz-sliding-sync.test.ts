// Sliding sync bodies built to be almost right: lists, ranges, required_state, filters,
// subscriptions and extensions whose parts have random shapes and types, on both paths, with and
// without pos. Every answer must be JSON (an M_ errcode on errors), never a 500. The generic
// barrage of fuzz-client-endpoints.test.ts covers these routes with malformed and wrong-typed top levels.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { C, call, enc, register } from "./client-helpers.js";

describe("fuzzing sliding sync request bodies", () => {
  it("answers wrong-typed lists, ranges, required_state, filters and extensions with JSON, never a 500", async () => {
    const u = await register("fuzzss");
    const room = await call("POST", `${C}/createRoom`, u.token, { name: "Fuzz" });
    const roomId = room.json["room_id"] as string;
    const start = await call("POST", "/_matrix/client/v4/sync", u.token, { conn_id: "fz" });
    const pos = start.json["pos"] as string;
    const any = fc.oneof(fc.integer({ min: -5, max: 1e9 }), fc.boolean(), fc.constant(null), fc.string({ maxLength: 6 }), fc.array(fc.integer({ min: -3, max: 30 }), { maxLength: 3 }), fc.constant({}));
    const range = fc.oneof(any, fc.array(fc.oneof(any, fc.tuple(fc.integer({ min: -3, max: 50 }), fc.integer({ min: -3, max: 50 }))), { maxLength: 3 }));
    const pairs = fc.array(fc.oneof(any, fc.tuple(fc.constantFrom("*", "m.room.member", "m.room.name"), fc.constantFrom("*", "$LAZY", "$ME", ""))), { maxLength: 4 });
    const msc = fc.record({ include: fc.oneof(any, fc.array(fc.record({ type: any, state_key: any }, { requiredKeys: [] }), { maxLength: 2 })), lazy_members: any }, { requiredKeys: [] });
    const filters = fc.oneof(any, fc.dictionary(fc.constantFrom("is_dm", "is_encrypted", "is_invite", "is_invited", "room_types", "not_room_types"), fc.oneof(any, fc.array(fc.oneof(fc.constant(null), fc.string({ maxLength: 4 })), { maxLength: 2 }))));
    const list = fc.record({ ranges: range, range, timeline_limit: any, required_state: fc.oneof(any, pairs, msc), filters }, { requiredKeys: [] });
    const extension = fc.oneof(any, fc.record({ enabled: any, since: any, limit: any, lists: any, rooms: any }, { requiredKeys: [] }));
    const body = fc.record(
      {
        conn_id: fc.oneof(any, fc.constant("fz"), fc.string({ maxLength: 300 })),
        lists: fc.oneof(any, fc.dictionary(fc.string({ maxLength: 4 }), fc.oneof(any, list), { maxKeys: 3 })),
        room_subscriptions: fc.oneof(any, fc.dictionary(fc.constantFrom(roomId, "!x:nowhere", "bad"), fc.oneof(any, list), { maxKeys: 2 })),
        extensions: fc.oneof(any, fc.dictionary(fc.constantFrom("to_device", "e2ee", "account_data", "receipts", "typing"), extension)),
      },
      { requiredKeys: [] },
    );
    const paths = fc.constantFrom("/_matrix/client/unstable/org.matrix.simplified_msc3575/sync", "/_matrix/client/v4/sync", `/_matrix/client/v4/sync?pos=${enc(pos)}&timeout=0`, "/_matrix/client/v4/sync?timeout=1e99", "/_matrix/client/v4/sync?pos=%00");
    const problems: string[] = [];
    const statuses = new Set<number>();
    for (const [path, content] of fc.sample(fc.tuple(paths, body), 150)) {
      const r = await call("POST", path, u.token, content);
      statuses.add(r.status);
      const errcode = r.json["errcode"];
      if (r.status >= 500 || (r.status >= 400 && !(typeof errcode === "string" && errcode.startsWith("M_")))) problems.push(`${path} ${JSON.stringify(content).slice(0, 200)} -> ${r.status} ${JSON.stringify(r.json).slice(0, 200)}`);
      if (r.status === 200 && typeof r.json["pos"] !== "string") problems.push(`${path}: 200 without pos`);
    }
    expect(problems).toEqual([]);
    // Both outcomes were exercised: accepted bodies and refused ones.
    expect(statuses.has(200)).toBe(true);
    expect(statuses.has(400)).toBe(true);
  }, 120_000);
});
