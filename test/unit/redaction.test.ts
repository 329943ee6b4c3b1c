import { describe, expect, it } from "vitest";
import { redactLm, redactV11, redactV12 } from "../../shared/redaction.js";

type Redactor = <T extends object>(event: T) => Partial<T>;

/** Every top-level key any version might keep or drop. */
const FULL = {
  event_id: "$id",
  type: "m.room.message",
  room_id: "!r:example.org",
  sender: "@a:example.org",
  state_key: "",
  content: { body: "hi" },
  origin_server_ts: 5,
  hashes: { sha256: "h", lpdu: { sha256: "l" } },
  signatures: { "example.org": { "ed25519:1": "s" } },
  prev_events: ["$p"],
  auth_events: ["$a"],
  hub_server: "example.org",
  depth: 3,
  origin: "example.org",
  membership: "join",
  prev_state: [],
  redacts: "$r",
  unsigned: { age: 1 },
  something_else: true,
};

const keysOf = (o: object): string[] => Object.keys(o).sort();

describe("top-level keys", () => {
  it("LM keeps exactly the draft's list", () => {
    expect(keysOf(redactLm(FULL))).toEqual(
      ["auth_events", "content", "hashes", "hub_server", "origin_server_ts", "prev_events", "room_id", "sender", "signatures", "state_key", "type"].sort(),
    );
  });

  it.each([
    ["v11", redactV11],
    ["v12", redactV12],
  ] as const)("%s keeps the v11 list (no origin, membership, prev_state, hub_server)", (_name, redact) => {
    expect(keysOf(redact(FULL))).toEqual(
      ["auth_events", "content", "depth", "event_id", "hashes", "origin_server_ts", "prev_events", "room_id", "sender", "signatures", "state_key", "type"].sort(),
    );
  });

  it("keeps hashes and signatures whole", () => {
    for (const redact of [redactLm, redactV11, redactV12]) {
      expect(redact(FULL).hashes).toEqual(FULL.hashes);
      expect(redact(FULL).signatures).toEqual(FULL.signatures);
    }
  });

  it("does not invent absent keys", () => {
    const minimal = { type: "X", content: {}, sender: "@a:b" };
    expect(redactLm(minimal)).toEqual({ type: "X", content: {}, sender: "@a:b" });
    expect(redactV11(minimal)).toEqual({ type: "X", content: {}, sender: "@a:b" });
  });
});

const ev = (type: string, content: Record<string, unknown>) => ({ ...FULL, type, content });

describe("content, Linearized Matrix", () => {
  it("m.room.create keeps all content", () => {
    const content = { room_version: "x", creator: "@a:b", "m.federate": false, encryption: { algorithm: "m.mls.v1" } };
    expect(redactLm(ev("m.room.create", content)).content).toEqual(content);
  });

  it("m.room.member keeps only membership", () => {
    const content = { membership: "join", displayname: "A", join_authorised_via_users_server: "@x:y", third_party_invite: { signed: {} } };
    expect(redactLm(ev("m.room.member", content)).content).toEqual({ membership: "join" });
  });

  it("m.room.join_rules keeps only join_rule", () => {
    expect(redactLm(ev("m.room.join_rules", { join_rule: "restricted", allow: [{ type: "x" }] })).content).toEqual({ join_rule: "restricted" });
  });

  it("m.room.power_levels keeps the nine listed keys including invite", () => {
    const kept = { ban: 50, events: { a: 1 }, events_default: 0, kick: 50, redact: 50, state_default: 50, users: { "@a:b": 100 }, users_default: 0, invite: 0 };
    expect(redactLm(ev("m.room.power_levels", { ...kept, notifications: { room: 50 }, other: 1 })).content).toEqual(kept);
  });

  it("m.room.history_visibility keeps history_visibility", () => {
    expect(redactLm(ev("m.room.history_visibility", { history_visibility: "shared", x: 1 })).content).toEqual({ history_visibility: "shared" });
  });

  it("m.room.redaction and other types keep nothing", () => {
    expect(redactLm(ev("m.room.redaction", { redacts: "$x", reason: "r" })).content).toEqual({});
    expect(redactLm(ev("m.room.message", { body: "x" })).content).toEqual({});
    expect(redactLm(ev("m.mls.commit", { message: "x" })).content).toEqual({});
  });
});

describe.each([
  ["v11", redactV11],
  ["v12", redactV12],
] as const)("content, room %s", (_name, redact: Redactor) => {
  it("m.room.create keeps all content", () => {
    const content = { room_version: "11", additional_creators: ["@b:c"], "m.federate": false, type: "m.space" };
    expect(redact(ev("m.room.create", content)).content).toEqual(content);
  });

  it("m.room.member keeps membership, join_authorised_via_users_server and third_party_invite.signed only", () => {
    const content = {
      membership: "invite",
      join_authorised_via_users_server: "@x:y",
      displayname: "A",
      third_party_invite: { display_name: "d", signed: { mxid: "@a:b", token: "t", signatures: {} } },
    };
    expect(redact(ev("m.room.member", content)).content).toEqual({
      membership: "invite",
      join_authorised_via_users_server: "@x:y",
      third_party_invite: { signed: { mxid: "@a:b", token: "t", signatures: {} } },
    });
  });

  it("m.room.member drops a third_party_invite without signed, or of the wrong type", () => {
    expect(redact(ev("m.room.member", { membership: "invite", third_party_invite: { display_name: "d" } })).content).toEqual({ membership: "invite" });
    expect(redact(ev("m.room.member", { membership: "invite", third_party_invite: "junk" })).content).toEqual({ membership: "invite" });
  });

  it("m.room.join_rules keeps join_rule and allow", () => {
    const content = { join_rule: "restricted", allow: [{ type: "m.room_membership", room_id: "!a:b" }] };
    expect(redact(ev("m.room.join_rules", { ...content, x: 1 })).content).toEqual(content);
  });

  it("m.room.power_levels keeps invite among its keys, not notifications", () => {
    const kept = { ban: 50, events: {}, events_default: 0, invite: 50, kick: 50, redact: 50, state_default: 50, users: {}, users_default: 0 };
    expect(redact(ev("m.room.power_levels", { ...kept, notifications: { room: 50 } })).content).toEqual(kept);
  });

  it("m.room.history_visibility keeps history_visibility", () => {
    expect(redact(ev("m.room.history_visibility", { history_visibility: "joined", x: 1 })).content).toEqual({ history_visibility: "joined" });
  });

  it("m.room.redaction keeps redacts in content", () => {
    expect(redact(ev("m.room.redaction", { redacts: "$x", reason: "spam" })).content).toEqual({ redacts: "$x" });
  });

  it("other types keep nothing", () => {
    expect(redact(ev("m.room.message", { body: "x" })).content).toEqual({});
  });
});

describe("hostile input", () => {
  it("never mutates or aliases its input", () => {
    const input = structuredClone(ev("m.room.create", { nested: { deep: [1, { x: 2 }] } }));
    const snapshot = structuredClone(input);
    for (const redact of [redactLm, redactV11, redactV12]) {
      const out = redact(input) as Record<string, any>;
      expect(input).toEqual(snapshot);
      out.content.nested.deep.push(3);
      out.hashes.sha256 = "changed";
      out.signatures["example.org"]["ed25519:1"] = "changed";
      out.prev_events.push("$more");
      expect(input).toEqual(snapshot);
    }
  });

  it("does not throw on wrong types", () => {
    const weird = [
      { type: 5, content: "x" },
      { type: "m.room.member", content: null },
      { type: "m.room.member", content: [1, 2] },
      { type: "constructor", content: { a: 1 } },
      { type: "__proto__", content: { a: 1 } },
      { type: "toString", content: { a: 1 } },
      {},
    ];
    for (const redact of [redactLm, redactV11, redactV12]) {
      for (const w of weird) expect(() => redact(w)).not.toThrow();
      expect(redact({ type: "constructor", content: { a: 1 } }).content).toEqual({});
      expect(redact({ type: "m.room.member", content: "x" }).content).toEqual({});
    }
  });

  it("keeps a literal __proto__ key in create content as data, not as a prototype", () => {
    const input = JSON.parse('{"type":"m.room.create","content":{"__proto__":{"polluted":true},"room_version":"x"}}') as object;
    const out = redactLm(input) as { content: Record<string, unknown> };
    expect(Object.keys(out.content).sort()).toEqual(["__proto__", "room_version"]);
    expect(Object.getPrototypeOf(out.content)).toBe(Object.prototype);
    expect((out.content as { polluted?: unknown }).polluted).toBeUndefined();
  });
});

/** A small seeded PRNG so the property test is reproducible without extra dependencies. */
function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TYPES = ["m.room.create", "m.room.member", "m.room.join_rules", "m.room.power_levels", "m.room.history_visibility", "m.room.redaction", "m.room.message", "x.custom"];
const KEYS = [...Object.keys(FULL), "membership", "join_rule", "allow", "ban", "events", "invite", "users", "redacts", "third_party_invite", "signed", "history_visibility", "body", "join_authorised_via_users_server"];

function randomValue(rnd: () => number, depth: number): unknown {
  const r = rnd();
  if (depth > 3 || r < 0.25) return Math.floor(rnd() * 1000);
  if (r < 0.45) return `s${Math.floor(rnd() * 100)}`;
  if (r < 0.5) return null;
  if (r < 0.55) return rnd() < 0.5;
  if (r < 0.7) return Array.from({ length: Math.floor(rnd() * 3) }, () => randomValue(rnd, depth + 1));
  return randomObject(rnd, depth + 1);
}

function randomObject(rnd: () => number, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const n = Math.floor(rnd() * 6);
  for (let i = 0; i < n; i++) out[KEYS[Math.floor(rnd() * KEYS.length)] as string] = randomValue(rnd, depth);
  return out;
}

describe("property: redaction is idempotent", () => {
  it.each([
    ["LM", redactLm],
    ["v11", redactV11],
    ["v12", redactV12],
  ] as const)("%s: redact(redact(e)) equals redact(e) for 500 random events", (_name, redact: Redactor) => {
    const rnd = mulberry32(0x5eed);
    for (let i = 0; i < 500; i++) {
      const e = randomObject(rnd, 0);
      e.type = TYPES[Math.floor(rnd() * TYPES.length)];
      if (rnd() < 0.8) e.content = randomObject(rnd, 1);
      const once = redact(e);
      expect(redact(once)).toEqual(once);
    }
  });
});
