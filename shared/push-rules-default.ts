// The spec's predefined push rules ("Push Rules: Predefined Rules"), built for one user. The server
// evaluates none of them (it has no push gateway yet); it keeps them so every client sees the same
// complete rule set, and so a user's changes to them (enabled, actions) follow the user.

export type PushRuleKind = "override" | "content" | "room" | "sender" | "underride";
export const PUSH_RULE_KINDS: readonly PushRuleKind[] = ["override", "content", "room", "sender", "underride"];

export type PushAction = string | Record<string, unknown>;

export interface PushRule {
  rule_id: string;
  default: boolean;
  enabled: boolean;
  actions: PushAction[];
  conditions?: Array<Record<string, unknown>>;
  pattern?: string;
}

export type PushRuleset = Record<PushRuleKind, PushRule[]>;

const notify = "notify";
const sound = (value: string) => ({ set_tweak: "sound", value });
const highlight = (value = true) => (value ? { set_tweak: "highlight" } : { set_tweak: "highlight", value: false });
const typeIs = (pattern: string) => ({ kind: "event_match", key: "type", pattern });

function rule(rule_id: string, conditions: Array<Record<string, unknown>>, actions: PushAction[], enabled = true): PushRule {
  return { rule_id, default: true, enabled, conditions, actions };
}

/** The localpart of a user ID, which the content rule `.m.rule.contains_user_name` matches. */
function localpartOf(userId: string): string {
  const colon = userId.indexOf(":");
  return userId.slice(1, colon < 0 ? undefined : colon);
}

/**
 * Override rules that go before the user's own override rules. Only the master switch does: it must
 * be able to silence everything.
 */
export function defaultOverrideHead(): PushRule[] {
  return [rule(".m.rule.master", [], [], false)];
}

/** The remaining default override rules, in the spec's order, after the user's own. */
export function defaultOverrideTail(userId: string): PushRule[] {
  return [
    rule(".m.rule.suppress_notices", [{ kind: "event_match", key: "content.msgtype", pattern: "m.notice" }], []),
    rule(
      ".m.rule.invite_for_me",
      [typeIs("m.room.member"), { kind: "event_match", key: "content.membership", pattern: "invite" }, { kind: "event_match", key: "state_key", pattern: userId }],
      [notify, sound("default"), highlight(false)],
    ),
    rule(".m.rule.member_event", [typeIs("m.room.member")], []),
    rule(".m.rule.is_user_mention", [{ kind: "event_property_contains", key: "content.m\\.mentions.user_ids", value: userId }], [notify, sound("default"), highlight()]),
    rule(".m.rule.contains_display_name", [{ kind: "contains_display_name" }], [notify, sound("default"), highlight()]),
    rule(".m.rule.is_room_mention", [{ kind: "event_property_is", key: "content.m\\.mentions.room", value: true }, { kind: "sender_notification_permission", key: "room" }], [notify, highlight()]),
    rule(".m.rule.roomnotif", [{ kind: "sender_notification_permission", key: "room" }, { kind: "event_match", key: "content.body", pattern: "@room" }], [notify, highlight()]),
    rule(".m.rule.tombstone", [typeIs("m.room.tombstone"), { kind: "event_match", key: "state_key", pattern: "" }], [notify, highlight()]),
    rule(".m.rule.reaction", [typeIs("m.reaction")], []),
    rule(".m.rule.room.server_acl", [typeIs("m.room.server_acl"), { kind: "event_match", key: "state_key", pattern: "" }], []),
    // MSC3786's unstable name for the rule above: matrix-js-sdk 36 expects both and adds what is missing.
    rule(".org.matrix.msc3786.rule.room.server_acl", [typeIs("m.room.server_acl"), { kind: "event_match", key: "state_key", pattern: "" }], []),
    rule(".m.rule.suppress_edits", [{ kind: "event_property_is", key: "content.m\\.relates_to.rel_type", value: "m.replace" }], []),
  ];
}

export function defaultContentRules(userId: string): PushRule[] {
  return [{ rule_id: ".m.rule.contains_user_name", default: true, enabled: true, pattern: localpartOf(userId), actions: [notify, sound("default"), highlight()] }];
}

export function defaultUnderrideRules(): PushRule[] {
  const oneToOne = { kind: "room_member_count", is: "2" };
  return [
    rule(".m.rule.call", [typeIs("m.call.invite")], [notify, sound("ring"), highlight(false)]),
    // MSC3914 (group call started): matrix-js-sdk 36 expects it among the defaults.
    rule(".org.matrix.msc3914.rule.room.call", [typeIs("org.matrix.msc3401.call"), { kind: "call_started" }], [notify, sound("default")]),
    rule(".m.rule.encrypted_room_one_to_one", [oneToOne, typeIs("m.room.encrypted")], [notify, sound("default"), highlight(false)]),
    rule(".m.rule.room_one_to_one", [oneToOne, typeIs("m.room.message")], [notify, sound("default"), highlight(false)]),
    rule(".m.rule.message", [typeIs("m.room.message")], [notify, highlight(false)]),
    rule(".m.rule.encrypted", [typeIs("m.room.encrypted")], [notify, highlight(false)]),
  ];
}

/** Every predefined rule of a user, by kind (for lookups by rule ID). */
export function defaultRules(userId: string): PushRuleset {
  return {
    override: [...defaultOverrideHead(), ...defaultOverrideTail(userId)],
    content: defaultContentRules(userId),
    room: [],
    sender: [],
    underride: defaultUnderrideRules(),
  };
}
