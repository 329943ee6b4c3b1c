/// <reference types="vite/client" />
// Random and malformed requests on every federation and client endpoint of one server (workerd, real
// Durable Objects and D1). The routes are read from the workers' own source, so an endpoint added
// later is fuzzed too. Each request gets random path parameters, a random credential (none, a wrong
// token, a real user's token, or a genuine X-Matrix signature of a remote server) and a body that no
// endpoint may accept: random bytes, invalid JSON, JSON nested too deep, strings over the caps,
// floats, duplicate keys, lone surrogates, top-level non-objects; and objects whose fields have the
// wrong types. Then random paths and methods. Every answer must be JSON (an `errcode` on errors),
// never a 500, and stored state (row counts of every D1 table, the room's events and state) must be
// what it was before the barrage. FUZZ_RUNS raises the counts.

import { env, exports } from "cloudflare:workers";
import fc from "fast-check";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { canonicalJson } from "../../shared/canonical-json.js";
import { MatrixError } from "../../shared/errors.js";
import { parseStrictJsonBytes } from "../../shared/strict-json.js";
import { ADMIN_PREFIX } from "../../workers/admin.js";
import { FEDERATION_V1, FEDERATION_V2, FEDERATION_V3, LM_PREFIX } from "../../shared/federation-paths.js";
import { fakeServer, noWellKnown, serveKeys, stubFetch, type FakeServer } from "./fake-remote.js";

// The host's FUZZ_RUNS reaches the worker as a binding (vitest.workers.config.ts).
const FUZZ_RUNS = Number((env as unknown as { FUZZ_RUNS?: string }).FUZZ_RUNS ?? "") || 0;
const runs = (n: number): number => Math.max(n, FUZZ_RUNS);
const TIMEOUT = FUZZ_RUNS > 0 ? 600_000 : 120_000;

const SERVER = "hub.test";
const C = "/_matrix/client/v3";
const enc = encodeURIComponent;

// ---------------------------------------------------------------------------------------------
// The route table, from the source of every worker module.
// ---------------------------------------------------------------------------------------------

const SOURCES = import.meta.glob("../../workers/*.ts", { query: "?raw", import: "default", eager: true }) as Record<string, string>;

// Aliases of one handler under several prefixes (client r0, federation v2 for /send) are fuzzed
// under one of them: the handler is the same, and the request budget goes further.
const PLACEHOLDERS: Record<string, readonly string[]> = {
  p: ["/_matrix/client/v3"],
  base: [LM_PREFIX, FEDERATION_V1],
  V1: [FEDERATION_V1],
  V2: [FEDERATION_V2],
  V3: [FEDERATION_V3],
  FEDERATION_V1: [FEDERATION_V1],
  FEDERATION_V2: [FEDERATION_V2],
  FEDERATION_V3: [FEDERATION_V3],
  LM_PREFIX: [LM_PREFIX],
  ADMIN_PREFIX: [ADMIN_PREFIX],
  m: ["join", "leave", "knock"],
};

interface Route {
  method: string;
  path: string;
}

function expand(template: string): string[] | undefined {
  const m = /\$\{(\w+)\}/.exec(template);
  if (!m) return [template];
  const values = PLACEHOLDERS[m[1] as string];
  if (!values) return undefined;
  const out: string[] = [];
  for (const v of values) {
    const rest = expand(template.replace(m[0], v));
    if (!rest) return undefined;
    out.push(...rest);
  }
  return out;
}

const unexpanded: string[] = [];
const ROUTES: Route[] = (() => {
  const seen = new Set<string>();
  const out: Route[] = [];
  for (const [file, src] of Object.entries(SOURCES)) {
    for (const m of src.matchAll(/\.add\(\s*"(get|post|put|delete)",\s*(?:`([^`]*)`|"([^"]*)")/g)) {
      const template = (m[2] ?? m[3]) as string;
      const paths = expand(template);
      if (!paths) {
        unexpanded.push(`${file}: ${template}`);
        continue;
      }
      for (const path of paths) {
        const key = `${m[1]} ${path}`;
        if (seen.has(key)) continue;
        seen.add(key);
        out.push({ method: (m[1] as string).toUpperCase(), path });
      }
    }
  }
  return out;
})();

// ---------------------------------------------------------------------------------------------
// The server's state and the fixtures the barrage aims at.
// ---------------------------------------------------------------------------------------------

interface Fixture {
  userId: string;
  token: string;
  roomId: string;
  eventId: string;
  remote: FakeServer;
}
let fx: Fixture;

async function call(method: string, path: string, headers: Record<string, string> = {}, body?: BodyInit): Promise<Response> {
  return exports.default.fetch(new Request(`https://${SERVER}${path}`, { method, headers, body }));
}

async function callJson(method: string, path: string, token: string | undefined, body: unknown): Promise<Record<string, unknown>> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (token) headers["authorization"] = `Bearer ${token}`;
  const res = await call(method, path, headers, JSON.stringify(body));
  const json = (await res.json()) as Record<string, unknown>;
  if (res.status !== 200) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

interface Snapshot {
  counts: Record<string, number>;
  events: string[];
  state: string[];
  /** event_rooms rows as "room event": written behind the timeline, so they may still grow. */
  indexed: string[];
}

/** Row counts of every table, and the fixture room's events and state. */
async function snapshot(): Promise<Snapshot> {
  const tables = await env.DB.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '_cf_%' AND name NOT LIKE 'sqlite_%' ORDER BY name`).all<{ name: string }>();
  const counts: Record<string, number> = {};
  for (const { name } of tables.results) {
    if (name === "event_rooms") continue;
    const row = await env.DB.prepare(`SELECT COUNT(*) AS n FROM "${name.replace(/"/g, '""')}"`).first<{ n: number }>();
    counts[name] = row?.n ?? -1;
  }
  const room = env.ROOM.get(env.ROOM.idFromName(fx.roomId));
  const events = await room.timeline({ from: 0, dir: "f", limit: 1000 });
  const state = await room.currentStateJson();
  const indexed = await env.DB.prepare(`SELECT room_id, event_id FROM event_rooms ORDER BY room_id, event_id`).all<{ room_id: string; event_id: string }>();
  return { counts, events: events.map((e) => e.eventId), state: state.map((e) => e.eventId).sort(), indexed: indexed.results.map((r) => `${r.room_id} ${r.event_id}`) };
}

/** The snapshot once two readings a little apart agree. */
async function settledSnapshot(): Promise<Snapshot> {
  let prev = await snapshot();
  for (let i = 0; i < 20; i++) {
    await new Promise((r) => setTimeout(r, 600));
    const next = await snapshot();
    if (JSON.stringify(next) === JSON.stringify(prev)) return next;
    prev = next;
  }
  return prev;
}

// ---------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------

/** Bodies no endpoint may accept: each fails strict parsing (checked), and none is empty. */
const malformedBody: fc.Arbitrary<Uint8Array> = fc
  .oneof(
    { weight: 3, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 200 }) },
    { weight: 3, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 80 }).map((s) => new TextEncoder().encode(s)) },
    {
      weight: 4,
      arbitrary: fc
        .constantFrom(
          "{",
          "}",
          "[]",
          "null",
          "true",
          "0",
          '"str"',
          "[{}]",
          '{"a":1,"a":2}',
          '{"pdus":[],"pdus":[]}',
          '{"a":1.5}',
          '{"a":1e5}',
          '{"n":9007199254740993}',
          '{"s":"\\ud800"}',
          '{"s":"\\x"}',
          "{'a':1}",
          '{"a":1,}',
          '{"a" 1}',
          "{}x",
          '{"a":NaN}',
          '{"a":Infinity}',
          "\u0000",
          "\ufeff[]",
          '{"a":"\u0001"}',
        )
        .map((s) => new TextEncoder().encode(s)),
    },
    { weight: 2, arbitrary: fc.tuple(fc.integer({ min: 65, max: 5000 }), fc.constantFrom("[", '{"a":')).map(([d, o]) => new TextEncoder().encode(`{"x":${o.repeat(d)}1${(o === "[" ? "]" : "}").repeat(d)}}`)) },
    { weight: 1, arbitrary: fc.integer({ min: 300_000, max: 1_200_000 }).map((n) => new TextEncoder().encode(`{"body":"${"x".repeat(n)}"}`)) },
    { weight: 1, arbitrary: fc.integer({ min: 1025, max: 4000 }).map((n) => new TextEncoder().encode(`{"${"k".repeat(n)}":1}`)) },
    { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 8 }).map((b) => new Uint8Array([...new TextEncoder().encode('{"a":"'), 0xff, 0xfe, ...b, ...new TextEncoder().encode('"}')])) },
  )
  .filter((bytes) => {
    if (bytes.length === 0) return false;
    try {
      parseStrictJsonBytes(bytes);
      return false;
    } catch (e) {
      return e instanceof MatrixError;
    }
  });

/** A path segment: well-formed IDs, random text (encoded), and broken percent-encoding. */
function segment(name: string): fc.Arbitrary<string> {
  const real: string[] = [];
  if (/room/i.test(name)) real.push(enc(fx.roomId), enc(`!nosuchroom:${SERVER}`), enc("#alias:hub.test"));
  if (/user/i.test(name)) real.push(enc(fx.userId), enc("@nobody:hub.test"), enc("@x:elsewhere.example"));
  if (/event/i.test(name)) real.push(enc(fx.eventId), enc("$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
  if (/server/i.test(name)) real.push(SERVER, "elsewhere.example", "127.0.0.1", "[::1]", "169.254.169.254");
  return fc.oneof(
    { weight: 3, arbitrary: real.length > 0 ? fc.constantFrom(...real) : fc.constant("x") },
    { weight: 2, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 30 }).map(enc) },
    { weight: 1, arbitrary: fc.constantFrom("%", "%zz", "%E0%A4%A", "%00", "%C0%AF", "..", "%2F..%2F", "a%2Fb", "%ED%A0%80", "~", "x".repeat(3000)) },
  );
}

function fillPath(path: string): fc.Arbitrary<string> {
  const names = [...path.matchAll(/:(\w+)/g)].map((m) => m[1] as string);
  if (names.length === 0) return fc.constant(path);
  return fc.tuple(...names.map(segment)).map((values) => {
    let i = 0;
    return path.replace(/:(\w+)/g, () => values[i++] as string);
  });
}

const query = fc.oneof(
  fc.constant(""),
  fc.constantFrom("?limit=-1", "?limit=abc", "?limit=99999999999999999999", "?from=%zz", "?dir=x", "?ver=1&ver=%00", "?event_id=%24x", "?v=&limit=0", "?filter=%7B", "?timeout=-5", "?since=garbage", "?server_name=127.0.0.1", "?access_token=nope"),
  fc.array(fc.tuple(fc.string({ maxLength: 8 }), fc.string({ unit: "binary", maxLength: 12 })), { maxLength: 4 }).map((kv) => `?${kv.map(([k, v]) => `${enc(k)}=${enc(v)}`).join("&")}`),
);

type Credential = "none" | "bogus" | "user" | "federation";
const credential = fc.constantFrom<Credential>("none", "bogus", "user", "user", "federation", "federation");

async function headersFor(cred: Credential, method: string, pathAndQuery: string, content?: unknown): Promise<Record<string, string>> {
  switch (cred) {
    case "none":
      return {};
    case "bogus":
      return { authorization: "Bearer not-a-real-token" };
    case "user":
      return { authorization: `Bearer ${fx.token}` };
    case "federation":
      return { authorization: await fx.remote.sign(SERVER, method, pathAndQuery, content) };
  }
}

// ---------------------------------------------------------------------------------------------
// The checks on every answer
// ---------------------------------------------------------------------------------------------

let requests = 0;
const problems: string[] = [];
const statuses = new Map<number, number>();

async function checkAnswer(what: string, res: Response): Promise<void> {
  requests++;
  statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
  const text = await res.text();
  const type = res.headers.get("content-type") ?? "";
  const fail = (why: string): void => {
    problems.push(`${what} -> ${res.status} ${type}: ${why}: ${text.slice(0, 200)}`);
  };
  if (res.status >= 500) return fail("server error");
  if (res.status === 204 || what.startsWith("HEAD ")) return;
  if (!type.startsWith("application/json")) return fail("not application/json");
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return fail("body is not JSON");
  }
  // A User-Interactive Authentication challenge is a 401 with `flows` instead of an errcode.
  if (res.status === 401 && Array.isArray((body as { flows?: unknown } | null)?.flows)) return;
  if (res.status >= 400) {
    const errcode = (body as { errcode?: unknown } | null)?.errcode;
    if (typeof errcode !== "string" || !errcode.startsWith("M_")) fail("error without an M_ errcode");
  }
}

// ---------------------------------------------------------------------------------------------

describe("fuzzing every endpoint", { timeout: TIMEOUT }, () => {
  let before: Snapshot;

  beforeAll(async () => {
    const username = `fuzz${Date.now().toString(36)}`;
    const reg = await callJson("POST", `${C}/register`, undefined, { username, password: "pw", auth: { type: "m.login.dummy" } });
    const token = reg["access_token"] as string;
    const room = await callJson("POST", `${C}/createRoom`, token, { name: "Fuzz target" });
    const roomId = room["room_id"] as string;
    const sent = await callJson("PUT", `${C}/rooms/${enc(roomId)}/send/m.room.message/t1`, token, { msgtype: "m.text", body: "before" });
    fx = { userId: reg["user_id"] as string, token, roomId, eventId: sent["event_id"] as string, remote: await fakeServer("fuzzer.remote.example") };
  });

  afterEach(() => {
    vi.restoreAllMocks();
  });

  afterAll(() => {
    const byStatus = [...statuses].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}:${n}`).join(" ");
    console.log(`[fuzz] fuzz-endpoints: ${ROUTES.length} routes, ${requests} requests, 500s: ${statuses.get(500) ?? 0}, by status ${byStatus}`);
  });

  /** Serves the remote's keys; a first signed request caches them, so the barrage itself writes none. */
  async function withRemoteKeys(): Promise<void> {
    stubFetch(noWellKnown, serveKeys(fx.remote, () => fx.remote.keyDocument()));
    const path = `${FEDERATION_V1}/state_ids/${enc(fx.roomId)}?event_id=${enc(fx.eventId)}`;
    const res = await call("GET", path, { authorization: await fx.remote.sign(SERVER, "GET", path) });
    expect(res.status).toBe(404); // authenticated, but the remote has no member in the room
  }

  it("finds the routes of every worker module in their source", () => {
    expect(unexpanded).toEqual([]);
    const paths = ROUTES.map((r) => `${r.method} ${r.path}`);
    expect(ROUTES.length).toBeGreaterThan(60);
    for (const known of [`PUT ${LM_PREFIX}/send/:txnId`, `POST ${C}/createRoom`, `GET ${FEDERATION_V1}/make_join/:roomId/:userId`, `PUT ${C}/rooms/:roomId/send/:eventType/:txnId`, "POST /_matrix/key/v2/query", `POST ${FEDERATION_V1}/get_missing_events/:roomId`, `GET ${FEDERATION_V1}/event_auth/:roomId/:eventId`, `PUT ${FEDERATION_V1}/send_knock/:roomId/:eventId`]) {
      expect(paths).toContain(known);
    }
  });

  it("answers malformed bodies on every endpoint with a JSON Matrix error, never a 500", async () => {
    await withRemoteKeys();
    before = await settledSnapshot();
    const bodyRoutes = ROUTES.filter((r) => r.method !== "GET");
    // Every route with a body, each with malformed bodies under every kind of credential.
    for (const route of bodyRoutes) {
      // Logout takes no body: with a real token it is an honest logout whatever is sent along.
      const creds = /\/logout/.test(route.path) ? fc.constantFrom<Credential>("none", "bogus", "federation") : credential;
      const samples = fc.sample(fc.tuple(fillPath(route.path), malformedBody, creds), runs(4));
      for (const [path, body, cred] of samples) {
        const headers = { ...(await headersFor(cred, route.method, path)), "content-type": "application/json" };
        await checkAnswer(`${route.method} ${path.slice(0, 120)} [${cred}]`, await call(route.method, path, headers, body));
      }
    }
    // And the GET routes with random parameters and queries, signed and not.
    for (const route of ROUTES.filter((r) => r.method === "GET")) {
      const samples = fc.sample(fc.tuple(fillPath(route.path), query, credential), runs(3));
      for (const [path, q, cred] of samples) {
        const target = path + q;
        await checkAnswer(`GET ${target.slice(0, 120)} [${cred}]`, await call("GET", target, await headersFor(cred, "GET", target)));
      }
    }
    expect(problems).toEqual([]);
  });

  /** Objects whose well-known fields hold values of types no endpoint accepts for them. */
  function wrongTypedBody(route: Route): fc.Arbitrary<Record<string, unknown>> {
    const wrong = fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.integer(), { maxLength: 3 }), fc.constant({ nested: { deeper: [1, { x: "y" }] } }), fc.string({ maxLength: 5 }));
    const fields = route.path.startsWith("/_matrix/client")
      ? ["username", "password", "auth", "identifier", "type", "user_id", "preset", "invite", "initial_state", "creation_content", "power_level_content_override", "room_version", "visibility", "is_direct", "displayname", "avatar_url", "reason", "typing", "timeout", "m.fully_read", "m.read", "room", "presence", "room_id", "device_keys", "one_time_keys", "messages", "filter", "server_keys"]
      : ["pdus", "edus", "event", "room_version", "invite_room_state", "server_keys", "origin", "origin_server_ts", "type", "sender", "content", "state_key", "room_id"];
    return fc.dictionary(fc.constantFrom(...fields), wrong, { minKeys: 1, maxKeys: 4 });
  }

  async function wrongTypesBarrage(creds: fc.Arbitrary<Credential>, perRoute: number, skip?: RegExp): Promise<void> {
    for (const route of ROUTES.filter((r) => r.method !== "GET" && !(skip?.test(r.path) ?? false))) {
      for (const [path, content, cred] of fc.sample(fc.tuple(fillPath(route.path), wrongTypedBody(route), creds), runs(perRoute))) {
        const headers = { ...(await headersFor(cred, route.method, path, content)), "content-type": "application/json" };
        const res = await call(route.method, path, headers, canonicalJson(content));
        await checkAnswer(`${route.method} ${path.slice(0, 120)} [${cred}] ${JSON.stringify(content).slice(0, 100)}`, res);
      }
    }
  }

  it("answers wrong-typed JSON from strangers and remote servers on every endpoint with JSON, never a 500", async () => {
    await withRemoteKeys();
    await wrongTypesBarrage(fc.constantFrom<Credential>("none", "bogus", "federation"), 2);
    expect(problems).toEqual([]);
  });

  it("leaves stored state as it was: every D1 table's row count, the room's events and its state", async () => {
    expect(before).toBeDefined();
    const after = await settledSnapshot();
    expect({ counts: after.counts, events: after.events, state: after.state }).toEqual({ counts: before.counts, events: before.events, state: before.state });
    // The event index may have caught up meanwhile, but only with events the room had before.
    const allowed = new Set([...before.indexed, ...before.events.map((id) => `${fx.roomId} ${id}`)]);
    expect(after.indexed.filter((row) => !allowed.has(row))).toEqual([]);
    // The snapshot is not trivially empty: the fixture room and its user are in it.
    expect(before.events.length).toBeGreaterThan(3);
    expect(before.counts["users"]).toBeGreaterThan(0);
    expect(before.counts["access_tokens"]).toBeGreaterThan(0);
    expect(requests).toBeGreaterThan(300);
    expect(statuses.get(500) ?? 0).toBe(0);
  });

  it("answers wrong-typed JSON from a signed-in user on every endpoint with JSON, never a 500", async () => {
    // Optional fields of the wrong type may be ignored by an endpoint that then acts (a leave, a
    // logout), so this runs last, as a user of its own, and checks the answers only.
    const username = `fuzzuser${Date.now().toString(36)}`;
    const reg = await callJson("POST", `${C}/register`, undefined, { username, password: "pw", auth: { type: "m.login.dummy" } });
    const own = reg["access_token"] as string;
    await callJson("POST", `${C}/join/${enc(fx.roomId)}`, own, {}).catch(() => undefined);
    const saved = fx.token;
    fx.token = own;
    try {
      await withRemoteKeys();
      // Logout would end the session the rest of the barrage uses.
      await wrongTypesBarrage(fc.constant<Credential>("user"), 2, /\/logout/);
    } finally {
      fx.token = saved;
    }
    expect(problems).toEqual([]);
  });
});
