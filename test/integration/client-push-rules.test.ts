// Push rules through the client API in workerd: the spec's predefined rules, the user's own rules
// with before/after, `enabled` and `actions`, and the m.push_rules account data kept in step.
import { describe, expect, it } from "vitest";
import { C, call, enc, register } from "./client-helpers.js";

type Rule = { rule_id: string; default: boolean; enabled: boolean; actions: unknown[]; pattern?: string; conditions?: unknown[] };
type Ruleset = Record<"override" | "content" | "room" | "sender" | "underride", Rule[]>;

const ids = (rules: Rule[]) => rules.map((r) => r.rule_id);
const R = `${C}/pushrules/global`;

async function ruleset(token: string): Promise<Ruleset> {
  const res = await call("GET", `${C}/pushrules/`, token);
  expect(res.status).toBe(200);
  return (res.json["global"] as Ruleset);
}

describe("push rules", () => {
  it("serves the spec's predefined rules, master first and disabled, with the user's ID and localpart filled in", async () => {
    const u = await register("pr");
    const rules = await ruleset(u.token);
    expect(ids(rules.override)).toEqual([
      ".m.rule.master",
      ".m.rule.suppress_notices",
      ".m.rule.invite_for_me",
      ".m.rule.member_event",
      ".m.rule.is_user_mention",
      ".m.rule.contains_display_name",
      ".m.rule.is_room_mention",
      ".m.rule.roomnotif",
      ".m.rule.tombstone",
      ".m.rule.reaction",
      ".m.rule.room.server_acl",
      ".org.matrix.msc3786.rule.room.server_acl",
      ".m.rule.suppress_edits",
    ]);
    expect(ids(rules.underride)).toEqual([".m.rule.call", ".org.matrix.msc3914.rule.room.call", ".m.rule.encrypted_room_one_to_one", ".m.rule.room_one_to_one", ".m.rule.message", ".m.rule.encrypted"]);
    expect(rules.content).toEqual([{ rule_id: ".m.rule.contains_user_name", default: true, enabled: true, pattern: u.userId.slice(1, u.userId.indexOf(":")), actions: ["notify", { set_tweak: "sound", value: "default" }, { set_tweak: "highlight" }] }]);
    expect(rules.room).toEqual([]);
    expect(rules.sender).toEqual([]);
    expect(rules.override[0]).toEqual({ rule_id: ".m.rule.master", default: true, enabled: false, conditions: [], actions: [] });
    const invite = rules.override.find((r) => r.rule_id === ".m.rule.invite_for_me");
    expect(invite?.conditions).toContainEqual({ kind: "event_match", key: "state_key", pattern: u.userId });
    const mention = rules.override.find((r) => r.rule_id === ".m.rule.is_user_mention");
    expect(mention?.conditions).toEqual([{ kind: "event_property_contains", key: "content.m\\.mentions.user_ids", value: u.userId }]);
    // The deprecated /pushrules/global/ form is the same rule set without the wrapper.
    const global = await call("GET", `${R}/`, u.token);
    expect(global.json).toEqual(rules);
    expect((await call("GET", `${C}/pushrules/`)).status).toBe(401);
    // Without the trailing slash, and under r0 (older clients), the answer is the same.
    for (const path of [`${C}/pushrules`, "/_matrix/client/r0/pushrules/"]) expect((await call("GET", path, u.token)).json).toEqual({ global: rules });
  });

  it("adds the user's rules first by default and where before/after place them, after master and before the other predefined rules", async () => {
    const u = await register("prorder");
    const body = (word: string) => ({ actions: ["notify"], conditions: [{ kind: "event_match", key: "content.body", pattern: word }] });
    expect((await call("PUT", `${R}/override/one`, u.token, body("one"))).status).toBe(200);
    expect((await call("PUT", `${R}/override/two`, u.token, body("two"))).status).toBe(200);
    expect((await call("PUT", `${R}/override/three?after=two`, u.token, body("three"))).status).toBe(200);
    expect((await call("PUT", `${R}/override/zero?before=two`, u.token, body("zero"))).status).toBe(200);
    const rules = await ruleset(u.token);
    expect(ids(rules.override).slice(0, 6)).toEqual([".m.rule.master", "zero", "two", "three", "one", ".m.rule.suppress_notices"]);
    expect(rules.override[1]).toEqual({ rule_id: "zero", default: false, enabled: true, actions: ["notify"], conditions: [{ kind: "event_match", key: "content.body", pattern: "zero" }] });
    // Replacing a rule keeps its place; GET reads one rule.
    expect((await call("PUT", `${R}/override/three`, u.token, { actions: [] })).status).toBe(200);
    const three = await call("GET", `${R}/override/three`, u.token);
    expect(three.json).toEqual({ rule_id: "three", default: false, enabled: true, actions: [], conditions: [] });
    expect(ids((await ruleset(u.token)).override).slice(1, 5)).toEqual(["zero", "two", "three", "one"]);
    // Content, room and sender rules.
    expect((await call("PUT", `${R}/content/cats`, u.token, { actions: ["notify"], pattern: "cat*" })).status).toBe(200);
    expect((await call("PUT", `${R}/room/${enc("!r:hub.test")}`, u.token, { actions: [] })).status).toBe(200);
    expect((await call("PUT", `${R}/sender/${enc("@spam:hub.test")}`, u.token, { actions: [] })).status).toBe(200);
    const after = await ruleset(u.token);
    expect(ids(after.content)).toEqual(["cats", ".m.rule.contains_user_name"]);
    expect(ids(after.room)).toEqual(["!r:hub.test"]);
    expect(ids(after.sender)).toEqual(["@spam:hub.test"]);
    // Deleting removes only that rule.
    expect((await call("DELETE", `${R}/override/two`, u.token)).status).toBe(200);
    expect(ids((await ruleset(u.token)).override).slice(1, 4)).toEqual(["zero", "three", "one"]);
    expect((await call("GET", `${R}/override/two`, u.token)).json["errcode"]).toBe("M_NOT_FOUND");
  });

  it("changes enabled and actions of predefined and own rules, per user, and mirrors the rule set into m.push_rules account data", async () => {
    const u = await register("prflags");
    const other = await register("prother");
    expect((await call("GET", `${R}/override/.m.rule.master/enabled`, u.token)).json).toEqual({ enabled: false });
    expect((await call("PUT", `${R}/override/.m.rule.master/enabled`, u.token, { enabled: true })).status).toBe(200);
    expect((await call("GET", `${R}/override/.m.rule.master/enabled`, u.token)).json).toEqual({ enabled: true });
    expect((await call("PUT", `${R}/underride/.m.rule.message/actions`, u.token, { actions: ["notify", { set_tweak: "sound", value: "bing" }] })).status).toBe(200);
    expect((await call("GET", `${R}/underride/.m.rule.message/actions`, u.token)).json).toEqual({ actions: ["notify", { set_tweak: "sound", value: "bing" }] });
    expect((await call("PUT", `${R}/content/mine`, u.token, { actions: ["notify"], pattern: "x" })).status).toBe(200);
    expect((await call("PUT", `${R}/content/mine/enabled`, u.token, { enabled: false })).status).toBe(200);
    expect((await call("GET", `${R}/content/mine`, u.token)).json["enabled"]).toBe(false);
    // Replacing the rule's content keeps it disabled: PUT sets content, /enabled the flag.
    expect((await call("PUT", `${R}/content/mine`, u.token, { actions: [], pattern: "y" })).status).toBe(200);
    expect((await call("GET", `${R}/content/mine`, u.token)).json).toMatchObject({ enabled: false, pattern: "y" });
    // Another user's rules are untouched.
    expect((await call("GET", `${R}/override/.m.rule.master/enabled`, other.token)).json).toEqual({ enabled: false });
    // The account data /sync delivers holds exactly what GET /pushrules/ answers.
    const data = await call("GET", `${C}/user/${enc(u.userId)}/account_data/m.push_rules`, u.token);
    expect(data.status).toBe(200);
    expect(data.json).toEqual({ global: await ruleset(u.token) });
    const synced = await call("GET", `${C}/sync?timeout=0`, u.token);
    const events = (synced.json["account_data"] as { events: Array<{ type: string; content: unknown }> }).events;
    expect(events.find((e) => e.type === "m.push_rules")?.content).toEqual({ global: await ruleset(u.token) });
  });

  it("refuses bad rules and bad targets with Matrix errors and stores nothing", async () => {
    const u = await register("prbad");
    const before = await ruleset(u.token);
    const cases: Array<[string, string, unknown, number, string]> = [
      ["PUT", `${R}/override/.m.rule.mine`, { actions: [] }, 400, "M_INVALID_PARAM"],
      ["PUT", `${R}/room/not-a-room`, { actions: [] }, 400, "M_INVALID_PARAM"],
      ["PUT", `${R}/sender/nobody`, { actions: [] }, 400, "M_INVALID_PARAM"],
      ["PUT", `${R}/content/nopattern`, { actions: [] }, 400, "M_MISSING_PARAM"],
      ["PUT", `${R}/override/x`, { actions: "notify" }, 400, "M_BAD_JSON"],
      ["PUT", `${R}/override/x`, { actions: [], conditions: [{ key: "no kind" }] }, 400, "M_BAD_JSON"],
      ["PUT", `${R}/override/x?before=.m.rule.master`, { actions: [] }, 400, "M_INVALID_PARAM"],
      ["PUT", `${R}/override/x?after=nosuchrule`, { actions: [] }, 404, "M_NOT_FOUND"],
      ["PUT", `${R}/nokind/x`, { actions: [] }, 400, "M_INVALID_PARAM"],
      ["PUT", `${C}/pushrules/device/override/x`, { actions: [] }, 400, "M_INVALID_PARAM"],
      ["DELETE", `${R}/override/.m.rule.master`, undefined, 400, "M_INVALID_PARAM"],
      ["DELETE", `${R}/override/nosuchrule`, undefined, 404, "M_NOT_FOUND"],
      ["PUT", `${R}/override/nosuchrule/enabled`, { enabled: true }, 404, "M_NOT_FOUND"],
      ["PUT", `${R}/override/.m.rule.master/enabled`, { enabled: "yes" }, 400, "M_BAD_JSON"],
      ["PUT", `${R}/override/.m.rule.master/actions`, { actions: [1] }, 400, "M_BAD_JSON"],
      ["GET", `${R}/underride/nosuchrule/actions`, undefined, 404, "M_NOT_FOUND"],
    ];
    for (const [method, path, body, status, errcode] of cases) {
      const res = await call(method, path, u.token, body);
      expect({ path, status: res.status, errcode: res.json["errcode"] }).toEqual({ path, status, errcode });
    }
    expect(await ruleset(u.token)).toEqual(before);
    expect((await call("GET", `${C}/user/${enc(u.userId)}/account_data/m.push_rules`, u.token)).status).toBe(404);
  });
});
