// The benchmark's reference worker, loaded into the hub's own Miniflare (same workerd process) beside
// Switchboard. Used only by `npm run bench`; never deployed.
//
// - POST /append  {rows: string[]}: the bare-append baseline. One Durable Object that only appends
//   each row to SQLite and returns the last sequence number. Same request path as the hub
//   (Miniflare entry -> Worker -> DO RPC -> SQLite -> answer), none of the protocol work.
//   `?hops=n` first makes n calls to another object that does nothing (the price of a hop).
// - POST /verify?mode=..&n=..: B5. Runs the hub's own inbound checks (X-Matrix request
//   authentication, LPDU format, signature, content hash, event ID) n times over the posted
//   events, keys held in memory. Timers are frozen inside a request, so the load generator times
//   each request from outside and subtracts the `parse` mode (same body, no work).
// - PUT <LM prefix>/send/{txnId}: the protocol floor for B1. Only what the LM draft requires of a
//   hub for each event, on the same path as the bare append: the Worker authenticates the X-Matrix
//   request and checks each LPDU (event ID, format, signature, content hash; the hub's own
//   functions), then one object completes each LPDU (links, hashes, the hub's signature: the hub's
//   own completeLpduWithId) and appends it. No auth rules, state, transaction IDs or fan-out.
//   Keys come from POST /floor-keys first.

import { DurableObject } from "cloudflare:workers";
import { checkLpduFormat } from "../../shared/event-format.js";
import { checkLpduContentHash, verifyLpduSignature } from "../../shared/event-signatures.js";
import { eventIdOf } from "../../shared/hashes.js";
import type { ServerName } from "../../shared/ids.js";
import { LM_ROOM_VERSION } from "../../shared/room-versions.js";
import { decodeBase64 } from "../../shared/base64.js";
import { generateSeed, signingKeyFromSeed, verifyEd25519, type SigningKey } from "../../shared/signing-key.js";
import type { Lpdu } from "../../shared/event.js";
import { completeLpduWithId } from "../../shared/lpdu.js";
import { redactLm } from "../../shared/redaction.js";
import { signingBytes } from "../../shared/signed-json.js";
import { asLpdu, checkInboundLpdu, eventKeyLookup } from "../../workers/event-checks.js";
import { authenticateFederationRequest } from "../../workers/federation-auth.js";
import type { VerifyKeyLookup } from "../../workers/remote-keys.js";

interface BaselineEnv {
  BASE: DurableObjectNamespace<BareAppend>;
}

export class BareAppend extends DurableObject<BaselineEnv> {
  constructor(ctx: DurableObjectState, env: BaselineEnv) {
    super(ctx, env);
    ctx.storage.sql.exec(`CREATE TABLE IF NOT EXISTS log (seq INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL)`);
  }

  /**
   * SQL probe: builds the Room's events/outbox tables (as durable-objects/room-storage.ts declares
   * them) with `events` timeline rows and the outbox rows a busy hub has, then runs the Room's
   * pendingOutbox query `reps` times. Returns its query plan; time it from outside against reps=0.
   */
  probeOutbox(events: number, indexRows: number, destinations: number, destRows: number, reps: number): string[] {
    const sql = this.ctx.storage.sql;
    const have = sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'probe_events'`).one().n;
    if (!have) {
      sql.exec(`CREATE TABLE probe_events (event_id TEXT PRIMARY KEY, pos INTEGER UNIQUE, type TEXT NOT NULL, state_key TEXT, sender TEXT NOT NULL, lpdu_hash TEXT, json TEXT NOT NULL)`);
      sql.exec(`CREATE INDEX probe_events_state_history ON probe_events (type, state_key, pos) WHERE state_key IS NOT NULL`);
      sql.exec(`CREATE UNIQUE INDEX probe_events_by_lpdu ON probe_events (lpdu_hash) WHERE lpdu_hash IS NOT NULL`);
      sql.exec(`CREATE TABLE probe_outbox (destination TEXT NOT NULL, pos INTEGER NOT NULL, PRIMARY KEY (destination, pos))`);
      const body = "x".repeat(900);
      for (let i = 1; i <= events; i++) sql.exec(`INSERT INTO probe_events VALUES (?, ?, 'm.room.message', NULL, '@a:b', ?, ?)`, `$e${i}`, i, `h${i}`, body);
      for (let i = events - indexRows + 1; i <= events; i++) sql.exec(`INSERT INTO probe_outbox VALUES ('', ?)`, i);
      for (let d = 0; d < destinations; d++) for (let i = events - destRows + 1; i <= events; i++) sql.exec(`INSERT INTO probe_outbox VALUES (?, ?)`, `d${d}`, i);
    }
    const q = `SELECT o.destination, o.pos, e.event_id, e.json FROM probe_outbox o JOIN probe_events e ON e.pos = o.pos WHERE ? OR o.destination <> '' ORDER BY o.pos ASC LIMIT ?`;
    for (let r = 0; r < reps; r++) sql.exec(q, 0, 2000).toArray();
    return sql.exec<{ detail: string }>(`EXPLAIN QUERY PLAN ${q}`, 0, 2000).toArray().map((r) => r.detail);
  }

  /**
   * SQL probe: `cycles` rounds of what the hub Room does per event with `dests` destinations, on the
   * room-storage.ts schema: insert the event and its outbox rows (one per destination plus the D1
   * index row), then flush (pendingOutbox, deleteOutbox per destination). `skip` leaves out one
   * step ("insert", "outbox", "pending", "delete") to time it by subtraction.
   */
  probeCycle(cycles: number, dests: number, skip: string): number {
    const sql = this.ctx.storage.sql;
    sql.exec(`CREATE TABLE IF NOT EXISTS c_events (event_id TEXT PRIMARY KEY, pos INTEGER UNIQUE, type TEXT NOT NULL, state_key TEXT, sender TEXT NOT NULL, lpdu_hash TEXT, json TEXT NOT NULL)`);
    sql.exec(`CREATE INDEX IF NOT EXISTS c_events_state_history ON c_events (type, state_key, pos) WHERE state_key IS NOT NULL`);
    sql.exec(`CREATE UNIQUE INDEX IF NOT EXISTS c_events_by_lpdu ON c_events (lpdu_hash) WHERE lpdu_hash IS NOT NULL`);
    sql.exec(`CREATE TABLE IF NOT EXISTS c_outbox (destination TEXT NOT NULL, pos INTEGER NOT NULL, PRIMARY KEY (destination, pos))`);
    let pos = sql.exec<{ p: number | null }>(`SELECT MAX(pos) AS p FROM c_events`).one().p ?? 0;
    const body = "x".repeat(900);
    let n = 0;
    for (let c = 0; c < cycles; c++) {
      pos++;
      if (skip !== "insert") sql.exec(`INSERT INTO c_events VALUES (?, ?, 'm.room.message', NULL, '@a:b', ?, ?)`, `$e${pos}`, pos, `h${pos}`, body);
      if (skip !== "outbox") for (let d = 0; d <= dests; d++) sql.exec(`INSERT OR IGNORE INTO c_outbox (destination, pos) VALUES (?, ?)`, d === dests ? "" : `d${d}`, pos);
      if (skip !== "pending") n += sql.exec(`SELECT o.destination, o.pos, e.event_id, e.json FROM c_outbox o JOIN c_events e ON e.pos = o.pos WHERE ? OR o.destination <> '' ORDER BY o.pos ASC LIMIT ?`, 0, 2000).toArray().length;
      if (skip !== "delete") for (let d = 0; d < dests; d++) sql.exec(`DELETE FROM c_outbox WHERE destination = ? AND pos <= ?`, `d${d}`, pos);
      if (pos % 1000 === 0) sql.exec(`DELETE FROM c_outbox WHERE destination = '' AND pos <= ?`, pos);
    }
    return n;
  }

  /** SQL probe: `n` statements of one kind ("select1", "insert", "delete", or "many": one json_each insert of n rows). */
  async probeStatements(kind: string, n: number, url = ""): Promise<number> {
    const sql = this.ctx.storage.sql;
    sql.exec(`CREATE TABLE IF NOT EXISTS s_rows (destination TEXT NOT NULL, pos INTEGER NOT NULL, PRIMARY KEY (destination, pos))`);
    let base = sql.exec<{ p: number | null }>(`SELECT MAX(pos) AS p FROM s_rows`).one().p ?? 0;
    let k = 0;
    if (kind === "select1") for (let i = 0; i < n; i++) k += sql.exec<{ x: number }>(`SELECT 1 AS x`).one().x;
    if (kind === "insert") for (let i = 0; i < n; i++) sql.exec(`INSERT INTO s_rows (destination, pos) VALUES (?, ?)`, "d", ++base);
    if (kind === "many") {
      const rows = Array.from({ length: n }, () => ["d", ++base]);
      sql.exec(`INSERT INTO s_rows (destination, pos) SELECT value ->> 0, value ->> 1 FROM json_each(?)`, JSON.stringify(rows));
    }
    // Each statement in its own turn (a write transaction each), against the same awaits alone.
    if (kind === "turns") for (let i = 0; i < n; i++) await new Promise((r) => setTimeout(r, 0));
    if (kind === "insertTurns") {
      for (let i = 0; i < n; i++) {
        sql.exec(`INSERT INTO s_rows (destination, pos) VALUES (?, ?)`, "d", ++base);
        await new Promise((r) => setTimeout(r, 0));
      }
    }
    // Does awaiting WebCrypto (as the Room does between events) end the write transaction?
    const data = new Uint8Array(900);
    if (kind === "digest") for (let i = 0; i < n; i++) await crypto.subtle.digest("SHA-256", data);
    if (kind === "insertDigest") {
      for (let i = 0; i < n; i++) {
        sql.exec(`INSERT INTO s_rows (destination, pos) VALUES (?, ?)`, "d", ++base);
        await crypto.subtle.digest("SHA-256", data);
      }
    }
    // And an RPC to another object (the Room's flush awaits one per destination)?
    if (kind === "rpc") for (let i = 0; i < n; i++) await this.env.BASE.get(this.env.BASE.idFromName("other")).ping();
    if (kind === "insertRpc") {
      for (let i = 0; i < n; i++) {
        sql.exec(`INSERT INTO s_rows (destination, pos) VALUES (?, ?)`, "d", ++base);
        await this.env.BASE.get(this.env.BASE.idFromName("other")).ping();
      }
    }
    // Arming the alarm, as Destination.drain does before every transaction it sends.
    if (kind === "setAlarm") for (let i = 0; i < n; i++) await this.ctx.storage.setAlarm(Date.now() + 3_600_000 + i);
    if (kind === "insertSetAlarm") {
      for (let i = 0; i < n; i++) {
        sql.exec(`INSERT INTO s_rows (destination, pos) VALUES (?, ?)`, "d", ++base);
        await this.ctx.storage.setAlarm(Date.now() + 3_600_000 + i);
      }
    }
    // An outbound HTTP request, as Outbound.sendTransaction makes for every transaction it sends.
    if (kind === "fetch") {
      const body = JSON.stringify({ pdus: [{ x: "y".repeat(900) }] });
      for (let i = 0; i < n; i++) await (await fetch(url, { method: "PUT", body, headers: { "content-type": "application/json", authorization: "X-Matrix x" } })).text();
    }
    if (kind === "delete") {
      const first = sql.exec<{ p: number | null }>(`SELECT MIN(pos) AS p FROM s_rows`).one().p ?? 0;
      for (let i = 0; i < n; i++) sql.exec(`DELETE FROM s_rows WHERE destination = ? AND pos <= ?`, "d", first + i);
    }
    if (kind === "deleteMany") {
      const first = sql.exec<{ p: number | null }>(`SELECT MIN(pos) AS p FROM s_rows`).one().p ?? 0;
      sql.exec(`DELETE FROM s_rows WHERE destination = ? AND pos <= ?`, "d", first + n - 1);
    }
    return k;
  }

  /** Does nothing: the far end of the DO RPC probe's calls and of `/append?hops=`'s round trips. */
  ping(): number {
    return 1;
  }

  /** Alarms the probe arms are an hour away and replaced before they fire. */
  override async alarm(): Promise<void> {}

  private floorKey: Promise<SigningKey> | undefined;
  private floorLast: string | undefined;

  /** The protocol floor's object: completes each checked LPDU as hub, in order, and appends it. */
  async completeAndAppend(lpdus: Lpdu[], hubName: string): Promise<string[]> {
    const key = await (this.floorKey ??= signingKeyFromSeed(generateSeed(), "floor"));
    const ids: string[] = [];
    for (const lpdu of lpdus) {
      const links = { authEvents: [], prevEvents: this.floorLast === undefined ? [] : [this.floorLast] };
      const { pdu, eventId } = await completeLpduWithId(lpdu, links, hubName, key, LM_ROOM_VERSION);
      this.ctx.storage.sql.exec(`INSERT INTO log (body) VALUES (?)`, JSON.stringify(pdu));
      this.floorLast = eventId;
      ids.push(eventId);
    }
    return ids;
  }

  /** Appends the rows in order; returns the sequence number of the last one. */
  append(rows: string[]): number {
    let seq = 0;
    for (const r of rows) {
      seq = this.ctx.storage.sql.exec<{ seq: number }>(`INSERT INTO log (body) VALUES (?) RETURNING seq`, r).one().seq;
    }
    return seq;
  }
}

interface VerifyBody {
  /** LPDUs as a participant sends them. */
  lpdus: Record<string, unknown>[];
  /** server name -> key ID -> unpadded base64 public key. */
  keys: Record<string, Record<string, string>>;
  /** A signed /send request: its target, Authorization header and body (a transaction). */
  request: { uri: string; authorization: string; content: Record<string, unknown> };
  /** The hub's name (the X-Matrix destination). */
  destination: string;
}

function keyLookup(keys: VerifyBody["keys"]): VerifyKeyLookup {
  const decoded = new Map<string, Uint8Array>();
  for (const [server, ids] of Object.entries(keys)) for (const [id, k] of Object.entries(ids)) decoded.set(`${server} ${id}`, decodeBase64(k));
  return { getVerifyKey: async (server, keyId) => decoded.get(`${server} ${keyId}`) };
}

async function runVerify(mode: string, n: number, body: VerifyBody): Promise<number> {
  const keys = keyLookup(body.keys);
  const lpdus = body.lpdus;
  const pick = (i: number) => lpdus[i % lpdus.length] as Record<string, unknown>;
  const origin = (s: unknown) => String(s).slice(String(s).indexOf(":") + 1);
  let ok = 0;
  switch (mode) {
    case "parse":
      return lpdus.length;
    case "ed25519": {
      // Raw WebCrypto verification of one real LPDU signature over its signing bytes: the floor
      // under every signature check (no canonical JSON, no redaction, no key lookup).
      const e = pick(0);
      const server = origin(e["sender"]);
      const sigs = (e["signatures"] as Record<string, Record<string, string>>)[server] as Record<string, string>;
      const [keyId, sigB64] = Object.entries(sigs)[0] as [string, string];
      const pub = decodeBase64((body.keys[server] as Record<string, string>)[keyId] as string);
      const bytes = signingBytes(redactLm(e));
      const sig = decodeBase64(sigB64);
      for (let i = 0; i < n; i++) if (await verifyEd25519(pub, sig, bytes)) ok++;
      return ok;
    }
    case "xmatrix": {
      const req = new Request(`http://hub${body.request.uri}`, { method: "PUT", headers: { authorization: body.request.authorization } });
      for (let i = 0; i < n; i++) {
        await authenticateFederationRequest(req, body.request.content, { serverName: body.destination as ServerName }, keys);
        ok++;
      }
      return ok;
    }
    case "format":
      for (let i = 0; i < n; i++) {
        checkLpduFormat(asLpdu(pick(i)));
        ok++;
      }
      return ok;
    case "signature":
      for (let i = 0; i < n; i++) {
        const e = pick(i);
        if ((await verifyLpduSignature(e, eventKeyLookup(keys, e["origin_server_ts"]))).ok) ok++;
      }
      return ok;
    case "hash":
      for (let i = 0; i < n; i++) if (await checkLpduContentHash(pick(i))) ok++;
      return ok;
    case "eventid":
      for (let i = 0; i < n; i++) if ((await eventIdOf(pick(i), LM_ROOM_VERSION)).length > 0) ok++;
      return ok;
    case "lpdu":
      // Exactly what onSend does per PDU: the event ID, then checkInboundLpdu.
      for (let i = 0; i < n; i++) {
        const e = pick(i);
        await eventIdOf(e, LM_ROOM_VERSION);
        await checkInboundLpdu(asLpdu(e), origin(e["sender"]), keys);
        ok++;
      }
      return ok;
    default:
      throw new Error(`unknown mode ${mode}`);
  }
}

/** The protocol floor's verify keys and hub name, set by POST /floor-keys. */
const floor: { keys: VerifyKeyLookup; hub: string } = { keys: keyLookup({}), hub: "" };

async function floorSend(req: Request, env: BaselineEnv): Promise<Response> {
  const content = (await req.json()) as { pdus?: unknown[] };
  const origin = await authenticateFederationRequest(req, content, { serverName: floor.hub as ServerName }, floor.keys);
  const lpdus: Lpdu[] = [];
  for (const e of content.pdus ?? []) {
    await eventIdOf(e as object, LM_ROOM_VERSION);
    lpdus.push(await checkInboundLpdu(asLpdu(e), origin, floor.keys));
  }
  const ids = await env.BASE.get(env.BASE.idFromName("floor")).completeAndAppend(lpdus, floor.hub);
  return new Response(JSON.stringify({ pdus: Object.fromEntries(ids.map((id) => [id, {}])) }), { headers: { "content-type": "application/json" } });
}

export default {
  async fetch(req: Request, env: BaselineEnv): Promise<Response> {
    const url = new URL(req.url);
    if (req.method === "PUT" && url.pathname.includes("/send/")) return floorSend(req, env);
    if (req.method === "POST" && url.pathname === "/floor-keys") {
      const body = (await req.json()) as { keys: VerifyBody["keys"]; hub: string };
      floor.keys = keyLookup(body.keys);
      floor.hub = body.hub;
      return new Response("{}", { headers: { "content-type": "application/json" } });
    }
    if (req.method === "POST" && url.pathname === "/append") {
      const { rows } = (await req.json()) as { rows: string[] };
      const log = url.searchParams.get("log") ?? "log";
      // `hops=n`: n round trips to another object first, each awaited as the hub awaits its Inbox,
      // to price one Worker -> object call under the same load (profile.mjs --baseline=1 --hops=n).
      const hops = Number(url.searchParams.get("hops") ?? 0);
      for (let i = 0; i < hops; i++) await env.BASE.get(env.BASE.idFromName(`${log}-gate`)).ping();
      const stub = env.BASE.get(env.BASE.idFromName(log));
      const seq = await stub.append(rows);
      return new Response(`{"seq":${seq}}`, { headers: { "content-type": "application/json" } });
    }
    if (url.pathname === "/probe-statements") {
      const stub = env.BASE.get(env.BASE.idFromName(url.searchParams.get("log") ?? "stmts"));
      const n = await stub.probeStatements(url.searchParams.get("kind") ?? "select1", Number(url.searchParams.get("n") ?? 0), url.searchParams.get("url") ?? "");
      return new Response(JSON.stringify({ n }), { headers: { "content-type": "application/json" } });
    }
    if (url.pathname === "/probe-cycle") {
      const stub = env.BASE.get(env.BASE.idFromName(url.searchParams.get("log") ?? "cycle"));
      const n = await stub.probeCycle(Number(url.searchParams.get("cycles") ?? 0), Number(url.searchParams.get("dests") ?? 3), url.searchParams.get("skip") ?? "");
      return new Response(JSON.stringify({ n }), { headers: { "content-type": "application/json" } });
    }
    if (url.pathname === "/probe-outbox") {
      const n = (k: string, d: number) => Number(url.searchParams.get(k) ?? d);
      const stub = env.BASE.get(env.BASE.idFromName(url.searchParams.get("log") ?? "probe"));
      const plan = await stub.probeOutbox(n("events", 20000), n("index", 1000), n("dests", 3), n("destRows", 10), n("reps", 0));
      return new Response(JSON.stringify({ plan }), { headers: { "content-type": "application/json" } });
    }
    if (req.method === "POST" && url.pathname === "/verify") {
      const body = (await req.json()) as VerifyBody;
      const done = await runVerify(url.searchParams.get("mode") ?? "parse", Number(url.searchParams.get("n") ?? "0"), body);
      return new Response(`{"done":${done}}`, { headers: { "content-type": "application/json" } });
    }
    return new Response("not found", { status: 404 });
  },
} satisfies ExportedHandler<BaselineEnv>;
