// A request with no body where the endpoint needs a JSON object is 400 M_NOT_JSON and stores
// nothing; only the membership actions Synapse also reads as {} accept none. Malformed `filter`
// parameters on /messages, /context and /sync are 400 too.

import { env, exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { FEDERATION_V1, FEDERATION_V2, LM_PREFIX } from "../../shared/federation-paths.js";

const C = "/_matrix/client/v3";
const enc = encodeURIComponent;

interface Answer {
  status: number;
  json: Record<string, unknown>;
}

/** `body` undefined sends no body at all; a string is sent as is, with a JSON content type. */
async function call(method: string, path: string, token?: string, body?: unknown): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (token) headers["authorization"] = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const raw = typeof body === "string" ? body : body === undefined ? undefined : JSON.stringify(body);
  const res = await exports.default.fetch(new Request(`https://hub.test${path}`, { method, headers, body: raw }));
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

let n = 0;
async function register(stem: string): Promise<{ userId: string; token: string }> {
  const r = await call("POST", `${C}/register`, undefined, { username: `${stem}${++n}${Date.now().toString(36)}`, password: "pw-pw-pw-pw", auth: { type: "m.login.dummy" } });
  return { userId: r.json["user_id"] as string, token: r.json["access_token"] as string };
}

const room = (roomId: string) => env.ROOM.get(env.ROOM.idFromName(roomId));
const lastPos = async (roomId: string) => (await room(roomId).info())?.lastPos ?? 0;

/** Row counts of every D1 table but the event index (written behind the timeline). */
async function tableCounts(): Promise<Record<string, number>> {
  const tables = await env.DB.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '_cf_%' AND name NOT LIKE 'sqlite_%' AND name <> 'event_rooms'`).all<{ name: string }>();
  const out: Record<string, number> = {};
  for (const { name } of tables.results) out[name] = (await env.DB.prepare(`SELECT COUNT(*) AS n FROM "${name}"`).first<{ n: number }>())?.n ?? -1;
  return out;
}

let alice: { userId: string; token: string };
let bob: { userId: string; token: string };
let roomId: string;
let eventId: string;

beforeAll(async () => {
  alice = await register("empty");
  bob = await register("other");
  const created = await call("POST", `${C}/createRoom`, alice.token, { preset: "public_chat", topic: "Keep me" });
  roomId = created.json["room_id"] as string;
  eventId = (await call("PUT", `${C}/rooms/${enc(roomId)}/send/m.room.message/first`, alice.token, { msgtype: "m.text", body: "hi" })).json["event_id"] as string;
});

function expectNotJson(res: Answer, what: string): void {
  expect([what, res.status, res.json["errcode"]]).toEqual([what, 400, "M_NOT_JSON"]);
}

describe("a request without a body where a JSON object is required", () => {
  it("a send without a body is 400 M_NOT_JSON, stores no event, and leaves the transaction ID free", async () => {
    const before = await lastPos(roomId);
    expectNotJson(await call("PUT", `${C}/rooms/${enc(roomId)}/send/m.room.message/t-empty`, alice.token), "no body");
    expectNotJson(await call("PUT", `${C}/rooms/${enc(roomId)}/send/m.room.message/t-empty`, alice.token, ""), "empty JSON-typed body");
    expect(await lastPos(roomId)).toBe(before);
    const retry = await call("PUT", `${C}/rooms/${enc(roomId)}/send/m.room.message/t-empty`, alice.token, { msgtype: "m.text", body: "now with content" });
    expect(retry.status).toBe(200);
    const stored = await call("GET", `${C}/rooms/${enc(roomId)}/event/${enc(retry.json["event_id"] as string)}`, alice.token);
    expect((stored.json["content"] as Record<string, unknown>)["body"]).toBe("now with content");
  });

  it("a state PUT without a body is 400 M_NOT_JSON and keeps the topic", async () => {
    const before = await lastPos(roomId);
    expectNotJson(await call("PUT", `${C}/rooms/${enc(roomId)}/state/m.room.topic/`, alice.token), "no body");
    expectNotJson(await call("PUT", `${C}/rooms/${enc(roomId)}/state/m.room.topic`, alice.token, ""), "empty JSON-typed body");
    expect(await lastPos(roomId)).toBe(before);
    const topic = await call("GET", `${C}/rooms/${enc(roomId)}/state/m.room.topic/`, alice.token);
    expect(topic.json["topic"]).toBe("Keep me");
  });

  it("every other client endpoint that takes a JSON object answers no body with 400 M_NOT_JSON and stores nothing", async () => {
    const tablesBefore = await tableCounts();
    const posBefore = await lastPos(roomId);
    const cases: Array<[string, string, string | undefined]> = [
      ["POST", `${C}/createRoom`, alice.token],
      ["POST", `${C}/knock/${enc(roomId)}`, bob.token],
      ["PUT", `${C}/rooms/${enc(roomId)}/redact/${enc(eventId)}/r1`, alice.token],
      ["POST", `${C}/rooms/${enc(roomId)}/read_markers`, alice.token],
      ["POST", `${C}/rooms/${enc(roomId)}/receipt/m.read/${enc(eventId)}`, alice.token],
      ["PUT", `${C}/rooms/${enc(roomId)}/typing/${enc(alice.userId)}`, alice.token],
      ["PUT", `${C}/user/${enc(alice.userId)}/account_data/org.example.x`, alice.token],
      ["PUT", `${C}/user/${enc(alice.userId)}/rooms/${enc(roomId)}/account_data/org.example.x`, alice.token],
      ["POST", `${C}/user/${enc(alice.userId)}/filter`, alice.token],
      ["PUT", `${C}/profile/${enc(alice.userId)}/displayname`, alice.token],
      ["PUT", `${C}/directory/room/${enc(`#nobody${Date.now()}:hub.test`)}`, alice.token],
      ["POST", `${C}/keys/upload`, alice.token],
      ["POST", `${C}/keys/query`, alice.token],
      ["POST", `${C}/keys/claim`, alice.token],
      ["PUT", `${C}/sendToDevice/m.test/d1`, alice.token],
      ["POST", `${C}/register`, undefined],
      ["POST", `${C}/login`, undefined],
    ];
    for (const [method, path, token] of cases) expectNotJson(await call(method, path, token), `${method} ${path}`);
    expect(await lastPos(roomId)).toBe(posBefore);
    expect(await tableCounts()).toEqual(tablesBefore);
  });

  it("federation endpoints that take a body answer none with 400 M_NOT_JSON", async () => {
    const cases: Array<[string, string]> = [
      ["PUT", `${LM_PREFIX}/send/txn1`],
      ["PUT", `${FEDERATION_V1}/send/txn2`],
      ["POST", `${LM_PREFIX}/send_join/txn3`],
      ["POST", `${LM_PREFIX}/invite/txn4`],
      ["PUT", `${FEDERATION_V2}/invite/${enc(roomId)}/${enc(eventId)}`],
      ["POST", `${FEDERATION_V1}/user/keys/query`],
      ["POST", "/_matrix/key/v2/query"],
    ];
    for (const [method, path] of cases) expectNotJson(await call(method, path), `${method} ${path}`);
  });
});

describe("membership actions read no body as {}, as Synapse does", () => {
  it("join, leave and forget succeed without a body; kick and ban then ask for user_id", async () => {
    const carol = await register("member");
    expect((await call("POST", `${C}/join/${enc(roomId)}`, carol.token)).status).toBe(200);
    expect((await call("POST", `${C}/rooms/${enc(roomId)}/leave`, carol.token)).status).toBe(200);
    expect((await call("POST", `${C}/rooms/${enc(roomId)}/join`, carol.token)).status).toBe(200);
    expect(await room(roomId).membership(carol.userId)).toBe("join");
    for (const action of ["kick", "ban", "unban", "invite"]) {
      const res = await call("POST", `${C}/rooms/${enc(roomId)}/${action}`, alice.token);
      expect([action, res.status, res.json["errcode"]]).toEqual([action, 400, "M_BAD_JSON"]);
    }
    expect((await call("POST", `${C}/rooms/${enc(roomId)}/leave`, carol.token)).status).toBe(200);
    expect((await call("POST", `${C}/rooms/${enc(roomId)}/forget`, carol.token)).status).toBe(200);
  });
});

describe("filter parameters", () => {
  const bad: Array<[string, string, string]> = [
    ["text that is not JSON", "{not json", "M_NOT_JSON"],
    ["a JSON array", "[1]", "M_NOT_JSON"],
    ["a JSON string", '"m.room.message"', "M_NOT_JSON"],
    ["a limit that is not an integer", '{"limit":"ten"}', "M_BAD_JSON"],
    ["types that are not a list of strings", '{"types":"m.room.message"}', "M_BAD_JSON"],
    ["a lazy_load_members that is not a boolean", '{"lazy_load_members":1}', "M_BAD_JSON"],
  ];

  it.each(bad)("/messages refuses %s with 400", async (_what, filter, errcode) => {
    const res = await call("GET", `${C}/rooms/${enc(roomId)}/messages?dir=b&filter=${enc(filter)}`, alice.token);
    expect([res.status, res.json["errcode"]]).toEqual([400, errcode]);
  });

  it.each(bad)("/context refuses %s with 400", async (_what, filter, errcode) => {
    const res = await call("GET", `${C}/rooms/${enc(roomId)}/context/${enc(eventId)}?filter=${enc(filter)}`, alice.token);
    expect([res.status, res.json["errcode"]]).toEqual([400, errcode]);
  });

  it("/sync refuses an inline filter that is not JSON with 400 M_NOT_JSON, and one with a wrong field type with 400 M_BAD_JSON", async () => {
    const notJson = await call("GET", `${C}/sync?timeout=0&filter=${enc("{not json")}`, alice.token);
    expect([notJson.status, notJson.json["errcode"]]).toEqual([400, "M_NOT_JSON"]);
    const wrongType = await call("GET", `${C}/sync?timeout=0&filter=${enc('{"room":{"timeline":{"limit":"ten"}}}')}`, alice.token);
    expect([wrongType.status, wrongType.json["errcode"]]).toEqual([400, "M_BAD_JSON"]);
  });

  it("/messages and /context still answer a well-formed filter, or an empty one", async () => {
    const filter = enc('{"types":["m.room.message"],"limit":5,"lazy_load_members":true}');
    for (const path of [`messages?dir=b&filter=${filter}`, `messages?dir=b&filter=`, `context/${enc(eventId)}?filter=${filter}`]) {
      const res = await call("GET", `${C}/rooms/${enc(roomId)}/${path}`, alice.token);
      expect([path, res.status]).toEqual([path, 200]);
    }
  });
});
