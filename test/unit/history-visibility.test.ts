// Which events a joined user may read, by the history visibility and their membership before each event.

import { describe, expect, it } from "vitest";
import { historyVisibilityOf, visibleToJoinedUser, type StateBefore } from "../../shared/history-visibility.js";
import { parsePaginationToken } from "../../shared/pagination-token.js";

const U = "@u:p1.test";
const known = (content: unknown): StateBefore => ({ known: true, content });
const vis = (v: string) => known({ history_visibility: v });
const member = (m: string) => known({ membership: m });
const msg = { type: "m.room.message", content: { body: "x" } };

describe("history visibility for a user joined now", () => {
  it.each([
    ["world_readable", "leave", true],
    ["shared", "leave", true],
    ["invited", "invite", true],
    ["invited", "leave", false],
    ["joined", "invite", false],
    ["joined", "join", true],
    ["joined", "leave", false],
  ] as const)("%s with membership %s before the event: %s", (v, m, expected) => {
    expect(visibleToJoinedUser({ event: msg, userId: U, visibility: vis(v), membership: member(m) })).toBe(expected);
  });

  it("reads no setting as shared and an unknown one as joined", () => {
    expect(historyVisibilityOf(undefined)).toBe("shared");
    expect(historyVisibilityOf({ history_visibility: "everyone" })).toBe("joined");
  });

  it("shows the user their own join under joined, and a visibility change by the more permissive side", () => {
    const join = { type: "m.room.member", state_key: U, content: { membership: "join" } };
    expect(visibleToJoinedUser({ event: join, userId: U, visibility: vis("joined"), membership: known(undefined) })).toBe(true);
    const change = { type: "m.room.history_visibility", state_key: "", content: { history_visibility: "joined" } };
    expect(visibleToJoinedUser({ event: change, userId: U, visibility: vis("shared"), membership: known(undefined) })).toBe(true);
  });

  it("answers undefined only when the state it needs is unknown", () => {
    expect(visibleToJoinedUser({ event: msg, userId: U, visibility: { known: false }, membership: member("join") })).toBeUndefined();
    expect(visibleToJoinedUser({ event: msg, userId: U, visibility: vis("joined"), membership: { known: false } })).toBeUndefined();
    expect(visibleToJoinedUser({ event: msg, userId: U, visibility: vis("shared"), membership: { known: false } })).toBe(true);
  });
});

describe("/messages tokens", () => {
  it("reads room positions (also below 1) and sync positions, and refuses anything else with 400 M_INVALID_PARAM", () => {
    expect(parsePaginationToken("p12")).toEqual({ kind: "room", pos: 12 });
    expect(parsePaginationToken("p-3")).toEqual({ kind: "room", pos: -3 });
    expect(parsePaginationToken("s7")).toEqual({ kind: "sync", stream: 7 });
    expect(parsePaginationToken(null)).toBeUndefined();
    for (const t of ["t5", "s-1", "p", "p1_2", "x", "s99999999999999999"]) {
      expect(() => parsePaginationToken(t)).toThrow(expect.objectContaining({ errcode: "M_INVALID_PARAM", status: 400 }));
    }
  });
});
