// Client-server push rules: GET /pushrules/ (the spec's predefined rules plus the user's own), and
// PUT/DELETE of the user's rules with before/after, and `enabled` / `actions` of any rule. Each
// change is also written as the `m.push_rules` account data, which /sync delivers to the user's
// other clients. The server evaluates no rules itself: there is no push gateway yet.

import { badJson, MatrixError } from "../shared/errors.js";
import { changeRule, deleteRule, effectiveRuleset, findRule, isPushRuleKind, parseActions, parseNewRule, parsePushRulesDoc, putRule, type PushRulesDoc } from "../shared/push-rules.js";
import type { PushRuleKind } from "../shared/push-rules-default.js";
import type { RouteTable, SbRequest } from "./app.js";
import { requireUser } from "./client-auth.js";
import { CLIENT_PREFIXES, param, userStream } from "./client-common.js";
import { json, readJsonBody } from "./http.js";
import { putAccountData } from "./storage/account-data.js";
import { getPushRules, putPushRules } from "./storage/push-rules.js";

const BODY = { maxBytes: 64 * 1024 };
const WRITE_ATTEMPTS = 5;

async function loadDoc(env: Env, userId: string): Promise<{ doc: PushRulesDoc; version: number }> {
  const stored = await getPushRules(env.DB, userId);
  return { doc: parsePushRulesDoc(stored?.doc ?? null), version: stored?.version ?? 0 };
}

/** Read, change, write under the version check; a concurrent change makes it read again. */
async function updateDoc(env: Env, userId: string, change: (doc: PushRulesDoc) => PushRulesDoc): Promise<void> {
  for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
    const { doc, version } = await loadDoc(env, userId);
    const next = change(doc);
    const now = Date.now();
    const content = JSON.stringify({ global: effectiveRuleset(userId, next) });
    const [written] = await env.DB.batch([putPushRules(env.DB, userId, JSON.stringify(next), version, now)]);
    if ((written?.meta.changes ?? 0) === 0) continue;
    await putAccountData(env.DB, userId, undefined, "m.push_rules", content, now).run();
    await userStream(env, userId).accountDataChanged("", "m.push_rules");
    return;
  }
  throw new MatrixError(409, "M_UNKNOWN", "Push rules changed concurrently; try again");
}

/** The path's scope (only "global" exists), kind and rule ID. */
function target(req: SbRequest): { kind: PushRuleKind; ruleId: string } {
  if (param(req, "scope") !== "global") throw new MatrixError(400, "M_INVALID_PARAM", "The only push rule scope is global");
  const kind = param(req, "kind");
  if (!isPushRuleKind(kind)) throw new MatrixError(400, "M_INVALID_PARAM", `Unknown push rule kind ${kind.slice(0, 40)}`);
  return { kind, ruleId: param(req, "ruleId") };
}

async function getAll(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  return json({ global: effectiveRuleset(userId, (await loadDoc(env, userId)).doc) });
}

async function getGlobal(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  return json(effectiveRuleset(userId, (await loadDoc(env, userId)).doc));
}

async function getRule(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  const { kind, ruleId } = target(req);
  return json(findRule(userId, (await loadDoc(env, userId)).doc, kind, ruleId));
}

async function putRuleRoute(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  const { kind, ruleId } = target(req);
  const q = new URL(req.url).searchParams;
  const before = q.get("before") ?? undefined;
  const after = q.get("after") ?? undefined;
  const { body } = await readJsonBody(req, BODY);
  const rule = parseNewRule(kind, ruleId, body);
  await updateDoc(env, userId, (doc) => putRule(userId, doc, kind, rule, { ...(before !== undefined ? { before } : {}), ...(after !== undefined ? { after } : {}) }));
  return json({});
}

async function deleteRuleRoute(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  const { kind, ruleId } = target(req);
  await updateDoc(env, userId, (doc) => deleteRule(userId, doc, kind, ruleId));
  return json({});
}

async function getEnabled(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  const { kind, ruleId } = target(req);
  return json({ enabled: findRule(userId, (await loadDoc(env, userId)).doc, kind, ruleId).enabled });
}

async function putEnabled(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  const { kind, ruleId } = target(req);
  const { body } = await readJsonBody(req, BODY);
  const enabled = body["enabled"];
  if (typeof enabled !== "boolean") throw badJson("enabled must be a boolean");
  await updateDoc(env, userId, (doc) => changeRule(userId, doc, kind, ruleId, { enabled }));
  return json({});
}

async function getActions(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  const { kind, ruleId } = target(req);
  return json({ actions: findRule(userId, (await loadDoc(env, userId)).doc, kind, ruleId).actions });
}

async function putActions(req: SbRequest, env: Env): Promise<Response> {
  const { userId } = await requireUser(req, env);
  const { kind, ruleId } = target(req);
  const { body } = await readJsonBody(req, BODY);
  const actions = parseActions(body["actions"]);
  await updateDoc(env, userId, (doc) => changeRule(userId, doc, kind, ruleId, { actions }));
  return json({});
}

export function mountClientPushRules(t: RouteTable): void {
  for (const p of CLIENT_PREFIXES) {
    t.add("get", `${p}/pushrules/`, getAll);
    t.add("get", `${p}/pushrules/global/`, getGlobal);
    t.add("get", `${p}/pushrules/:scope/:kind/:ruleId`, getRule);
    t.add("put", `${p}/pushrules/:scope/:kind/:ruleId`, putRuleRoute);
    t.add("delete", `${p}/pushrules/:scope/:kind/:ruleId`, deleteRuleRoute);
    t.add("get", `${p}/pushrules/:scope/:kind/:ruleId/enabled`, getEnabled);
    t.add("put", `${p}/pushrules/:scope/:kind/:ruleId/enabled`, putEnabled);
    t.add("get", `${p}/pushrules/:scope/:kind/:ruleId/actions`, getActions);
    t.add("put", `${p}/pushrules/:scope/:kind/:ruleId/actions`, putActions);
  }
}
