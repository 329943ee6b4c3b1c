import { describe, expect, it } from "vitest";
import { byActivity, combineConfigs, evaluateList, inRanges, lazyUsersOf, matchesFilters, requiredStateKey, stateWanted, type ListRoom } from "../../shared/sliding-sync-lists.js";
import { parseRequiredState, type ListConfig } from "../../shared/sliding-sync-request.js";

const room = (roomId: string, activity: number, extra: Partial<ListRoom> = {}): ListRoom => ({ roomId, membership: "join", activity, ...extra });
const list = (ranges: Array<[number, number]>, filters: ListConfig["filters"] = {}): ListConfig => ({ ranges, filters, timelineLimit: 1, requiredState: { include: [], exclude: [], lazyMembers: false } });

describe("sliding sync lists", () => {
  const rooms = [room("!a:x", 5), room("!b:x", 9, { isDm: true }), room("!c:x", 1, { membership: "invite" }), room("!d:x", 7, { isEncrypted: true, roomType: "m.space" }), room("!e:x", 9)];

  it("orders by most recent activity, ties by room ID", () => {
    expect(byActivity(rooms).map((r) => r.roomId)).toEqual(["!b:x", "!e:x", "!d:x", "!a:x", "!c:x"]);
  });

  it("picks the rooms inside the inclusive ranges; no ranges means all", () => {
    const sorted = byActivity(rooms);
    expect(inRanges(sorted, [[0, 1]])).toEqual(["!b:x", "!e:x"]);
    expect(inRanges(sorted, [[0, 0], [3, 10]])).toEqual(["!b:x", "!a:x", "!c:x"]);
    expect(inRanges(sorted, [])).toHaveLength(5);
    expect(inRanges(sorted, [[10, 20]])).toEqual([]);
  });

  it("counts the filtered list whatever the range, as a growing range [[0,1]] -> [[0,N]] needs", () => {
    expect(evaluateList(rooms, list([[0, 1]]))).toEqual({ count: 5, roomIds: ["!b:x", "!e:x"] });
    expect(evaluateList(rooms, list([[0, 4]])).roomIds).toHaveLength(5);
  });

  it("applies is_dm, is_invite, is_encrypted, room_types and not_room_types (null: no type; not_room_types wins)", () => {
    expect(evaluateList(rooms, list([], { isDm: true })).roomIds).toEqual(["!b:x"]);
    expect(evaluateList(rooms, list([], { isDm: false })).count).toBe(4);
    expect(evaluateList(rooms, list([], { isInvite: true })).roomIds).toEqual(["!c:x"]);
    expect(evaluateList(rooms, list([], { isInvite: false })).count).toBe(4);
    expect(evaluateList(rooms, list([], { isEncrypted: true })).roomIds).toEqual(["!d:x"]);
    expect(evaluateList(rooms, list([], { roomTypes: ["m.space"] })).roomIds).toEqual(["!d:x"]);
    expect(evaluateList(rooms, list([], { roomTypes: [null] })).count).toBe(4);
    expect(evaluateList(rooms, list([], { notRoomTypes: ["m.space"] })).count).toBe(4);
    expect(matchesFilters(rooms[3] as ListRoom, { roomTypes: ["m.space"], notRoomTypes: ["m.space"] })).toBe(false);
  });
});

describe("sliding sync room configs and required_state", () => {
  const me = "@me:x";
  const sel = (lazy: string[] = []) => ({ userId: me, lazyUsers: new Set(lazy) });

  it("selects exactly what pairs ask, with $ME and * wildcards", () => {
    const c = combineConfigs([{ timelineLimit: 1, requiredState: parseRequiredState([["m.room.name", ""], ["m.room.member", "$ME"], ["m.space.child", "*"]], "rs") }]);
    expect(stateWanted(c, "m.room.name", "", sel())).toBe(true);
    expect(stateWanted(c, "m.room.topic", "", sel())).toBe(false);
    expect(stateWanted(c, "m.room.member", me, sel())).toBe(true);
    expect(stateWanted(c, "m.room.member", "@other:x", sel())).toBe(false);
    expect(stateWanted(c, "m.space.child", "!any:x", sel())).toBe(true);
  });

  it("brings lazy members for the timeline's senders and targets only", () => {
    const c = combineConfigs([{ timelineLimit: 1, requiredState: parseRequiredState([["m.room.member", "$LAZY"]], "rs") }]);
    const lazy = lazyUsersOf([{ sender: "@s:x", type: "m.room.message" }, { sender: "@s:x", type: "m.room.member", state_key: "@t:x" }]);
    expect([...lazy].sort()).toEqual(["@s:x", "@t:x"]);
    expect(stateWanted(c, "m.room.member", "@t:x", sel([...lazy]))).toBe(true);
    expect(stateWanted(c, "m.room.member", "@u:x", sel([...lazy]))).toBe(false);
  });

  it("honours the MSC's include/exclude form: everything but the create event", () => {
    const c = combineConfigs([{ timelineLimit: 1, requiredState: parseRequiredState({ include: [{}], exclude: [{ type: "m.room.create", state_key: "" }] }, "rs") }]);
    expect(stateWanted(c, "m.room.topic", "", sel())).toBe(true);
    expect(stateWanted(c, "m.room.create", "", sel())).toBe(false);
  });

  it("combines configs as their superset: the largest timeline, state any of them selects", () => {
    const a = { timelineLimit: 1, requiredState: parseRequiredState([["m.room.name", ""]], "rs") };
    const b = { timelineLimit: 20, requiredState: parseRequiredState({ include: [{ type: "m.room.topic" }], exclude: [{ type: "m.room.name" }] }, "rs") };
    const c = combineConfigs([a, b]);
    expect(c.timelineLimit).toBe(20);
    expect(stateWanted(c, "m.room.name", "", sel())).toBe(true);
    expect(stateWanted(c, "m.room.topic", "", sel())).toBe(true);
  });

  it("gives the same key to the same required_state in any order, and a different one when it grows", () => {
    const one = combineConfigs([{ timelineLimit: 1, requiredState: parseRequiredState([["a", ""], ["b", ""]], "rs") }]);
    const same = combineConfigs([{ timelineLimit: 5, requiredState: parseRequiredState([["b", ""], ["a", ""]], "rs") }]);
    const grown = combineConfigs([{ timelineLimit: 1, requiredState: parseRequiredState([["a", ""], ["b", ""], ["c", ""]], "rs") }]);
    expect(requiredStateKey(one)).toBe(requiredStateKey(same));
    expect(requiredStateKey(one)).not.toBe(requiredStateKey(grown));
  });
});
