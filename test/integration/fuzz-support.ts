/// <reference types="vite/client" />
// The endpoint fuzzer shared by the fuzz-*-endpoints.test.ts files: random and malformed requests on
// every federation and client endpoint of one server (workerd, real Durable Objects and D1). The
// routes are read from the workers' own source, so an endpoint added later is fuzzed too; each test
// file fuzzes one family of them (FAMILIES), so the barrages run in parallel, each with its own
// storage. Each request gets random path parameters, a random credential (none, a wrong
// token, a real user's token, or a genuine X-Matrix signature of a remote server) and a body that no
// endpoint may accept: random bytes, invalid JSON, JSON nested too deep, strings over the caps,
// floats, duplicate keys, lone surrogates, top-level non-objects; and objects whose fields have the
// wrong types. Then random paths and methods. Every answer must be JSON (an `errcode` on errors),
// never a 500, and stored state (row counts of every D1 table, the room's events and state) must be
// what it was before the barrage. FUZZ_RUNS raises the counts.

import { env, exports } from "cloudflare:workers";
import fc from "fast-check";
import { MatrixError } from "../../shared/errors.js";
import { parseStrictJsonBytes } from "../../shared/strict-json.js";
import { ADMIN_PREFIX } from "../../workers/admin.js";
import { FEDERATION_V1, FEDERATION_V2, FEDERATION_V3, LM_PREFIX } from "../../shared/federation-paths.js";
import { MIMI_DIRECTORY_PATH, MIMI_PATH_PREFIX } from "../../shared/mimi/directory.js";
import { MIMI_CLIENT_PREFIX } from "../../workers/mimi-client.js";
import { MIMI_FEDERATION_PREFIX } from "../../shared/mimi-welcome-relay.js";
import type { FakeServer } from "./fake-remote.js";

// The host's FUZZ_RUNS reaches the worker as a binding (vitest.workers.config.ts).
export const FUZZ_RUNS = Number((env as unknown as { FUZZ_RUNS?: string }).FUZZ_RUNS ?? "") || 0;
export const runs = (n: number): number => Math.max(n, FUZZ_RUNS);
export const TIMEOUT = FUZZ_RUNS > 0 ? 600_000 : 120_000;

export const SERVER = "hub.test";
export const C = "/_matrix/client/v3";
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
  MIMI_PATH_PREFIX: [MIMI_PATH_PREFIX],
  MIMI_CLIENT_PREFIX: [MIMI_CLIENT_PREFIX],
  MIMI_DIRECTORY_PATH: [MIMI_DIRECTORY_PATH],
  MIMI_FEDERATION_PREFIX: [MIMI_FEDERATION_PREFIX],
};

export interface Route {
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

export const unexpanded: string[] = [];
export const ROUTES: Route[] = (() => {
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
  /** An uploaded media ID of ours. */
  mediaId: string;
}
/** Filled in by each family's beforeAll. */
export const fx = {} as Fixture;

export async function call(method: string, path: string, headers: Record<string, string> = {}, body?: BodyInit): Promise<Response> {
  return exports.default.fetch(new Request(`https://${SERVER}${path}`, { method, headers, body }));
}

export async function callJson(method: string, path: string, token: string | undefined, body: unknown): Promise<Record<string, unknown>> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (token) headers["authorization"] = `Bearer ${token}`;
  const res = await call(method, path, headers, JSON.stringify(body));
  const json = (await res.json()) as Record<string, unknown>;
  if (res.status !== 200) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

export interface Snapshot {
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
export async function settledSnapshot(): Promise<Snapshot> {
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
export const malformedBody: fc.Arbitrary<Uint8Array> = fc
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
  if (/media/i.test(name)) real.push(fx.mediaId, "nosuchmedia", "AAAAAAAAAAAAAAAAAAAAAAAA");
  return fc.oneof(
    { weight: 3, arbitrary: real.length > 0 ? fc.constantFrom(...real) : fc.constant("x") },
    { weight: 2, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 30 }).map(enc) },
    { weight: 1, arbitrary: fc.constantFrom("%", "%zz", "%E0%A4%A", "%00", "%C0%AF", "..", "%2F..%2F", "a%2Fb", "%ED%A0%80", "~", "x".repeat(3000)) },
  );
}

export function fillPath(path: string): fc.Arbitrary<string> {
  const names = [...path.matchAll(/:(\w+)/g)].map((m) => m[1] as string);
  if (names.length === 0) return fc.constant(path);
  return fc.tuple(...names.map(segment)).map((values) => {
    let i = 0;
    return path.replace(/:(\w+)/g, () => values[i++] as string);
  });
}

export const query = fc.oneof(
  fc.constant(""),
  fc.constantFrom("?limit=-1", "?limit=abc", "?limit=99999999999999999999", "?from=%zz", "?dir=x", "?ver=1&ver=%00", "?event_id=%24x", "?v=&limit=0", "?filter=%7B", "?timeout=-5", "?since=garbage", "?server_name=127.0.0.1", "?access_token=nope", "?pos=garbage&timeout=-1", "?pos=99999999999999999999&timeout=abc"),
  fc.array(fc.tuple(fc.string({ maxLength: 8 }), fc.string({ unit: "binary", maxLength: 12 })), { maxLength: 4 }).map((kv) => `?${kv.map(([k, v]) => `${enc(k)}=${enc(v)}`).join("&")}`),
);

export type Credential = "none" | "bogus" | "user" | "federation";

/** Media uploads (and upload reservations) store whatever bytes a signed-in user sends, by design. */
export const STORES_ANY_BODY = /^\/_matrix\/media\/(v3|r0)\/upload$|^\/_matrix\/media\/v1\/create$/;
/** Media answers its bytes, not JSON, when it succeeds. */
const SERVES_BYTES = /\/media\/(download|thumbnail)\//;
/**
 * Media of another server is fetched from it: when it cannot be reached (the stubbed network has no
 * route to it) the answer is a 502 gateway error with a Matrix errcode, which is right, not a crash.
 */
const FETCHES_REMOTE_MEDIA = new RegExp(`/media/(download|thumbnail)/(?!${SERVER.replace(".", "\\.")}/)[^/]+/`);
export const credential = fc.constantFrom<Credential>("none", "bogus", "user", "user", "federation", "federation");

export async function headersFor(cred: Credential, method: string, pathAndQuery: string, content?: unknown): Promise<Record<string, string>> {
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

/** What a barrage saw: every answer's status, and the answers that broke a rule. */
class Tally {
  requests = 0;
  problems: string[] = [];
  statuses = new Map<number, number>();
  reset(): void {
    this.requests = 0;
    this.problems = [];
    this.statuses = new Map();
  }
}
export const tally = new Tally();

export async function checkAnswer(what: string, res: Response): Promise<void> {
  const { problems, statuses } = tally;
  tally.requests++;
  statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
  const text = await res.text();
  const type = res.headers.get("content-type") ?? "";
  const fail = (why: string): void => {
    problems.push(`${what} -> ${res.status} ${type}: ${why}: ${text.slice(0, 200)}`);
  };
  const gatewayError = res.status === 502 && FETCHES_REMOTE_MEDIA.test(what);
  if (res.status >= 500 && !gatewayError) return fail("server error");
  if (res.status === 204 || what.startsWith("HEAD ")) return;
  if (res.status === 200 && SERVES_BYTES.test(what)) return;
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
// Route families: one test file each. Every route is in exactly one (checked in fuzz-endpoints.test.ts).
// ---------------------------------------------------------------------------------------------

const MEDIA = /^\/_matrix\/media\/|^\/_matrix\/client\/v1\/media\/|^\/_matrix\/federation\/v1\/media\//;
const CLIENT_KEYS = /\/(keys|room_keys|sendToDevice|devices|delete_devices)\b|\/(unstable\/org\.switchboard\.mimi)\//;

export const FAMILIES = {
  /** Client API: rooms, sync, accounts, profile, push, directory and the rest, less keys and media. */
  client: (p: string) => p.startsWith("/_matrix/client/") && !MEDIA.test(p) && !CLIENT_KEYS.test(p),
  /** Client API: device keys, key backup, cross-signing, to-device, devices, MLS devices. */
  "client-keys": (p: string) => p.startsWith("/_matrix/client/") && !MEDIA.test(p) && CLIENT_KEYS.test(p),
  /** Server-server API (Linearized Matrix and Matrix federation) and the key server, less media. */
  federation: (p: string) => (p.startsWith("/_matrix/federation/") || p.startsWith("/_matrix/key/")) && !MEDIA.test(p),
  /** Media upload, download and thumbnails, client and federation. */
  media: (p: string) => MEDIA.test(p),
  /** MIMI's own protocol and directory, the admin API, and anything else. */
  "mimi-admin": (p: string) => !p.startsWith("/_matrix/"),
} as const;
export type Family = keyof typeof FAMILIES;

/** The families a route falls in (exactly one for every route). */
export function familiesOf(route: Route): Family[] {
  return (Object.keys(FAMILIES) as Family[]).filter((f) => FAMILIES[f](route.path));
}
