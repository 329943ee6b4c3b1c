// RoomState (shared/room-state.ts): the Room's in-memory current state and the joined-user and
// joined-server bookkeeping that fan-out and notifications read on every event.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Pdu } from "../../shared/event.js";
import { membershipOf, RoomState, STRIPPED_STATE_TYPES } from "../../shared/room-state.js";

const FUZZ_RUNS = Number(process.env["FUZZ_RUNS"] ?? 0) || 200;

let seq = 0;
function ev(type: string, stateKey: string | undefined, content: Record<string, unknown> = {}, sender = "@alice:a.test"): [string, Pdu] {
  const pdu = { type, sender, content, room_id: "!r:a.test", origin_server_ts: 0, prev_events: [], auth_events: [], hashes: { sha256: "x" }, signatures: {} } as unknown as Pdu;
  if (stateKey !== undefined) pdu.state_key = stateKey;
  return [`$e${++seq}`, pdu];
}
const member = (user: string, membership: unknown): [string, Pdu] => ev("m.room.member", user, { membership }, user);

function stateOf(...events: Array<[string, Pdu]>): RoomState {
  const s = new RoomState();
  for (const [id, pdu] of events) s.apply(id, pdu);
  return s;
}

describe("membershipOf", () => {
  it("reads the five memberships and nothing else", () => {
    for (const m of ["join", "invite", "leave", "ban", "knock"]) expect(membershipOf(member("@u:x", m)[1])).toBe(m);
    for (const m of ["JOIN", "", 1, null, undefined, ["join"]]) expect(membershipOf(member("@u:x", m)[1])).toBeUndefined();
    expect(membershipOf(undefined)).toBeUndefined();
  });
});

describe("RoomState lookups", () => {
  it("keeps the latest event per (type, state_key) and ignores events without a state_key", () => {
    const [nameId1, name1] = ev("m.room.name", "", { name: "one" });
    const [nameId2, name2] = ev("m.room.name", "", { name: "two" });
    const [, message] = ev("m.room.message", undefined, { body: "hi" });
    const [customId, custom] = ev("org.example", "k");
    const s = stateOf([nameId1, name1], [nameId2, name2], ["$msg", message], [customId, custom]);
    expect(s.size).toBe(2);
    expect(s.get("m.room.name", "")).toBe(name2);
    expect(s.eventIdOf("m.room.name", "")).toBe(nameId2);
    expect(s.entry("org.example", "k")).toEqual({ eventId: customId, pdu: custom });
    expect(s.get("m.room.message", "")).toBeUndefined();
    expect(s.get("org.example", "")).toBeUndefined();
    expect([...s.all()].map((e) => e.eventId).sort()).toEqual([nameId2, customId].sort());
  });

  it("does not confuse type and state_key pairs that concatenate alike", () => {
    const s = stateOf(ev("a", "bc", { n: 1 }), ev("ab", "c", { n: 2 }));
    expect(s.get("a", "bc")?.content).toEqual({ n: 1 });
    expect(s.get("ab", "c")?.content).toEqual({ n: 2 });
  });
});

describe("RoomState joined users and servers", () => {
  it("counts a join once, drops the user on leave or ban, and counts a rejoin again", () => {
    const s = stateOf(member("@a:one.test", "join"), member("@b:one.test", "join"), member("@c:two.test", "join"), member("@a:one.test", "join"));
    expect(s.joinedCount()).toBe(3);
    expect(s.joinedServers().sort()).toEqual(["one.test", "two.test"]);
    expect([...s.joinedUsersOf("one.test")].sort()).toEqual(["@a:one.test", "@b:one.test"]);

    s.apply(...member("@c:two.test", "leave"));
    expect(s.isServerJoined("two.test")).toBe(false);
    expect(s.joinedServers()).toEqual(["one.test"]);
    s.apply(...member("@a:one.test", "ban"));
    expect([...s.joinedUsersOf("one.test")]).toEqual(["@b:one.test"]);
    expect(s.joinedCount()).toBe(1);
    s.apply(...member("@c:two.test", "join"));
    expect(s.isServerJoined("two.test")).toBe(true);
    expect(s.joinedCount()).toBe(2);
  });

  it("treats an unreadable membership after a join as no longer joined", () => {
    const s = stateOf(member("@a:one.test", "join"), member("@a:one.test", "JOIN"));
    expect(s.joinedCount()).toBe(0);
    expect(s.membership("@a:one.test")).toBeUndefined();
    expect(s.isServerJoined("one.test")).toBe(false);
  });

  it("does not count invites or knocks as joined, and answers an unknown server with an empty set", () => {
    const s = stateOf(member("@a:one.test", "invite"), member("@b:two.test", "knock"));
    expect(s.joinedCount()).toBe(0);
    expect(s.joinedServers()).toEqual([]);
    expect(s.joinedUsersOf("one.test").size).toBe(0);
    expect(s.membership("@a:one.test")).toBe("invite");
    expect(s.membership("@nobody:one.test")).toBeUndefined();
  });

  it("records a join whose state_key has no server name without counting it or throwing", () => {
    const s = stateOf(member("not-a-user-id", "join"));
    expect(s.membership("not-a-user-id")).toBe("join");
    expect(s.joinedCount()).toBe(0);
    expect(s.joinedServers()).toEqual([]);
  });

  it("lists member events, all or of one membership", () => {
    const s = stateOf(member("@a:x", "join"), member("@b:x", "invite"), member("@c:x", "join"), ev("m.room.name", "", { name: "n" }));
    expect(s.members().map((e) => e.pdu.state_key).sort()).toEqual(["@a:x", "@b:x", "@c:x"]);
    expect(s.members("join").map((e) => e.pdu.state_key).sort()).toEqual(["@a:x", "@c:x"]);
    expect(s.members("ban")).toEqual([]);
  });

  it("keeps the joined counts equal to a recount of the member events, whatever the order of changes", () => {
    const users = ["@a:one.test", "@b:one.test", "@c:two.test", "@d:three.test"];
    const change = fc.tuple(fc.constantFrom(...users), fc.constantFrom("join", "leave", "ban", "invite", "knock", "bogus"));
    fc.assert(
      fc.property(fc.array(change, { maxLength: 40 }), (changes) => {
        const s = new RoomState();
        for (const [user, m] of changes) s.apply(...member(user, m));
        const joined = s.members("join").map((e) => e.pdu.state_key as string);
        const servers = new Set(joined.map((u) => u.slice(u.indexOf(":") + 1)));
        expect(s.joinedCount()).toBe(joined.length);
        expect(new Set(s.joinedServers())).toEqual(servers);
        for (const server of ["one.test", "two.test", "three.test"]) {
          expect(new Set(s.joinedUsersOf(server))).toEqual(new Set(joined.filter((u) => u.endsWith(`:${server}`))));
        }
      }),
      { numRuns: FUZZ_RUNS },
    );
  });
});

describe("RoomState stripped state", () => {
  it("gives the invite-visible events with an empty state_key, in the listed order, and nothing else", () => {
    const s = stateOf(
      ev("m.room.topic", "", { topic: "t" }, "@bob:b.test"),
      ev("m.room.create", "", { room_version: "11" }),
      ev("m.room.power_levels", "", { users: {} }),
      ev("m.room.name", "elsewhere", { name: "not stripped" }),
      ev("m.room.name", "", { name: "n" }),
      member("@a:x", "join"),
    );
    expect(s.stripped()).toEqual([
      { type: "m.room.create", state_key: "", sender: "@alice:a.test", content: { room_version: "11" } },
      { type: "m.room.name", state_key: "", sender: "@alice:a.test", content: { name: "n" } },
      { type: "m.room.topic", state_key: "", sender: "@bob:b.test", content: { topic: "t" } },
    ]);
    expect(STRIPPED_STATE_TYPES).toContain("m.room.encryption");
  });
});
