import { describe, expect, it } from "vitest";
import { MatrixError } from "../../shared/errors.js";
import { MAX_TIMEOUT_MS, MAX_TIMELINE_LIMIT, parseRanges, parseRequiredState, parseSlidingRequest } from "../../shared/sliding-sync-request.js";

const q = (s = "") => new URLSearchParams(s);

function errcodeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof MatrixError) return e.errcode;
    throw e;
  }
  return undefined;
}

describe("sliding sync request parsing", () => {
  it("reads Element X's request: pos and timeout in the query, ranges, pair-form required_state, extensions", () => {
    const r = parseSlidingRequest(
      {
        conn_id: "room-list",
        lists: { all_rooms: { ranges: [[0, 19]], timeline_limit: 1, required_state: [["m.room.member", "$LAZY"], ["m.room.member", "$ME"], ["m.space.child", "*"], ["*", "*"]], filters: {} } },
        room_subscriptions: { "!a:hub.test": { timeline_limit: 20, required_state: [["m.room.pinned_events", ""]] } },
        extensions: { to_device: { enabled: true, since: "s5" }, e2ee: { enabled: true }, receipts: { enabled: true, rooms: ["*"] }, typing: { enabled: true, lists: ["all_rooms"] } },
      },
      q("pos=12&timeout=30000"),
    );
    expect(r.connId).toBe("room-list");
    expect(r.pos).toBe("12");
    expect(r.timeoutMs).toBe(30_000);
    const list = r.lists.get("all_rooms");
    expect(list?.ranges).toEqual([[0, 19]]);
    expect(list?.requiredState).toEqual({ include: [{ type: "m.room.member", stateKey: "$ME" }, { type: "m.space.child" }, {}], exclude: [], lazyMembers: true });
    expect(r.subscriptions.get("!a:hub.test")?.timelineLimit).toBe(20);
    expect(r.extensions.toDevice).toEqual({ enabled: true, since: "s5" });
    expect(r.extensions.receipts).toEqual({ enabled: true });
    expect(r.extensions.typing).toEqual({ enabled: true, lists: ["all_rooms"] });
  });

  it("reads the MSC's own dialect: range, {include, exclude, lazy_members}, pos and timeout in the body, is_invited", () => {
    const r = parseSlidingRequest(
      {
        pos: "7",
        timeout: 100,
        lists: { l: { range: [0, 99], timeline_limit: 10, required_state: { include: [{}], exclude: [{ type: "m.room.create", state_key: "" }], lazy_members: true }, filters: { is_invited: true, room_types: [null, "m.space"] } } },
      },
      q(),
    );
    expect(r.connId).toBe("");
    expect(r.pos).toBe("7");
    expect(r.timeoutMs).toBe(100);
    const l = r.lists.get("l");
    expect(l?.ranges).toEqual([[0, 99]]);
    expect(l?.requiredState).toEqual({ include: [{}], exclude: [{ type: "m.room.create", stateKey: "" }], lazyMembers: true });
    expect(l?.filters).toEqual({ isInvite: true, roomTypes: [null, "m.space"] });
  });

  it("caps timeline_limit and timeout, and treats an empty pos as none", () => {
    const r = parseSlidingRequest({ lists: { l: { ranges: [[0, 1]], timeline_limit: 10_000 } } }, q(`pos=&timeout=${10 * MAX_TIMEOUT_MS}`));
    expect(r.lists.get("l")?.timelineLimit).toBe(MAX_TIMELINE_LIMIT);
    expect(r.timeoutMs).toBe(MAX_TIMEOUT_MS);
    expect(r.pos).toBeUndefined();
  });

  it("refuses bad ranges with M_INVALID_PARAM", () => {
    expect(errcodeOf(() => parseRanges([[5, 2]], "r"))).toBe("M_INVALID_PARAM");
    expect(errcodeOf(() => parseRanges([[-1, 2]], "r"))).toBe("M_INVALID_PARAM");
    expect(errcodeOf(() => parseRanges([[0]], "r"))).toBe("M_INVALID_PARAM");
    expect(errcodeOf(() => parseRanges([[0, 1.5]], "r"))).toBe("M_INVALID_PARAM");
    expect(errcodeOf(() => parseRanges("0-9", "r"))).toBe("M_INVALID_PARAM");
    expect(errcodeOf(() => parseRanges(Array.from({ length: 11 }, () => [0, 1]), "r"))).toBe("M_INVALID_PARAM");
    expect(parseRanges([[0, 0], [3, 9]], "r")).toEqual([[0, 0], [3, 9]]);
  });

  it("refuses wrong types, too many lists or subscriptions, and subscriptions to non-room IDs", () => {
    expect(errcodeOf(() => parseSlidingRequest([], q()))).toBe("M_BAD_JSON");
    expect(errcodeOf(() => parseSlidingRequest({ conn_id: 5 }, q()))).toBe("M_BAD_JSON");
    expect(errcodeOf(() => parseSlidingRequest({ lists: [] }, q()))).toBe("M_BAD_JSON");
    expect(errcodeOf(() => parseSlidingRequest({ lists: { l: { timeline_limit: "1" } } }, q()))).toBe("M_BAD_JSON");
    expect(errcodeOf(() => parseSlidingRequest({ lists: { l: { filters: { is_dm: "yes" } } } }, q()))).toBe("M_BAD_JSON");
    expect(errcodeOf(() => parseSlidingRequest({ lists: { l: { filters: { not_room_types: [1] } } } }, q()))).toBe("M_BAD_JSON");
    expect(errcodeOf(() => parseSlidingRequest({ extensions: { to_device: { since: 5 } } }, q()))).toBe("M_BAD_JSON");
    expect(errcodeOf(() => parseSlidingRequest({}, q("timeout=soon")))).toBe("M_INVALID_PARAM");
    expect(errcodeOf(() => parseSlidingRequest({}, q("set_presence=away")))).toBe("M_INVALID_PARAM");
    expect(errcodeOf(() => parseSlidingRequest({}, q("set_presence=offline")))).toBeUndefined();
    const many = Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`l${i}`, {}]));
    expect(errcodeOf(() => parseSlidingRequest({ lists: many }, q()))).toBe("M_INVALID_PARAM");
    const subs = Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`!r${i}:hub.test`, {}]));
    expect(errcodeOf(() => parseSlidingRequest({ room_subscriptions: subs }, q()))).toBe("M_INVALID_PARAM");
    expect(errcodeOf(() => parseSlidingRequest({ room_subscriptions: { "#alias:hub.test": {} } }, q()))).toBe("M_INVALID_PARAM");
    expect(errcodeOf(() => parseRequiredState([["m.room.name"]], "rs"))).toBe("M_BAD_JSON");
    expect(errcodeOf(() => parseRequiredState({ include: [{ type: 3 }] }, "rs"))).toBe("M_BAD_JSON");
  });
});
