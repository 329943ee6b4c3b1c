// The load generator's fake remote servers: each with its own key, key document and loopback port, and
// the signed federation requests and joins they make to the hub.

import { createServer, type Server } from "node:http";
import type { Agent } from "node:http";
import type { AddressInfo } from "node:net";
import { canonicalJson } from "../../shared/canonical-json.js";
import { httpRequest, newAgent, target, type HttpTarget } from "./http.js";
import { authHeader, keyDocument, LM_PREFIX, LM_VERSION, makeLpdu, newIdentity, type Identity } from "./proto.js";
import { type Arrival } from "./delivery.js";
import type * as T from "./types.js";
import { enc, now } from "./loadgen-common.js";

// ---------------------------------------------------------------------------------------------
// Fake remote servers
// ---------------------------------------------------------------------------------------------

export interface Fake {
  id: Identity;
  port: number;
  server: Server;
  agent: Agent;
  /** PDUs the hub fanned out to this server. */
  received: number;
  transactions: number;
  /** While delivery is being recorded (B1): each fan-out transaction's arrival. */
  arrivals: Arrival[];
}

let recording = false;

export const fakes = new Map<string, Fake>();
let hub: { name: string; http: HttpTarget } | undefined;

/** Fan-out arrivals are noted (B1's delivery figures) only between deliveryStart and deliveryReport. */
export function setRecording(on: boolean): void {
  recording = on;
}

/** Points every fake at the hub under test, each with a fresh connection pool. */
export function setHub(name: string, url: string): void {
  hub = { name, http: target(url) };
  for (const f of fakes.values()) f.agent.destroy(), (f.agent = newAgent(4));
}

export function fake(name: string): Fake {
  const f = fakes.get(name);
  if (!f) throw new Error(`unknown fake server ${name}`);
  return f;
}

export function requireHub(): { name: string; http: HttpTarget } {
  if (!hub) throw new Error("hub not configured");
  return hub;
}

export async function startFake(name: string): Promise<Fake> {
  const id = newIdentity(name);
  const doc = keyDocument(id, Date.now());
  const f: Fake = { id, port: 0, server: createServer(), agent: newAgent(4), received: 0, transactions: 0, arrivals: [] };
  f.server.keepAliveTimeout = 60_000;
  f.server.on("request", (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const path = req.url ?? "";
      if (req.method === "GET" && path === "/_matrix/key/v2/server") {
        res.writeHead(200, { "content-type": "application/json" }).end(doc);
        return;
      }
      if (req.method === "PUT" && path.includes("/send/")) {
        // Fan-out from the hub. Count PDUs cheaply (every PDU carries exactly one "hub_server").
        const text = Buffer.concat(chunks).toString("utf8");
        let n = 0;
        for (let i = text.indexOf('"hub_server"'); i >= 0; i = text.indexOf('"hub_server"', i + 1)) n++;
        f.received += n;
        f.transactions++;
        if (recording) f.arrivals.push({ t: now(), n });
        res.writeHead(200, { "content-type": "application/json" }).end('{"failed_pdus":{}}');
        return;
      }
      res.writeHead(404, { "content-type": "application/json" }).end('{"errcode":"M_UNRECOGNIZED","error":"bench fake server"}');
    });
  });
  await new Promise<void>((resolve) => f.server.listen(0, "127.0.0.1", resolve));
  f.port = (f.server.address() as AddressInfo).port;
  fakes.set(name, f);
  return f;
}

/** A federation request signed as `from` to the hub. */
export async function fed(from: Fake, method: string, path: string, body?: unknown, agent?: Agent): Promise<{ status: number; body: Buffer; ms: number }> {
  const h = requireHub();
  const headers: Record<string, string> = { authorization: authHeader(from.id, h.name, method, path, body) };
  const t0 = now();
  const res = await httpRequest(h.http, method, path, { headers, ...(body === undefined ? {} : { body: canonicalJson(body) }), agent: agent ?? from.agent });
  return { ...res, ms: now() - t0 };
}

/** make_join + send_join for `user` of server `f`; returns timings and the send_join answer size. */
export async function joinViaHandshake(f: Fake, roomId: string, user: string): Promise<T.JoinTiming> {
  const mk = await fed(f, "GET", `/_matrix/federation/v1/make_join/${enc(roomId)}/${enc(user)}?ver=${enc(LM_VERSION)}`);
  if (mk.status !== 200) throw new Error(`make_join ${user}: ${mk.status} ${mk.body.toString().slice(0, 300)}`);
  const tpl = JSON.parse(mk.body.toString()) as { event: Record<string, unknown> };
  const e = tpl.event;
  const lpdu = makeLpdu(
    f.id,
    { room_id: roomId, type: "m.room.member", state_key: user, sender: user, origin_server_ts: Date.now(), content: e["content"] as { membership: string } },
    String(e["hub_server"]),
  );
  const sj = await fed(f, "POST", `${LM_PREFIX}/send_join/${enc(`j${Date.now()}.${Math.random().toString(36).slice(2)}`)}`, lpdu);
  if (sj.status !== 200) throw new Error(`send_join ${user}: ${sj.status} ${sj.body.toString().slice(0, 300)}`);
  const answer = JSON.parse(sj.body.toString()) as { state: unknown[]; auth_chain: unknown[] };
  return { makeJoinMs: mk.ms, sendJoinMs: sj.ms, bytes: sj.body.length, stateEvents: answer.state.length, authChain: answer.auth_chain.length };
}
