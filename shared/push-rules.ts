// A user's push rules: their own rules plus their changes to the predefined ones, and the pure
// operations of the client-server push rules API on them (add with before/after, delete, enable,
// set actions). Storage keeps the document; this module decides what it becomes.

import { MatrixError, badJson, invalidParam, notFound } from "./errors.js";
import { isRoomId, isUserId } from "./ids.js";
import { defaultContentRules, defaultOverrideHead, defaultOverrideTail, defaultRules, defaultUnderrideRules, PUSH_RULE_KINDS, type PushAction, type PushRule, type PushRuleKind, type PushRuleset } from "./push-rules-default.js";

export interface PushRulesDoc {
  /** The user's own rules per kind, highest priority first. */
  user: PushRuleset;
  /** Changes to predefined rules, by "kind/ruleId". */
  defaults: Record<string, { enabled?: boolean; actions?: PushAction[] }>;
}

export const emptyPushRulesDoc = (): PushRulesDoc => ({ user: { override: [], content: [], room: [], sender: [], underride: [] }, defaults: {} });

const MAX_RULES_PER_KIND = 500;
const MAX_RULE_ID = 255;

export function isPushRuleKind(s: string): s is PushRuleKind {
  return (PUSH_RULE_KINDS as readonly string[]).includes(s);
}

function withChanges(doc: PushRulesDoc, kind: PushRuleKind, rules: PushRule[]): PushRule[] {
  return rules.map((r) => {
    const change = doc.defaults[`${kind}/${r.rule_id}`];
    return change ? { ...r, ...(change.enabled !== undefined ? { enabled: change.enabled } : {}), ...(change.actions ? { actions: change.actions } : {}) } : r;
  });
}

/**
 * The rule set clients see, in evaluation order per kind: the master rule, then the user's override
 * rules, then the other predefined ones; the user's content and underride rules before the predefined.
 */
export function effectiveRuleset(userId: string, doc: PushRulesDoc): PushRuleset {
  return {
    override: [...withChanges(doc, "override", defaultOverrideHead()), ...doc.user.override, ...withChanges(doc, "override", defaultOverrideTail(userId))],
    content: [...doc.user.content, ...withChanges(doc, "content", defaultContentRules(userId))],
    room: [...doc.user.room],
    sender: [...doc.user.sender],
    underride: [...doc.user.underride, ...withChanges(doc, "underride", defaultUnderrideRules())],
  };
}

/** One rule, predefined or the user's; 404 M_NOT_FOUND when there is none. */
export function findRule(userId: string, doc: PushRulesDoc, kind: PushRuleKind, ruleId: string): PushRule {
  const found = effectiveRuleset(userId, doc)[kind].find((r) => r.rule_id === ruleId);
  if (!found) throw notFound(`No push rule ${kind}/${ruleId}`);
  return found;
}

const isPredefined = (userId: string, kind: PushRuleKind, ruleId: string) => defaultRules(userId)[kind].some((r) => r.rule_id === ruleId);

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** `actions` as the spec allows them: strings, or tweak objects (`set_tweak` naming the tweak). */
export function parseActions(raw: unknown): PushAction[] {
  if (!Array.isArray(raw)) throw badJson("actions must be a list");
  if (raw.length > 20) throw badJson("At most 20 actions");
  return raw.map((a) => {
    if (typeof a === "string" && a !== "" && a.length <= 64) return a;
    if (isObject(a) && typeof a["set_tweak"] === "string") return a;
    throw badJson("Each action must be a string or an object with set_tweak");
  });
}

function parseConditions(raw: unknown): Array<Record<string, unknown>> {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw) || raw.length > 20) throw badJson("conditions must be a list of at most 20 conditions");
  return raw.map((c) => {
    if (!isObject(c) || typeof c["kind"] !== "string") throw badJson("Each condition must be an object with a kind");
    return c;
  });
}

/** The ID rules of a kind must have: a room's ID for room rules, a user's for sender rules. */
function checkRuleId(kind: PushRuleKind, ruleId: string): void {
  if (ruleId === "" || ruleId.length > MAX_RULE_ID) throw invalidParam("Invalid rule ID");
  if (ruleId.startsWith(".")) throw invalidParam("Rule IDs starting with '.' are reserved for predefined rules");
  if (ruleId.includes("/") || ruleId.includes("\\")) throw invalidParam("Rule IDs may not contain slashes");
  if (kind === "room" && !isRoomId(ruleId)) throw invalidParam("A room rule's ID is the room's ID");
  if (kind === "sender" && !isUserId(ruleId)) throw invalidParam("A sender rule's ID is the sender's user ID");
}

/** A new or replaced rule from a PUT body. */
export function parseNewRule(kind: PushRuleKind, ruleId: string, body: Record<string, unknown>): PushRule {
  checkRuleId(kind, ruleId);
  const actions = parseActions(body["actions"]);
  const rule: PushRule = { rule_id: ruleId, default: false, enabled: true, actions };
  if (kind === "content") {
    const pattern = body["pattern"];
    if (typeof pattern !== "string" || pattern === "" || pattern.length > 1024) throw new MatrixError(400, "M_MISSING_PARAM", "A content rule needs a pattern");
    rule.pattern = pattern;
  }
  if (kind === "override" || kind === "underride") rule.conditions = parseConditions(body["conditions"]);
  return rule;
}

/** Adds or replaces a user rule, placed before/after another user rule of the same kind if asked. */
export function putRule(userId: string, doc: PushRulesDoc, kind: PushRuleKind, rule: PushRule, place: { before?: string; after?: string }): PushRulesDoc {
  const anchorId = place.before ?? place.after;
  if (anchorId !== undefined && isPredefined(userId, kind, anchorId)) throw invalidParam("before/after cannot name a predefined rule");
  const existing = doc.user[kind];
  const index = existing.findIndex((r) => r.rule_id === rule.rule_id);
  const rules = existing.filter((r) => r.rule_id !== rule.rule_id);
  if (index < 0 && rules.length >= MAX_RULES_PER_KIND) throw new MatrixError(400, "M_LIMIT_EXCEEDED", `At most ${MAX_RULES_PER_KIND} ${kind} rules`);
  // A replaced rule keeps its place unless told otherwise; a new one goes first (highest priority).
  let at = index < 0 ? 0 : index;
  if (anchorId !== undefined) {
    const anchor = rules.findIndex((r) => r.rule_id === anchorId);
    if (anchor < 0) throw notFound(`No ${kind} rule ${anchorId} to place this rule next to`);
    at = place.before !== undefined ? anchor : anchor + 1;
  }
  // A replaced rule keeps its enabled flag (the spec: PUT sets rule content, /enabled the flag).
  const kept = index < 0 ? rule : { ...rule, enabled: (existing[index] as PushRule).enabled };
  rules.splice(at, 0, kept);
  return { ...doc, user: { ...doc.user, [kind]: rules } };
}

export function deleteRule(userId: string, doc: PushRulesDoc, kind: PushRuleKind, ruleId: string): PushRulesDoc {
  if (isPredefined(userId, kind, ruleId)) throw invalidParam("Predefined rules cannot be deleted; disable them instead");
  if (!doc.user[kind].some((r) => r.rule_id === ruleId)) throw notFound(`No push rule ${kind}/${ruleId}`);
  return { ...doc, user: { ...doc.user, [kind]: doc.user[kind].filter((r) => r.rule_id !== ruleId) } };
}

/** Sets `enabled` or `actions` of a rule, predefined or the user's. */
export function changeRule(userId: string, doc: PushRulesDoc, kind: PushRuleKind, ruleId: string, change: { enabled?: boolean; actions?: PushAction[] }): PushRulesDoc {
  findRule(userId, doc, kind, ruleId);
  if (isPredefined(userId, kind, ruleId)) {
    const key = `${kind}/${ruleId}`;
    return { ...doc, defaults: { ...doc.defaults, [key]: { ...doc.defaults[key], ...change } } };
  }
  return { ...doc, user: { ...doc.user, [kind]: doc.user[kind].map((r) => (r.rule_id === ruleId ? { ...r, ...change } : r)) } };
}

/** Reads a stored document, tolerating kinds added later. */
export function parsePushRulesDoc(json: string | null): PushRulesDoc {
  if (json === null) return emptyPushRulesDoc();
  const raw = JSON.parse(json) as Partial<PushRulesDoc>;
  const base = emptyPushRulesDoc();
  return { user: { ...base.user, ...raw.user }, defaults: { ...raw.defaults } };
}
