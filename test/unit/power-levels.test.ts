import { describe, expect, it } from "vitest";
import type { PowerContext, PowerLevels, RulesVersion } from "../../shared/power-levels.js";
import {
  CREATOR_POWER_LEVEL,
  DEFAULT_LEVELS,
  actionLevel,
  checkPowerLevelsChange,
  checkPowerLevelsContent,
  isPowerLevelsProblem,
  parsePowerLevels,
  roomCreators,
  sendLevel,
  userLevel,
} from "../../shared/power-levels.js";
import type { JsonObject } from "../../shared/canonical-json.js";
import { ALICE, ALLOWED, BOB, CAROL, DAVE, createEvent, room } from "./fixtures/auth-fixtures.js";

const parse = (c: unknown, v: RulesVersion = "11"): PowerLevels => {
  const p = parsePowerLevels(c, v);
  if (isPowerLevelsProblem(p)) throw new Error(p.reason);
  return p;
};
const ctx = (version: RulesVersion, content: JsonObject | undefined, createContent: JsonObject = {}): PowerContext => ({
  levels: content && parse(content, version),
  creators: roomCreators(createEvent(version, ALICE, createContent), version),
  version,
});

describe("calculating levels", () => {
  it("fills absent fields with the documented defaults", () => {
    expect(parse({})).toMatchObject({ users_default: 0, events_default: 0, state_default: 50, ban: 50, kick: 50, redact: 50, invite: 0 });
    expect(DEFAULT_LEVELS).toEqual({ users_default: 0, events_default: 0, state_default: 50, ban: 50, kick: 50, redact: 50, invite: 0 });
  });
  it.each([
    ["listed user", "lm", { users: { [BOB]: 30 }, users_default: 5 }, BOB, 30],
    ["unlisted user gets users_default", "lm", { users: { [BOB]: 30 }, users_default: 5 }, CAROL, 5],
    ["no users_default means 0", "11", {}, CAROL, 0],
    ["LM creator without power levels has 100", "lm", undefined, ALICE, 100],
    ["v11 creator without power levels has 100", "11", undefined, ALICE, 100],
    ["others without power levels have 0", "11", undefined, BOB, 0],
    ["a listed v11 creator has the listed level", "11", { users: { [ALICE]: 7 } }, ALICE, 7],
    ["a v12 creator is unlimited without power levels", "12", undefined, ALICE, CREATOR_POWER_LEVEL],
    ["a v12 creator is unlimited even if listed", "12", { users: { [ALICE]: 7 } }, ALICE, CREATOR_POWER_LEVEL],
  ] as const)("user level: %s", (_n, version, content, user, expected) => {
    expect(userLevel(ctx(version, content as JsonObject | undefined), user)).toBe(expected);
  });
  it("counts additional_creators only in v12", () => {
    expect(userLevel(ctx("12", {}, { additional_creators: [BOB, "junk"] }), BOB)).toBe(Infinity);
    expect(userLevel(ctx("11", {}, { additional_creators: [BOB] }), BOB)).toBe(0);
    expect(userLevel(ctx("lm", undefined, { additional_creators: [BOB] }), BOB)).toBe(0);
    expect([...roomCreators(createEvent("12", ALICE, { additional_creators: [BOB, "junk", 5] }), "12")]).toEqual([ALICE, BOB]);
  });
  it("documents unlimited power as Infinity, above every integer", () => {
    expect(CREATOR_POWER_LEVEL).toBe(Number.POSITIVE_INFINITY);
    expect(CREATOR_POWER_LEVEL > Number.MAX_SAFE_INTEGER).toBe(true);
    expect(CREATOR_POWER_LEVEL < CREATOR_POWER_LEVEL).toBe(false);
  });
  it.each([
    ["explicit event level wins", { events: { "m.room.name": 10 }, state_default: 90 }, "m.room.name", true, 10],
    ["state event falls back to state_default", { state_default: 90 }, "m.room.topic", true, 90],
    ["message falls back to events_default", { events_default: 3 }, "m.room.message", false, 3],
    ["no power levels: state needs 50", undefined, "m.room.topic", true, 50],
    ["no power levels: messages need 0", undefined, "m.room.message", false, 0],
  ] as const)("send level: %s", (_n, content, type, isState, expected) => {
    expect(sendLevel(content && parse(content), type, isState)).toBe(expected);
  });
  it("treats an empty state_key as a state event (via the auth rules)", () => {
    const r = room({ power: { events_default: 0, state_default: 100, users: { [ALICE]: 100 } }, members: { [ALICE]: "join", [BOB]: "join" } });
    expect(r.check(r.ev(BOB, "org.example", {}, ""))).toMatchObject({ allowed: false, rule: "7" });
    expect(r.check(r.ev(BOB, "org.example", {}))).toEqual({ allowed: true });
  });
  it.each([
    ["kick", 50],
    ["ban", 50],
    ["redact", 50],
    ["invite", 0],
  ] as const)("action %s defaults to %i", (action, level) => {
    expect(actionLevel(undefined, action)).toBe(level);
    expect(actionLevel(parse({}), action)).toBe(level);
    expect(actionLevel(parse({ [action]: 7 }), action)).toBe(7);
  });
});

describe("validating content", () => {
  it.each([
    ["string level", { ban: "50" }, 1],
    ["float level", { kick: 1.5 }, 1],
    ["unsafe integer", { invite: 2 ** 53 }, 1],
    ["events array", { events: [1] }, 2],
    ["string event level", { events: { a: "1" } }, 2],
    ["notifications string", { notifications: { room: "50" } }, 2],
    ["users not an object", { users: 5 }, 3],
    ["users key not a user ID", { users: { alice: 1 } }, 3],
    ["users string level", { users: { [ALICE]: "100" } }, 3],
  ] as const)("rejects %s", (_n, content, step) => {
    expect(checkPowerLevelsContent(content, "11")?.step).toBe(step);
  });
  it("accepts well-formed content and content that is not an object fails step 1", () => {
    expect(checkPowerLevelsContent({ users: { [ALICE]: -5 }, events: {}, notifications: { room: 0 }, ban: 0 }, "12")).toBeUndefined();
    expect(checkPowerLevelsContent("x", "lm")?.step).toBe(1);
  });
  it("does not validate notifications in LM", () => {
    expect(checkPowerLevelsContent({ notifications: { room: "50" } }, "lm")).toBeUndefined();
  });
});

// Power can never rise above the sender's own: every row runs the real auth checks for each version.
describe("power-levels escalation table", () => {
  // Bob (50) edits a room where Carol has 75 and Dave 50; fields start at ban 75, kick 50.
  const start: JsonObject = { users: { [BOB]: 50, [CAROL]: 75, [DAVE]: 50 }, ban: 75, kick: 50, events: { "m.room.name": 75 } };
  const edit = (patch: (c: Record<string, JsonObject | number>) => void): JsonObject => {
    const c = structuredClone(start) as Record<string, JsonObject | number>;
    patch(c);
    return c as JsonObject;
  };
  const u = (c: Record<string, JsonObject | number>) => c.users as JsonObject;
  const rows: Array<[string, JsonObject, { lm: string; "11": string; "12": string }]> = [
    ["raise self to 51", edit((c) => (u(c)[BOB] = 51)), { lm: "9.9.1", "11": "9.9.1", "12": "10.10.1" }],
    ["raise self to 50 (no change)", edit(() => {}), { lm: ALLOWED, "11": ALLOWED, "12": ALLOWED }],
    ["grant a newcomer 50", edit((c) => (u(c)["@new:n.test"] = 50)), { lm: ALLOWED, "11": ALLOWED, "12": ALLOWED }],
    ["grant a newcomer 51", edit((c) => (u(c)["@new:n.test"] = 51)), { lm: "9.9.1", "11": "9.9.1", "12": "10.10.1" }],
    ["grant a newcomer a huge level", edit((c) => (u(c)["@new:n.test"] = Number.MAX_SAFE_INTEGER)), { lm: "9.9.1", "11": "9.9.1", "12": "10.10.1" }],
    ["demote an equal", edit((c) => (u(c)[DAVE] = 0)), { lm: ALLOWED, "11": "9.8.1", "12": "10.9.1" }],
    ["demote a superior", edit((c) => (u(c)[CAROL] = 0)), { lm: "9.8.1", "11": "9.8.1", "12": "10.9.1" }],
    ["lower users_default below 0", edit((c) => (c.users_default = -10)), { lm: ALLOWED, "11": ALLOWED, "12": ALLOWED }],
    ["raise users_default to 51", edit((c) => (c.users_default = 51)), { lm: "9.5.2", "11": "9.5.2", "12": "10.6.2" }],
    ["lower ban from 75", edit((c) => (c.ban = 10)), { lm: "9.5.1", "11": "9.5.1", "12": "10.6.1" }],
    ["raise kick above self", edit((c) => (c.kick = 60)), { lm: "9.5.2", "11": "9.5.2", "12": "10.6.2" }],
    ["raise an event level above self", edit((c) => ((c.events as JsonObject)["m.room.topic"] = 60)), { lm: "9.7.1", "11": "9.7.1", "12": "10.8.1" }],
    ["lower an event level held above self", edit((c) => ((c.events as JsonObject)["m.room.name"] = 0)), { lm: "9.6.1", "11": "9.6.1", "12": "10.7.1" }],
  ];
  for (const version of ["lm", "11", "12"] as const) {
    describe(version, () => {
      it.each(rows)("%s", (_n, content, expected) => {
        const r = room({ version, power: start, members: { [ALICE]: "join", [BOB]: "join", [CAROL]: "join", [DAVE]: "join" } });
        const res = r.check(r.pl(BOB, content));
        if (expected[version] === ALLOWED) expect(res).toEqual({ allowed: true });
        else expect(res).toMatchObject({ allowed: false, rule: expected[version] });
      });
    });
  }

  // The spec exempts the sender's own entry from the "changed or removed" check, and a removed entry
  // falls back to users_default, which may be above the sender's level (found by the property test).
  it.each(["lm", "11", "12"] as const)("lets a sender drop their own entry and fall back to a higher users_default (%s)", (version) => {
    const power: JsonObject = { users: { [BOB]: 50, [DAVE]: 50 }, users_default: 60 };
    const r = room({ version, power, members: { [ALICE]: "join", [BOB]: "join", [DAVE]: "join" } });
    expect(r.check(r.pl(BOB, { users: { [DAVE]: 50 }, users_default: 60 }))).toEqual({ allowed: true });
    expect(userLevel(ctx(version, { users: { [DAVE]: 50 }, users_default: 60 }), BOB)).toBe(60);
    // Dropping someone else's entry at the sender's level is still refused (except by LM's rules).
    const other = r.check(r.pl(BOB, { users: { [BOB]: 50 }, users_default: 60 }));
    if (version === "lm") expect(other).toEqual({ allowed: true });
    else expect(other).toMatchObject({ allowed: false, rule: version === "11" ? "9.8.1" : "10.9.1" });
  });

  // The same rules compare entries only: someone above the sender solely through users_default has
  // no entry to protect, so the sender may list them at or below the sender's own level.
  it.each(["lm", "11", "12"] as const)("lets a sender list a user who is above them only through users_default (%s)", (version) => {
    const power: JsonObject = { users: { [BOB]: 50 }, users_default: 100 };
    const r = room({ version, power, members: { [ALICE]: "join", [BOB]: "join", [CAROL]: "join" } });
    expect(r.check(r.pl(BOB, { users: { [BOB]: 50, [CAROL]: 0 }, users_default: 100 }))).toEqual({ allowed: true });
    expect(r.check(r.pl(BOB, { users: { [BOB]: 50, [CAROL]: 51 }, users_default: 100 }))).toMatchObject({ allowed: false });
  });

  it("never lets an accepted change set or clear a level above the sender's (fuzzed)", () => {
    let seed = 42;
    const rand = (n: number): number => {
      seed = (seed + 0x6d2b79f5) | 0; // mulberry32: deterministic and well spread
      let t = Math.imul(seed ^ (seed >>> 15), seed | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) % n;
    };
    const levels = [-5, 0, 10, 49, 50, 51, 75, 100];
    const pick = () => levels[rand(levels.length)] as number;
    const fields = ["users_default", "events_default", "state_default", "ban", "redact", "kick", "invite"] as const;
    const users = [ALICE, BOB, CAROL, DAVE];
    let accepted = 0;
    for (let i = 0; i < 3000; i++) {
      const version = (["lm", "11", "12"] as const)[rand(3)] as RulesVersion;
      const mk = () => {
        const c: Record<string, unknown> = { users: Object.fromEntries(users.filter(() => rand(2)).map((x) => [x, pick()])), events: { a: pick() } };
        for (const f of fields) if (rand(2)) c[f] = pick();
        return c;
      };
      const beforeContent = mk();
      const afterContent = mk();
      const sender = users[rand(users.length)] as string;
      const before = parse(beforeContent, version);
      const after = parse(afterContent, version);
      const senderLevel = userLevel({ levels: before, creators: new Set(), version }, sender);
      if (checkPowerLevelsChange(before, beforeContent, after, afterContent, sender, senderLevel, version)) continue;
      accepted++;
      for (const f of fields) {
        if (beforeContent[f] === afterContent[f]) continue;
        if (f in afterContent) expect(after[f]).toBeLessThanOrEqual(senderLevel);
        if (f in beforeContent) expect(before[f]).toBeLessThanOrEqual(senderLevel);
      }
      for (const [user, level] of after.users) if (before.users.get(user) !== level) expect(level).toBeLessThanOrEqual(senderLevel);
      for (const [user, level] of before.users) {
        if (user !== sender && after.users.get(user) !== level) expect(level).toBeLessThanOrEqual(senderLevel);
      }
    }
    expect(accepted).toBeGreaterThan(100);
  });
});
