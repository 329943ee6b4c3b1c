// The parts of the authorization rules that the Linearized Matrix draft and Matrix room versions 11
// and 12 share: verdict helpers, the room as the rules see it, the base auth-events selection, and
// the membership and power-level rules whose text is the same in all three (only numbering differs).
// auth-rules-lm.ts and auth-rules-matrix.ts build on this; neither imports the other.

import type { Pdu, StateMap } from "./event.js";
import { isStateEvent } from "./event.js";
import type { AuthInput, AuthResult } from "./room-version.js";
import type { PowerContext, RulesVersion } from "./power-levels.js";
import {
  actionLevel,
  checkPowerLevelsChange,
  checkPowerLevelsContent,
  isPlainObject,
  isPowerLevelsProblem,
  parsePowerLevels,
  roomCreators,
  sendLevel,
  userLevel,
} from "./power-levels.js";

/** Rule 3.3 names `I.1`; the implementation note puts the unstable identifier on the wire. */
export const LM_ROOM_VERSIONS: ReadonlySet<string> = new Set(["I.1", "org.matrix.i-d.ralston-mimi-linearized-matrix.02"]);

export const ALLOW: AuthResult = { allowed: true };
export const reject = (rule: string, reason: string): AuthResult => ({ allowed: false, rule, reason });

/** Thrown where a rule cannot be evaluated (malformed state); guard() turns it into a rejection. */
export class Deny {
  constructor(
    readonly rule: string,
    readonly reason: string,
  ) {}
}

/** The exported checks never throw: hostile input ends as a rejection, never an exception. */
export function guard(run: () => AuthResult): AuthResult {
  try {
    return run();
  } catch (e) {
    if (e instanceof Deny) return reject(e.rule, e.reason);
    return reject("internal", `auth check failed: ${e instanceof Error ? e.message : String(e)}`);
  }
}

export const contentOf = (e: { content?: unknown }): Record<string, unknown> => (isPlainObject(e.content) ? e.content : {});

export function domainOf(id: unknown): string | undefined {
  if (typeof id !== "string") return undefined;
  const colon = id.indexOf(":");
  return colon < 0 ? undefined : id.slice(colon + 1);
}

const CREATE = "m.room.create";
const MEMBER = "m.room.member";

/** The room as the rules see it: memberships, join rule and (lazily parsed) power levels. */
export class RoomView {
  private power_: PowerContext | undefined;
  constructor(
    readonly state: StateMap,
    readonly create: Pdu | undefined,
    readonly version: RulesVersion,
  ) {}

  /** A user without a member event is in the `leave` state. */
  membership(user: string): string {
    const m = contentOf(this.state.get(MEMBER, user) ?? {}).membership;
    return typeof m === "string" ? m : "leave";
  }

  /** Neither text gives a default for a room without join rules; `invite` is the safe reading. */
  joinRule(): string {
    const r = contentOf(this.state.get("m.room.join_rules", "") ?? {}).join_rule;
    return typeof r === "string" ? r : "invite";
  }

  /** `rule` names the step that needs the levels, so malformed state is reported against it. */
  power(rule: string): PowerContext {
    if (this.power_) return this.power_;
    const pl = this.state.get("m.room.power_levels", "");
    const parsed = pl ? parsePowerLevels(pl.content, this.version) : undefined;
    if (parsed && isPowerLevelsProblem(parsed)) throw new Deny(rule, `current m.room.power_levels is malformed: ${parsed.reason}`);
    this.power_ = { levels: parsed, creators: roomCreators(this.create, this.version), version: this.version };
    return this.power_;
  }

  level(user: string, rule: string): number {
    return userLevel(this.power(rule), user);
  }
}

/** Appends (type, state_key) pairs once each, keeping first-seen order. */
export class KeyList {
  private readonly seen = new Set<string>();
  readonly keys: Array<[string, string]> = [];
  add(type: string, stateKey: string): void {
    const k = `${type}\u0000${stateKey}`;
    if (this.seen.has(k)) return;
    this.seen.add(k);
    this.keys.push([type, stateKey]);
  }
}

/** The selection every version starts from: create, power levels, the sender's and target's membership, join rules. */
export function baseAuthEventKeys(event: Pick<Pdu, "type" | "sender" | "state_key" | "content">): Array<[string, string]> {
  const list = new KeyList();
  if (event.type === CREATE) return list.keys;
  list.add(CREATE, "");
  list.add("m.room.power_levels", "");
  if (typeof event.sender === "string") list.add(MEMBER, event.sender);
  if (event.type === MEMBER) {
    if (typeof event.state_key === "string") list.add(MEMBER, event.state_key);
    const m = contentOf(event).membership;
    if (m === "join" || m === "invite") list.add("m.room.join_rules", "");
  }
  return list.keys;
}

/** The duplicate and unexpected-entry checks (LM 4.1-4.2, v11 2.1-2.2, v12 3.1-3.2). */
export function checkAuthEventEntries(event: Pdu, authEvents: readonly Pdu[], expected: Array<[string, string]>, prefix: string): AuthResult | undefined {
  const ids = Array.isArray(event.auth_events) ? event.auth_events : [];
  if (new Set(ids).size !== ids.length) return reject(`${prefix}.1`, "auth_events lists an event twice");
  const allowed = new Set(expected.map(([t, k]) => `${t}\u0000${k}`));
  const seen = new Set<string>();
  for (const a of authEvents) {
    if (typeof a.type !== "string" || typeof a.state_key !== "string") return reject(`${prefix}.2`, "an auth event is not a state event");
    const k = `${a.type}\u0000${a.state_key}`;
    if (seen.has(k)) return reject(`${prefix}.1`, `duplicate auth events for (${a.type}, ${a.state_key})`);
    seen.add(k);
    if (!allowed.has(k)) return reject(`${prefix}.2`, `auth event (${a.type}, ${a.state_key}) is not one the selection algorithm picks`);
  }
  return undefined;
}

/** Leave/kick/unban (LM 5.4, v11 4.5, v12 5.5): identical in all three texts. */
export function leaveRules(event: Pdu, target: string, room: RoomView, p: string): AuthResult {
  const sender = event.sender;
  if (sender === target) {
    const cur = room.membership(sender);
    return cur === "invite" || cur === "join" || cur === "knock" ? ALLOW : reject(`${p}.1`, `cannot leave from membership ${cur}`);
  }
  if (room.membership(sender) !== "join") return reject(`${p}.2`, "sender is not joined");
  const pw = room.power(`${p}.3`);
  const senderLevel = userLevel(pw, sender);
  if (room.membership(target) === "ban" && senderLevel < actionLevel(pw.levels, "ban")) {
    return reject(`${p}.3`, "unbanning needs the ban level");
  }
  if (senderLevel >= actionLevel(pw.levels, "kick") && userLevel(pw, target) < senderLevel) return ALLOW;
  return reject(`${p}.5`, "sender lacks the kick level or does not outrank the target");
}

/** Ban (LM 5.5, v11 4.6, v12 5.6). */
export function banRules(event: Pdu, target: string, room: RoomView, p: string): AuthResult {
  if (room.membership(event.sender) !== "join") return reject(`${p}.1`, "sender is not joined");
  const pw = room.power(`${p}.2`);
  const senderLevel = userLevel(pw, event.sender);
  if (senderLevel >= actionLevel(pw.levels, "ban") && userLevel(pw, target) < senderLevel) return ALLOW;
  return reject(`${p}.3`, "sender lacks the ban level or does not outrank the target");
}

/**
 * The last four rules, shared by all versions: required level, owned state keys, power-levels changes,
 * allow. `base` is their first number (7 in LM and v11, 8 in v12). v12 inserts 10.4 (no creators in
 * `users`), so its later power-levels sub-steps are one higher.
 */
export function finalRules(event: Pdu, room: RoomView, base: number): AuthResult {
  const sender = event.sender;
  const pw = room.power(`${base}`);
  const required = sendLevel(pw.levels, event.type, isStateEvent(event));
  const senderLevel = userLevel(pw, sender);
  if (required > senderLevel) return reject(`${base}`, `${event.type} needs level ${required}, sender has ${senderLevel}`);
  if (typeof event.state_key === "string" && event.state_key.startsWith("@") && event.state_key !== sender) {
    return reject(`${base + 1}`, "state_key names another user");
  }
  if (event.type !== "m.room.power_levels") return ALLOW;

  const v = room.version;
  const p = `${base + 2}`;
  const n = (i: number): string => `${p}.${v === "12" && i >= 4 ? i + 1 : i}`;
  const content = contentOf(event);
  const problem = checkPowerLevelsContent(event.content, v);
  if (problem) return reject(n(problem.step), problem.reason);
  if (v === "12" && isPlainObject(content.users)) {
    const creator = Object.keys(content.users).find((u) => pw.creators.has(u));
    if (creator !== undefined) return reject(`${p}.4`, `users lists room creator ${creator}`);
  }
  const current = room.state.get("m.room.power_levels", "");
  if (!current || !pw.levels) return ALLOW;
  const after = parsePowerLevels(content, v);
  if (isPowerLevelsProblem(after)) return reject(n(after.step), after.reason);
  const esc = checkPowerLevelsChange(pw.levels, contentOf(current), after, content, sender, senderLevel, v);
  return esc ? reject(`${n(esc.step)}.${esc.sub}`, esc.reason) : ALLOW;
}

/**
 * A room has exactly one create event, its first: once the room has one (in its state, or given
 * as the room's create event), any other is refused under the "no prev_events" rule, whatever
 * links it claims. A builder that forgot to link it to the room's last event must not make it pass.
 */
export function roomAlreadyCreated(input: Pick<AuthInput, "state" | "createEvent">): boolean {
  return input.createEvent !== undefined || input.state.get(CREATE, "") !== undefined;
}
