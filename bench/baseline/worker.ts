// The benchmark's reference worker, loaded into the hub's own Miniflare (same workerd process) beside
// Switchboard. Used only by `npm run bench`; never deployed.
//
// - POST /append  {rows: string[]}: the bare-append baseline. One Durable Object that only appends
//   each row to SQLite and returns the last sequence number. Same request path as the hub
//   (Miniflare entry -> Worker -> DO RPC -> SQLite -> answer), none of the protocol work.
// - POST /verify?mode=..&n=..: B5. Runs the hub's own inbound checks (X-Matrix request
//   authentication, LPDU format, signature, content hash, event ID) n times over the posted
//   events, keys held in memory. Timers are frozen inside a request, so the load generator times
//   each request from outside and subtracts the `parse` mode (same body, no work).

import { DurableObject } from "cloudflare:workers";
import { checkLpduFormat } from "../../shared/event-format.js";
import { checkLpduContentHash, verifyLpduSignature } from "../../shared/event-signatures.js";
import { eventIdOf } from "../../shared/hashes.js";
import type { ServerName } from "../../shared/ids.js";
import { LM_ROOM_VERSION } from "../../shared/room-versions.js";
import { decodeBase64 } from "../../shared/base64.js";
import { verifyEd25519 } from "../../shared/signing-key.js";
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

export default {
  async fetch(req: Request, env: BaselineEnv): Promise<Response> {
    const url = new URL(req.url);
    if (req.method === "POST" && url.pathname === "/append") {
      const { rows } = (await req.json()) as { rows: string[] };
      const stub = env.BASE.get(env.BASE.idFromName(url.searchParams.get("log") ?? "log"));
      const seq = await stub.append(rows);
      return new Response(`{"seq":${seq}}`, { headers: { "content-type": "application/json" } });
    }
    if (req.method === "POST" && url.pathname === "/verify") {
      const body = (await req.json()) as VerifyBody;
      const done = await runVerify(url.searchParams.get("mode") ?? "parse", Number(url.searchParams.get("n") ?? "0"), body);
      return new Response(`{"done":${done}}`, { headers: { "content-type": "application/json" } });
    }
    return new Response("not found", { status: 404 });
  },
} satisfies ExportedHandler<BaselineEnv>;
