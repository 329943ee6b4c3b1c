// Power levels (draft -04 "Calculating Power Levels", "m.room.power_levels"; Matrix m.room.power_levels
// and room v12 "room creators"). All three rule sets here (LM, v11, v12) require integer levels: string
// levels from room versions before 10 are malformed, never coerced.

import type { Pdu } from "./event.js";
import { isUserId } from "./ids.js";

export type RulesVersion = "lm" | "11" | "12";

/**
 * A v12 room creator's level. Infinity compares above every integer, so `>=` checks pass and
 * "target's level < sender's" fails between two creators, which is what "infinitely high" implies.
 */
export const CREATOR_POWER_LEVEL = Number.POSITIVE_INFINITY;

/** The creator's level while the room has no m.room.power_levels event (LM and v11). */
export const NO_POWER_LEVELS_CREATOR_LEVEL = 100;

export const LEVEL_FIELDS = ["users_default", "events_default", "state_default", "ban", "redact", "kick", "invite"] as const;
export type LevelField = (typeof LEVEL_FIELDS)[number];
export type Action = "kick" | "ban" | "invite" | "redact";

export interface PowerLevels {
  users: ReadonlyMap<string, number>;
  events: ReadonlyMap<string, number>;
  notifications: ReadonlyMap<string, number>;
  users_default: number;
  events_default: number;
  state_default: number;
  ban: number;
  kick: number;
  invite: number;
  redact: number;
}

/** The levels that apply when a field is absent, or when there is no power-levels event at all. */
export const DEFAULT_LEVELS: Readonly<Record<LevelField, number>> = {
  users_default: 0,
  events_default: 0,
  state_default: 50,
  ban: 50,
  kick: 50,
  invite: 0,
  redact: 50,
};

export const isPowerLevel = (v: unknown): v is number => Number.isSafeInteger(v);

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Which of the three validation sub-steps (LM 9.1-9.3, v11 9.1-9.3, v12 10.1-10.3) a content fails. */
export interface PowerLevelsProblem {
  step: 1 | 2 | 3;
  reason: string;
}

/** `notifications` is validated by the Matrix versions only; LM does not define it. */
export function checkPowerLevelsContent(content: unknown, version: RulesVersion): PowerLevelsProblem | undefined {
  if (!isPlainObject(content)) return { step: 1, reason: "content is not an object" };
  for (const f of LEVEL_FIELDS) {
    if (f in content && !isPowerLevel(content[f])) return { step: 1, reason: `${f} is not an integer` };
  }
  for (const f of version === "lm" ? ["events"] : ["events", "notifications"]) {
    if (!(f in content)) continue;
    const m = content[f];
    if (!isPlainObject(m)) return { step: 2, reason: `${f} is not an object` };
    for (const [k, v] of Object.entries(m)) if (!isPowerLevel(v)) return { step: 2, reason: `${f}[${k}] is not an integer` };
  }
  // An absent `users` is accepted: v11's wording drops "present", but an empty map is the documented default.
  if ("users" in content) {
    const users = content.users;
    if (!isPlainObject(users)) return { step: 3, reason: "users is not an object" };
    for (const [k, v] of Object.entries(users)) {
      if (!isUserId(k)) return { step: 3, reason: `users key ${JSON.stringify(k).slice(0, 100)} is not a user ID` };
      if (!isPowerLevel(v)) return { step: 3, reason: `users[${k}] is not an integer` };
    }
  }
  return undefined;
}

const toMap = (v: unknown): Map<string, number> =>
  new Map(isPlainObject(v) ? (Object.entries(v).filter(([, n]) => isPowerLevel(n)) as Array<[string, number]>) : []);

/** Parses validated content; anything malformed comes back as the problem instead. */
export function parsePowerLevels(content: unknown, version: RulesVersion): PowerLevels | PowerLevelsProblem {
  const problem = checkPowerLevelsContent(content, version);
  if (problem) return problem;
  const c = content as Record<string, unknown>;
  const level = (f: LevelField): number => (isPowerLevel(c[f]) ? c[f] : DEFAULT_LEVELS[f]);
  return {
    users: toMap(c.users),
    events: toMap(c.events),
    notifications: toMap(c.notifications),
    users_default: level("users_default"),
    events_default: level("events_default"),
    state_default: level("state_default"),
    ban: level("ban"),
    kick: level("kick"),
    invite: level("invite"),
    redact: level("redact"),
  };
}

export const isPowerLevelsProblem = (p: PowerLevels | PowerLevelsProblem): p is PowerLevelsProblem => "step" in p;

/** LM and v11: the create event's sender. v12 adds each valid user ID in `content.additional_creators`. */
export function roomCreators(create: Pdu | undefined, version: RulesVersion): Set<string> {
  const creators = new Set<string>();
  if (!create) return creators;
  if (typeof create.sender === "string") creators.add(create.sender);
  const extra = isPlainObject(create.content) ? create.content.additional_creators : undefined;
  if (version === "12" && Array.isArray(extra)) for (const u of extra) if (isUserId(u)) creators.add(u);
  return creators;
}

/** Everything the level calculations read: the current levels (absent without a power-levels event) and the creators. */
export interface PowerContext {
  levels: PowerLevels | undefined;
  creators: ReadonlySet<string>;
  version: RulesVersion;
}

export function userLevel(ctx: PowerContext, userId: string): number {
  if (ctx.version === "12" && ctx.creators.has(userId)) return CREATOR_POWER_LEVEL;
  if (ctx.levels) return ctx.levels.users.get(userId) ?? ctx.levels.users_default;
  return ctx.creators.has(userId) ? NO_POWER_LEVELS_CREATOR_LEVEL : DEFAULT_LEVELS.users_default;
}

/** The level required to send `type`; a state_key of "" still makes it a state event. */
export function sendLevel(levels: PowerLevels | undefined, type: string, isState: boolean): number {
  const explicit = levels?.events.get(type);
  if (explicit !== undefined) return explicit;
  if (isState) return levels?.state_default ?? DEFAULT_LEVELS.state_default;
  return levels?.events_default ?? DEFAULT_LEVELS.events_default;
}

export function actionLevel(levels: PowerLevels | undefined, action: Action): number {
  return levels ? levels[action] : DEFAULT_LEVELS[action];
}

/** A failed escalation check, numbered as LM/v11 9.5-9.9 (v12 shifts these to 10.6-10.10). */
export interface EscalationProblem {
  step: 5 | 6 | 7 | 8 | 9;
  sub: 1 | 2;
  reason: string;
}

function changes(before: ReadonlyMap<string, number>, after: ReadonlyMap<string, number>) {
  const changedOrRemoved = [...before].filter(([k, v]) => after.get(k) !== v);
  const addedOrChanged = [...after].filter(([k, v]) => before.get(k) !== v);
  return { changedOrRemoved, addedOrChanged };
}

/**
 * The rules that keep a sender from granting or taking away more power than they hold. Both contents
 * must already have passed checkPowerLevelsContent. Top-level fields are compared as written, not
 * with defaults filled in, as the texts say "added, changed or removed".
 */
export function checkPowerLevelsChange(
  before: PowerLevels,
  beforeContent: Record<string, unknown>,
  after: PowerLevels,
  afterContent: Record<string, unknown>,
  sender: string,
  senderLevel: number,
  version: RulesVersion,
): EscalationProblem | undefined {
  for (const f of LEVEL_FIELDS) {
    const had = isPowerLevel(beforeContent[f]);
    const has = isPowerLevel(afterContent[f]);
    if (had === has && (!had || before[f] === after[f])) continue;
    if (had && before[f] > senderLevel) return { step: 5, sub: 1, reason: `current ${f} ${before[f]} is above the sender's level` };
    if (has && after[f] > senderLevel) return { step: 5, sub: 2, reason: `new ${f} ${after[f]} is above the sender's level` };
  }
  const maps = version === "lm" ? (["events"] as const) : (["events", "notifications"] as const);
  const diffs = maps.map((m) => [m, changes(before[m], after[m])] as const);
  for (const [m, d] of diffs) {
    const bad = d.changedOrRemoved.find(([, v]) => v > senderLevel);
    if (bad) return { step: 6, sub: 1, reason: `current ${m}[${bad[0]}] ${bad[1]} is above the sender's level` };
  }
  for (const [m, d] of diffs) {
    const bad = d.addedOrChanged.find(([, v]) => v > senderLevel);
    if (bad) return { step: 7, sub: 1, reason: `new ${m}[${bad[0]}] ${bad[1]} is above the sender's level` };
  }
  const users = changes(before.users, after.users);
  // LM forbids touching users strictly above the sender; Matrix also protects the sender's peers.
  const protectedLevel = (v: number) => (version === "lm" ? v > senderLevel : v >= senderLevel);
  const peer = users.changedOrRemoved.find(([u, v]) => u !== sender && protectedLevel(v));
  if (peer) return { step: 8, sub: 1, reason: `cannot change ${peer[0]} at level ${peer[1]}; sender has ${senderLevel}` };
  const raised = users.addedOrChanged.find(([, v]) => v > senderLevel);
  if (raised) return { step: 9, sub: 1, reason: `new level ${raised[1]} for ${raised[0]} is above the sender's level` };
  return undefined;
}
