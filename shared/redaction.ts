// Event redaction (draft -04 "Event Redactions"; Matrix room v11 redaction rules, unchanged in v12).
// Redaction decides what signatures and reference hashes (event IDs) cover, so every byte of the
// kept set matters: a difference from a peer's algorithm means their IDs and signatures fail here.
//
// Inputs are untrusted and may be malformed: nothing here throws on wrong types, lookups go
// through Map/Object.hasOwn so event types like "constructor" or "__proto__" cannot reach the
// prototype, and the output is a deep copy that shares nothing with the input.

type Json = Record<string, unknown>;

/** Content rule for one event type: keep everything, or build the kept subset. */
type ContentRule = "all" | ((content: Json) => Json);

interface RedactionRules {
  readonly topLevel: ReadonlySet<string>;
  readonly content: ReadonlyMap<string, ContentRule>;
}

const isPlainObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

/** Sets an own property, even for the key "__proto__", where plain assignment would set the prototype instead. */
function setOwn(target: Json, key: string, value: unknown): void {
  if (key === "__proto__") Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}

/** Deep copy of JSON-shaped data; values JSON cannot hold are copied as they are. */
export function cloneJson<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v) => cloneJson(v)) as T;
  if (isPlainObject(value)) {
    const out: Json = {};
    for (const k of Object.keys(value)) setOwn(out, k, cloneJson(value[k]));
    return out as T;
  }
  return value;
}

/** Keeps the listed own keys of `content`, copied. */
function pick(...keys: string[]): (content: Json) => Json {
  return (content) => {
    const out: Json = {};
    for (const k of keys) {
      if (Object.hasOwn(content, k) && content[k] !== undefined) setOwn(out, k, cloneJson(content[k]));
    }
    return out;
  };
}

function redactWith<T extends object>(rules: RedactionRules, event: T): Partial<T> {
  const src = event as unknown as Json;
  const out: Json = {};
  for (const key of Object.keys(src)) {
    if (!rules.topLevel.has(key) || src[key] === undefined) continue;
    if (key === "content") {
      const content = src[key];
      const rule = typeof src.type === "string" ? rules.content.get(src.type) : undefined;
      // Content of the wrong type has nothing worth keeping; an empty object keeps the shape valid.
      if (!isPlainObject(content) || rule === undefined) setOwn(out, key, {});
      else setOwn(out, key, rule === "all" ? cloneJson(content) : rule(content));
    } else {
      setOwn(out, key, cloneJson(src[key]));
    }
  }
  return out as Partial<T>;
}

// Linearized Matrix (org.matrix.i-d.ralston-mimi-linearized-matrix.02): the draft's lists exactly.
// No `depth` or `origin` (LM events do not carry them), and `hub_server` is protected.
const LM_RULES: RedactionRules = {
  topLevel: new Set([
    "type",
    "room_id",
    "sender",
    "state_key",
    "content",
    "origin_server_ts",
    "hashes",
    "signatures",
    "prev_events",
    "auth_events",
    "hub_server",
  ]),
  content: new Map<string, ContentRule>([
    ["m.room.create", "all"],
    ["m.room.member", pick("membership")],
    ["m.room.join_rules", pick("join_rule")],
    [
      "m.room.power_levels",
      pick("ban", "events", "events_default", "kick", "redact", "state_default", "users", "users_default", "invite"),
    ],
    ["m.room.history_visibility", pick("history_visibility")],
  ]),
};

/** v11 members keep `join_authorised_via_users_server` and, of `third_party_invite`, only `signed`. */
function v11Member(content: Json): Json {
  const out = pick("membership", "join_authorised_via_users_server")(content);
  const tpi = content.third_party_invite;
  if (isPlainObject(tpi) && Object.hasOwn(tpi, "signed") && tpi.signed !== undefined) {
    out.third_party_invite = { signed: cloneJson(tpi.signed) };
  }
  return out;
}

// Room version 11 (and 12, which did not change redaction). `origin`, `membership` and
// `prev_state` are no longer protected; `event_id` stays in the list for events of older formats
// that carried it, but hashing and signature code strips it before redacting.
const V11_RULES: RedactionRules = {
  topLevel: new Set([
    "event_id",
    "type",
    "room_id",
    "sender",
    "state_key",
    "content",
    "hashes",
    "signatures",
    "depth",
    "prev_events",
    "auth_events",
    "origin_server_ts",
  ]),
  content: new Map<string, ContentRule>([
    ["m.room.create", "all"],
    ["m.room.member", v11Member],
    ["m.room.join_rules", pick("join_rule", "allow")],
    [
      "m.room.power_levels",
      pick("ban", "events", "events_default", "invite", "kick", "redact", "state_default", "users", "users_default"),
    ],
    ["m.room.history_visibility", pick("history_visibility")],
    ["m.room.redaction", pick("redacts")],
  ]),
};

/** Redaction for the Linearized Matrix room version. Never mutates its input. */
export function redactLm<T extends object>(event: T): Partial<T> {
  return redactWith(LM_RULES, event);
}

/** Redaction for Matrix room version 11. Never mutates its input. */
export function redactV11<T extends object>(event: T): Partial<T> {
  return redactWith(V11_RULES, event);
}

/** Room version 12 kept v11's redaction algorithm unchanged. */
export function redactV12<T extends object>(event: T): Partial<T> {
  return redactWith(V11_RULES, event);
}
