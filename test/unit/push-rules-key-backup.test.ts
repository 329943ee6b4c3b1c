// The pure rules behind push rules (placement, predefined-rule changes) and key backup (which
// uploaded key replaces the stored one), and the shape checks of cross-signing keys.
import { describe, expect, it } from "vitest";
import { parseCrossSigningKey, sameSignedContent } from "../../shared/cross-signing.js";
import { MatrixError } from "../../shared/errors.js";
import { replacesBackedUpKey, type KeyBackupData } from "../../shared/key-backup.js";
import { changeRule, deleteRule, effectiveRuleset, emptyPushRulesDoc, parseNewRule, putRule } from "../../shared/push-rules.js";

const U = "@alice:hub.test";
const rule = (id: string) => parseNewRule("override", id, { actions: ["notify"] });

describe("push rules", () => {
  it("puts a new rule first, a replaced one where it was, and honours before/after", () => {
    let doc = emptyPushRulesDoc();
    for (const id of ["a", "b", "c"]) doc = putRule(U, doc, "override", rule(id), {});
    expect(doc.user.override.map((r) => r.rule_id)).toEqual(["c", "b", "a"]);
    doc = putRule(U, doc, "override", rule("b"), {});
    expect(doc.user.override.map((r) => r.rule_id)).toEqual(["c", "b", "a"]);
    doc = putRule(U, doc, "override", rule("d"), { after: "a" });
    doc = putRule(U, doc, "override", rule("e"), { before: "c" });
    expect(doc.user.override.map((r) => r.rule_id)).toEqual(["e", "c", "b", "a", "d"]);
    expect(() => putRule(U, doc, "override", rule("f"), { before: ".m.rule.master" })).toThrow(MatrixError);
    expect(() => deleteRule(U, doc, "override", ".m.rule.master")).toThrow(MatrixError);
    expect(deleteRule(U, doc, "override", "c").user.override.map((r) => r.rule_id)).toEqual(["e", "b", "a", "d"]);
  });

  it("keeps changes to predefined rules apart from the rules, and applies them when serving", () => {
    const doc = changeRule(U, changeRule(U, emptyPushRulesDoc(), "override", ".m.rule.master", { enabled: true }), "underride", ".m.rule.message", { actions: [] });
    expect(doc.user.override).toEqual([]);
    const served = effectiveRuleset(U, doc);
    expect(served.override[0]).toMatchObject({ rule_id: ".m.rule.master", enabled: true });
    expect(served.underride.find((r) => r.rule_id === ".m.rule.message")?.actions).toEqual([]);
    expect(() => changeRule(U, doc, "override", "nosuch", { enabled: true })).toThrow(MatrixError);
  });
});

describe("key backup replacement", () => {
  const k = (is_verified: boolean, first_message_index: number, forwarded_count: number): KeyBackupData => ({ is_verified, first_message_index, forwarded_count, session_data: {} });
  it("prefers verified, then the lower first message index, then fewer forwards", () => {
    expect(replacesBackedUpKey(k(false, 0, 0), k(true, 9, 9))).toBe(true);
    expect(replacesBackedUpKey(k(true, 9, 9), k(false, 0, 0))).toBe(false);
    expect(replacesBackedUpKey(k(false, 5, 0), k(false, 4, 9))).toBe(true);
    expect(replacesBackedUpKey(k(false, 4, 0), k(false, 5, 0))).toBe(false);
    expect(replacesBackedUpKey(k(false, 4, 2), k(false, 4, 1))).toBe(true);
    expect(replacesBackedUpKey(k(false, 4, 1), k(false, 4, 1))).toBe(false);
  });
});

describe("cross-signing key shapes", () => {
  const pub = "A".repeat(43);
  const master = { user_id: U, usage: ["master"], keys: { [`ed25519:${pub}`]: pub } };
  it("accepts one ed25519 key named by itself, owned by the user, with the usage asked for", () => {
    expect(parseCrossSigningKey(master, U, "master").keyId).toBe(`ed25519:${pub}`);
    for (const bad of [
      { ...master, user_id: "@bob:hub.test" },
      { ...master, usage: ["self_signing"] },
      { ...master, keys: { "ed25519:other": pub } },
      { ...master, keys: { [`ed25519:${pub}`]: pub, "ed25519:x": "x" } },
      { ...master, keys: { "ed25519:short": "short" } },
    ]) {
      expect(() => parseCrossSigningKey(bad, U, "master")).toThrow(MatrixError);
    }
  });

  it("compares keys without their signatures", () => {
    expect(sameSignedContent(master, { ...master, signatures: { [U]: { "ed25519:D": "sig" } } })).toBe(true);
    expect(sameSignedContent(master, { ...master, usage: ["master", "x"] })).toBe(false);
  });
});
