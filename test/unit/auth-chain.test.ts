// shared/auth-chain.ts: the check a joining server runs on a send_join answer's state and auth chain.

import { describe, expect, it } from "vitest";
import { checkAuthChain } from "../../shared/auth-chain.js";
import type { Pdu } from "../../shared/event.js";
import { getRoomVersion } from "../../shared/room-versions.js";
import type { RoomVersion } from "../../shared/room-version.js";
import { ALICE, BOB, CAROL, createEvent, LM_ID, Room, type Version } from "./fixtures/auth-fixtures.js";

const VERSIONS: Array<[Version, string]> = [["lm", LM_ID], ["11", "11"], ["12", "12"]];

/** A room as its hub would build it: create, creator join, power levels, join rules, Bob's join. */
function roomWithBob(v: Version, joinRule = "public") {
  const r = new Room(v, createEvent(v));
  const events: Pdu[] = [r.create];
  const add = (e: Pdu) => {
    r.with(e);
    events.push(e);
    return e;
  };
  add(r.member(ALICE, ALICE, "join", {}, { prev_events: [r.id(r.create)] }));
  // v12 creators hold the top level without being listed (and may not be).
  add(r.pl(ALICE, v === "12" ? {} : { users: { [ALICE]: 100 } }));
  add(r.ev(ALICE, "m.room.join_rules", { join_rule: joinRule }, ""));
  add(r.member(BOB, BOB, "join"));
  const answer = () => new Map(events.map((e) => [r.id(e), e] as const));
  return { r, events, add, answer };
}

describe.each(VERSIONS)("checkAuthChain, room version %s", (v, id) => {
  const version = getRoomVersion(id) as RoomVersion;

  it("accepts state and auth chain whose every event passes against its own auth events", () => {
    expect(checkAuthChain(version, roomWithBob(v).answer())).toBeUndefined();
  });

  it("refuses an answer in which an event's auth event is missing", () => {
    const { r, answer } = roomWithBob(v);
    const map = answer();
    map.delete(r.sid("m.room.join_rules"));
    expect(checkAuthChain(version, map)).toMatchObject({ eventId: r.sid("m.room.member", BOB), rule: "auth_events" });
  });

  it("refuses a state event the auth rules forbid: a user without the level changes the power levels", () => {
    const { r, add, answer } = roomWithBob(v);
    const bad = add(r.pl(BOB, { users: { [BOB]: 100 } }));
    const failure = checkAuthChain(version, answer());
    expect(failure?.eventId).toBe(r.id(bad));
    expect(failure?.rule).not.toBe("auth_events");
  });

  it("refuses a join the join rules do not admit", () => {
    const { r, answer } = roomWithBob(v, "invite");
    expect(checkAuthChain(version, answer())?.eventId).toBe(r.sid("m.room.member", BOB));
  });

  it("refuses an answer without a create event", () => {
    const { r, answer } = roomWithBob(v);
    const map = answer();
    map.delete(r.id(r.create));
    expect(checkAuthChain(version, map)?.rule).toMatch(/create|auth_events/);
  });
});

describe("checkAuthChain, LM knocks (draft -04 selects no join rules for them)", () => {
  const version = getRoomVersion(LM_ID) as RoomVersion;

  it("accepts a knock whose auth events hold no join rules: that condition cannot be judged from them", () => {
    const { r, add, answer } = roomWithBob("lm", "knock");
    const knock = add(r.member(CAROL, CAROL, "knock"));
    expect(knock.auth_events).not.toContain(r.sid("m.room.join_rules"));
    const map = answer();
    map.delete(r.sid("m.room.member", BOB)); // Bob's join was refused by the knock rule; drop it.
    expect(checkAuthChain(version, map)).toBeUndefined();
  });

  it("still refuses a knock the other rules forbid: a banned user knocking", () => {
    const r = new Room("lm", createEvent("lm"));
    const events: Pdu[] = [r.create];
    const add = (e: Pdu) => (r.with(e), events.push(e), e);
    add(r.member(ALICE, ALICE, "join", {}, { prev_events: [r.id(r.create)] }));
    add(r.pl(ALICE, { users: { [ALICE]: 100 } }));
    add(r.ev(ALICE, "m.room.join_rules", { join_rule: "knock" }, ""));
    add(r.member(ALICE, CAROL, "ban"));
    const knock = add(r.member(CAROL, CAROL, "knock"));
    expect(checkAuthChain(version, new Map(events.map((e) => [r.id(e), e] as const)))).toMatchObject({ eventId: r.id(knock), rule: "5.6.4" });
  });
});
