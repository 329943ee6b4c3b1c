// Auth-rule invariants over random event sequences. A room is set up (create, creator's join, power
// levels, join rules); then random membership, power-level, join-rule, topic and message events from
// random users of three servers are put through the version's auth rules against the room's current
// state, and applied to that state when accepted, as a hub does. Whatever the sequence:
//   - no event is accepted from a sender who is not joined, except their own join, knock, or
//     leave from invite/knock (rejecting an invite, rescinding a knock);
//   - no accepted power-levels event gives anyone more power than the sender has, or changes the
//     power of anyone listed above the sender (or a threshold above the sender). The spec's rules
//     check entries, not effective levels, so two moves are allowed: a sender may drop their own
//     entry and fall back to users_default, whatever its value, and may give someone who is above
//     them only through users_default an entry of their own level or lower;
//   - a banned user never becomes joined, invited or knocking again until someone unbans them.
// Run for the LM room version (the hub's) and Matrix v11 and v12. FUZZ_RUNS raises the counts.

import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { authEventKeysLm, checkAuthLm } from "../../shared/auth-rules-lm.js";
import { authEventKeysMatrix, checkAuthMatrix, createEventReferenceHash } from "../../shared/auth-rules-matrix.js";
import type { JsonObject } from "../../shared/canonical-json.js";
import type { Pdu } from "../../shared/event.js";
import { MapState } from "../../shared/event.js";
import { isPowerLevelsProblem, parsePowerLevels, roomCreators, userLevel, type RulesVersion } from "../../shared/power-levels.js";
import type { AuthResult } from "../../shared/room-version.js";
import { LM_ROOM_VERSION_ID } from "../../shared/room-versions.js";

const FUZZ_RUNS = Number(process.env["FUZZ_RUNS"] ?? "") || 0;
const runs = (n: number): number => Math.max(n, FUZZ_RUNS);
/** Long runs (FUZZ_RUNS) get long per-test timeouts. */
const TIMEOUT = FUZZ_RUNS > 0 ? 600_000 : 30_000;
let cases = 0;
let eventsChecked = 0;
afterAll(() => console.log(`[fuzz] property-auth-rules: ${cases} sequences, ${eventsChecked} events checked`));

const CREATOR = "@alice:hub.test";
const USERS = [CREATOR, "@bob:p1.test", "@carol:p1.test", "@dave:p2.test", "@erin:p2.test", "@frank:hub.test"] as const;
const LEVEL_FIELDS = ["users_default", "events_default", "state_default", "ban", "kick", "invite", "redact"] as const;

type Step =
  | { kind: "member"; sender: number; target: number; membership: string }
  | { kind: "power"; sender: number; target: number; level: number; field: number; fieldLevel: number; what: "user" | "field" | "remove" | "event" }
  | { kind: "join_rules"; sender: number; rule: string }
  | { kind: "topic" | "message"; sender: number };

const userIndex = fc.nat(USERS.length - 1);
/** Senders lean towards the creator, so bans are often followed by unbans and levels get handed out. */
const senderIndex = fc.oneof({ weight: 2, arbitrary: fc.constant(0) }, { weight: 5, arbitrary: userIndex });
const level = fc.oneof(fc.constantFrom(0, 1, 25, 49, 50, 51, 75, 99, 100, 101), fc.integer({ min: -10, max: 200 }));
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant("member" as const), sender: senderIndex, target: userIndex, membership: fc.constantFrom("join", "join", "invite", "leave", "ban", "knock", "leave") }) },
  // A user acting on themself: joining, knocking, leaving.
  { weight: 3, arbitrary: fc.tuple(userIndex, fc.constantFrom("join", "join", "knock", "leave")).map(([u, membership]) => ({ kind: "member" as const, sender: u, target: u, membership })) },
  // The creator unbanning (or kicking) someone.
  { weight: 2, arbitrary: fc.nat({ max: USERS.length - 2 }).map((i) => ({ kind: "member" as const, sender: 0, target: i + 1, membership: "leave" })) },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant("power" as const), sender: senderIndex, target: userIndex, level, field: fc.nat(LEVEL_FIELDS.length - 1), fieldLevel: level, what: fc.constantFrom("user" as const, "user" as const, "field" as const, "remove" as const, "event" as const) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("join_rules" as const), sender: userIndex, rule: fc.constantFrom("public", "invite", "knock") }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constantFrom("topic" as const, "message" as const), sender: userIndex }) },
);

/** Once failed CI: the creator raises users_default to 99, lowers itself to 50, then drops its own entry. */
const DROP_OWN_ENTRY: Step[] = [
  { kind: "power", sender: 0, target: 0, level: 0, field: 0, fieldLevel: 99, what: "field" },
  { kind: "power", sender: 0, target: 0, level: 50, field: 0, fieldLevel: 0, what: "user" },
  { kind: "power", sender: 0, target: 0, level: 0, field: 0, fieldLevel: 0, what: "remove" },
];

/** Once failed a long fuzz run: Frank gets 100 through users_default and makes Alice 50, who then lists Bob at 0. */
const LIST_DEFAULTED_USER: Step[] = [
  { kind: "member", sender: 5, target: 5, membership: "join" },
  { kind: "power", sender: 0, target: 0, level: 0, field: 0, fieldLevel: 100, what: "field" },
  { kind: "power", sender: 0, target: 0, level: 0, field: 0, fieldLevel: 0, what: "user" },
  { kind: "power", sender: 5, target: 0, level: 50, field: 0, fieldLevel: 0, what: "user" },
  { kind: "power", sender: 0, target: 1, level: 0, field: 0, fieldLevel: 0, what: "user" },
];

interface Stats {
  acceptedJoinsByOthers: number;
  acceptedBans: number;
  acceptedUnbans: number;
  acceptedPowerChanges: number;
  rejectedFromNonMembers: number;
  rejectedEscalations: number;
  rejectedBannedJoins: number;
}

/** One room under one version's rules, fed event by event. */
class Room {
  readonly state = new MapState();
  private readonly ids = new Map<Pdu, string>();
  private last: Pdu | undefined;
  private n = 0;
  readonly create: Pdu;
  readonly roomId: string;

  constructor(readonly version: RulesVersion) {
    const roomVersion = version === "lm" ? LM_ROOM_VERSION_ID : version;
    this.create = this.pdu({ type: "m.room.create", state_key: "", sender: CREATOR, content: { room_version: roomVersion }, prev_events: [], auth_events: [] });
    if (version === "12") delete this.create.room_id;
    else this.create.room_id = "!room:hub.test";
    this.ids.set(this.create, `$${createEventReferenceHash(this.create) ?? "create"}`);
    this.roomId = version === "12" ? `!${createEventReferenceHash(this.create) ?? ""}` : "!room:hub.test";
  }

  private pdu(p: Partial<Pdu> & Pick<Pdu, "type" | "sender" | "content">): Pdu {
    return { origin_server_ts: 1_700_000_000_000 + this.n++, hashes: { sha256: "aGFzaA" }, signatures: {}, auth_events: [], prev_events: [], ...p } as Pdu;
  }

  idOf(e: Pdu): string {
    let id = this.ids.get(e);
    if (!id) this.ids.set(e, (id = `$event${this.n++}`));
    return id;
  }

  keys(e: Pick<Pdu, "type" | "sender" | "state_key" | "content">): Array<[string, string]> {
    return this.version === "lm" ? authEventKeysLm(e) : authEventKeysMatrix(e, this.version);
  }

  /** An event with auth_events selected from current state and linked to the last accepted event. */
  event(type: string, sender: string, content: JsonObject, stateKey?: string): Pdu {
    const e = this.pdu({ room_id: this.roomId, type, sender, content, ...(stateKey !== undefined ? { state_key: stateKey } : {}) });
    const authEvents = this.keys(e)
      .map(([t, k]) => this.state.get(t, k))
      .filter((a): a is Pdu => a !== undefined);
    e.auth_events = authEvents.map((a) => this.idOf(a));
    e.prev_events = this.last ? [this.idOf(this.last)] : [];
    if (this.version !== "lm") e.depth = this.n;
    return e;
  }

  check(e: Pdu): AuthResult {
    eventsChecked++;
    const authEvents = e.auth_events.map((id) => [...this.ids].find(([, i]) => i === id)?.[0]).filter((a): a is Pdu => a !== undefined);
    const input = { event: e, state: this.state, authEvents, createEvent: this.create, prevEvent: this.last };
    return this.version === "lm" ? checkAuthLm(input) : checkAuthMatrix(input, this.version);
  }

  accept(e: Pdu): void {
    this.idOf(e);
    this.state.set(e);
    this.last = e;
  }

  /** Checks and applies; returns the verdict. */
  submit(e: Pdu): AuthResult {
    const r = this.check(e);
    if (r.allowed) this.accept(e);
    return r;
  }

  membership(user: string): string {
    const m = this.state.get("m.room.member", user)?.content["membership"];
    return typeof m === "string" ? m : "leave";
  }

  powerContent(): Record<string, unknown> {
    return structuredClone(this.state.get("m.room.power_levels", "")?.content ?? {});
  }

  /** Each user's effective level under `content` (the current power levels when omitted). */
  levelOf(user: string, content: unknown = this.state.get("m.room.power_levels", "")?.content): number {
    const parsed = content === undefined ? undefined : parsePowerLevels(content, this.version);
    if (parsed !== undefined && isPowerLevelsProblem(parsed)) throw new Error(`current power levels are malformed: ${parsed.reason}`);
    return userLevel({ levels: parsed, creators: roomCreators(this.create, this.version), version: this.version }, user);
  }
}

/** Builds the room every sequence starts from; the setup itself must pass the rules. */
function setUp(version: RulesVersion, joinRule: string): Room {
  const room = new Room(version);
  room.accept(room.create);
  const steps: Pdu[] = [
    room.event("m.room.member", CREATOR, { membership: "join" }, CREATOR),
  ];
  for (const e of steps) expect(room.submit(e)).toEqual({ allowed: true });
  const users: JsonObject = version === "12" ? {} : { [CREATOR]: 100 };
  expect(room.submit(room.event("m.room.power_levels", CREATOR, { users, users_default: 0, state_default: 50, events_default: 0, ban: 50, kick: 50, invite: 0, redact: 50 }, ""))).toEqual({ allowed: true });
  expect(room.submit(room.event("m.room.join_rules", CREATOR, { join_rule: joinRule }, ""))).toEqual({ allowed: true });
  return room;
}

function eventFor(room: Room, s: Step): Pdu {
  const sender = USERS[s.sender] as string;
  switch (s.kind) {
    case "member":
      return room.event("m.room.member", sender, { membership: s.membership }, USERS[s.target] as string);
    case "power": {
      const c = room.powerContent();
      const users = { ...((c["users"] as Record<string, number> | undefined) ?? {}) };
      const target = USERS[s.target] as string;
      if (s.what === "user") users[target] = s.level;
      if (s.what === "remove") delete users[target];
      if (s.what === "field") c[LEVEL_FIELDS[s.field] as string] = s.fieldLevel;
      if (s.what === "event") c["events"] = { ...((c["events"] as Record<string, number> | undefined) ?? {}), "m.room.power_levels": s.fieldLevel };
      c["users"] = users;
      return room.event("m.room.power_levels", sender, c as JsonObject, "");
    }
    case "join_rules":
      return room.event("m.room.join_rules", sender, { join_rule: s.rule }, "");
    case "topic":
      return room.event("m.room.topic", sender, { topic: "t" }, "");
    case "message":
      return room.event("m.room.message", sender, { msgtype: "m.text", body: "hi" });
  }
}

function runSequence(version: RulesVersion, joinRule: string, steps: readonly Step[], stats: Stats): void {
  cases++;
  const room = setUp(version, joinRule);
  // Banned and not unbanned since, per the history of accepted events (not read back from state).
  const banned = new Set<string>();
  for (const s of steps) {
    const e = eventFor(room, s);
    const sender = e.sender;
    const senderBefore = room.membership(sender);
    const target = e.state_key ?? "";
    const targetBefore = room.membership(target);
    const membership = e.content["membership"];
    const levelsBefore = new Map<string, number>(USERS.map((u) => [u, room.levelOf(u)]));
    const senderLevel = levelsBefore.get(sender) as number;
    const plBefore = room.powerContent();

    const verdict = room.submit(e);

    if (!verdict.allowed) {
      if (senderBefore !== "join" && !(e.type === "m.room.member" && target === sender)) stats.rejectedFromNonMembers++;
      if (e.type === "m.room.power_levels" && senderBefore === "join") stats.rejectedEscalations++;
      if (e.type === "m.room.member" && membership === "join" && banned.has(sender)) stats.rejectedBannedJoins++;
      continue;
    }

    // 1. Only joined senders, except a user's own join, knock, or leave from invite/knock.
    if (senderBefore !== "join") {
      expect({ type: e.type, self: target === sender }).toEqual({ type: "m.room.member", self: true });
      expect(["join", "knock", "leave"]).toContain(membership);
      if (membership === "join") expect(senderBefore).not.toBe("ban");
      if (membership === "leave") expect(["invite", "knock"]).toContain(senderBefore);
      if (membership === "knock") expect(["leave", "invite", "knock"]).toContain(senderBefore);
    }

    // 2. Power never rises above the sender's own, and nobody listed above the sender is touched
    //    (but see the two exceptions at the top of the file).
    if (e.type === "m.room.power_levels") {
      stats.acceptedPowerChanges++;
      const hadEntry = (c: Record<string, unknown>, u: string): boolean => Object.hasOwn((c["users"] as object | undefined) ?? {}, u);
      for (const u of USERS) {
        const before = levelsBefore.get(u) as number;
        const after = room.levelOf(u);
        if (u === sender && hadEntry(plBefore, u) && !hadEntry(e.content, u)) {
          expect({ u, after }).toEqual({ u, after: room.levelOf(u, { ...e.content, users: {} }) });
          continue;
        }
        if (after > before) expect({ u, after, limit: senderLevel }).toEqual({ u, after: Math.min(after, senderLevel), limit: senderLevel });
        if (u !== sender && before > senderLevel && hadEntry(plBefore, u)) expect({ u, after }).toEqual({ u, after: before });
      }
      for (const f of LEVEL_FIELDS) {
        const was = plBefore[f];
        const now = e.content[f];
        if (was !== now) {
          if (typeof was === "number") expect(was).toBeLessThanOrEqual(senderLevel);
          if (typeof now === "number") expect(now).toBeLessThanOrEqual(senderLevel);
        }
      }
      const plEventBefore = (plBefore["events"] as Record<string, number> | undefined)?.["m.room.power_levels"];
      const plEventAfter = (e.content["events"] as Record<string, number> | undefined)?.["m.room.power_levels"];
      if (plEventBefore !== plEventAfter) {
        for (const v of [plEventBefore, plEventAfter]) if (v !== undefined) expect(v).toBeLessThanOrEqual(senderLevel);
      }
    }

    // 3. A banned user stays out until unbanned.
    if (e.type === "m.room.member") {
      if (targetBefore === "ban") {
        expect(["ban", "leave"]).toContain(membership);
        if (membership === "leave") {
          expect(sender).not.toBe(target);
          banned.delete(target);
          stats.acceptedUnbans++;
        }
      }
      if (membership === "ban") {
        if (targetBefore !== "ban") stats.acceptedBans++;
        banned.add(target);
      }
      if (membership === "join" || membership === "invite" || membership === "knock") expect(banned.has(target)).toBe(false);
      if (membership === "join" && sender !== CREATOR) stats.acceptedJoinsByOthers++;
    }
  }
  // The model and the state agree on who is banned.
  for (const u of USERS) expect([u, room.membership(u) === "ban"]).toEqual([u, banned.has(u)]);
}

describe.each(["lm", "11", "12"] as const)("auth-rule invariants over random event sequences (rules %s)", { timeout: TIMEOUT }, (version) => {
  const stats: Stats = { acceptedJoinsByOthers: 0, acceptedBans: 0, acceptedUnbans: 0, acceptedPowerChanges: 0, rejectedFromNonMembers: 0, rejectedEscalations: 0, rejectedBannedJoins: 0 };

  it("hold: no event from a non-joined sender, no power above the sender's, no rejoin of a banned user without an unban", () => {
    fc.assert(
      fc.property(fc.constantFrom("public", "invite", "knock"), fc.array(step, { minLength: 20, maxLength: 60 }), (joinRule, steps) => {
        runSequence(version, joinRule, steps, stats);
      }),
      { numRuns: runs(100), examples: [["public", DROP_OWN_ENTRY], ["public", LIST_DEFAULTED_USER]] },
    );
    // The sequences reached every situation the invariants speak about, so none holds vacuously.
    for (const [k, v] of Object.entries(stats)) expect([k, v > 0]).toEqual([k, true]);
    console.log(`[fuzz] auth rules ${version}: ${JSON.stringify(stats)}`);
  });

  it("hold for an adversarial script: a kicked-out user tries everything, then is banned, retries, and is unbanned", () => {
    const room = setUp(version, "public");
    const bob = USERS[1];
    const dave = USERS[3];
    const ok = (e: Pdu) => expect(room.submit(e).allowed).toBe(true);
    const no = (e: Pdu) => expect(room.submit(e).allowed).toBe(false);
    // A non-member may not speak, set state, invite or ban.
    no(room.event("m.room.message", bob, { body: "x" }));
    no(room.event("m.room.topic", bob, { topic: "x" }, ""));
    no(room.event("m.room.member", bob, { membership: "invite" }, dave));
    no(room.event("m.room.member", bob, { membership: "ban" }, dave));
    ok(room.event("m.room.member", bob, { membership: "join" }, bob));
    // A joined user at level 0 cannot raise themself or anyone.
    const pl = room.powerContent();
    no(room.event("m.room.power_levels", bob, { ...pl, users: { ...(pl["users"] as object), [bob]: 100 } } as JsonObject, ""));
    ok(room.event("m.room.member", CREATOR, { membership: "ban" }, bob));
    no(room.event("m.room.member", bob, { membership: "join" }, bob));
    no(room.event("m.room.member", bob, { membership: "leave" }, bob));
    no(room.event("m.room.member", CREATOR, { membership: "invite" }, bob));
    no(room.event("m.room.member", bob, { membership: "knock" }, bob));
    ok(room.event("m.room.member", CREATOR, { membership: "leave" }, bob));
    ok(room.event("m.room.member", bob, { membership: "join" }, bob));
  });
});
