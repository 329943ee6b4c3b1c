// B5 in the load generator: the hub's inbound checks, timed from outside the baseline worker.

import { httpRequest, newAgent } from "./http.js";
import { authHeader, LM_PREFIX } from "./proto.js";
import { median } from "./stats.js";
import type * as T from "./types.js";
import { now } from "./loadgen-common.js";
import { type Fake, fake, requireHub } from "./loadgen-fakes.js";
import { messageLpdus } from "./loadgen-closed-loop.js";

// ---------------------------------------------------------------------------------------------
// B5: the hub's inbound checks, timed from outside the baseline worker
// ---------------------------------------------------------------------------------------------

/** server name -> key ID -> public key, as the baseline worker's key lookups take them. */
export function verifyKeys(list: Fake[]): Record<string, Record<string, string>> {
  return Object.fromEntries(list.map((f) => [f.id.name, { [f.id.keyId]: f.id.publicKeyB64 }]));
}

export async function b5(p: T.B5Params): Promise<T.B5Result> {
  const h = requireHub();
  const f = fake(p.fake);
  const lpdus = messageLpdus(f, p.roomId, 200);
  const txn1 = { origin: f.id.name, origin_server_ts: Date.now(), pdus: lpdus.slice(0, 1) };
  const txn50 = { origin: f.id.name, origin_server_ts: Date.now(), pdus: lpdus.slice(0, 50) };
  const uri = `${LM_PREFIX}/send/b5`;
  const keys = verifyKeys([f]);
  const bodyFor = (content: object) =>
    JSON.stringify({ lpdus, keys, destination: h.name, request: { uri, authorization: authHeader(f.id, h.name, "PUT", uri, content), content } });
  const bodies = { t1: bodyFor(txn1), t50: bodyFor(txn50) };
  const agent = newAgent(1);
  const time = async (mode: string, n: number, body: string): Promise<number> => {
    const a = now();
    const res = await httpRequest(h.http, "POST", `/verify?mode=${mode}&n=${n}`, { headers: { host: p.host }, body, agent });
    const ms = now() - a;
    if (res.status !== 200) throw new Error(`verify ${mode}: HTTP ${res.status} ${res.body.toString().slice(0, 300)}`);
    const done = (JSON.parse(res.body.toString()) as { done: number }).done;
    if (mode !== "parse" && done !== n) throw new Error(`verify ${mode}: only ${done} of ${n} checks passed`);
    return ms;
  };
  const modes: Array<{ name: string; body: "t1" | "t50" }> = [
    { name: "ed25519", body: "t1" },
    { name: "format", body: "t1" },
    { name: "signature", body: "t1" },
    { name: "hash", body: "t1" },
    { name: "eventid", body: "t1" },
    { name: "lpdu", body: "t1" },
    { name: "xmatrix", body: "t1" },
    { name: "xmatrix", body: "t50" },
  ];
  const samples = new Map<string, number[]>();
  const parse = { t1: [] as number[], t50: [] as number[] };
  for (let i = 0; i < 3; i++) await time("parse", 0, bodies.t1); // warm up the isolate
  for (const m of modes) await time(m.name, 50, bodies[m.body]);
  for (let rep = 0; rep < p.reps; rep++) {
    for (const m of modes) {
      parse[m.body].push(await time("parse", p.n, bodies[m.body]));
      const key = `${m.name}/${m.body}`;
      const list = samples.get(key) ?? [];
      list.push(await time(m.name, p.n, bodies[m.body]));
      samples.set(key, list);
    }
  }
  agent.destroy();
  const out: T.B5Result["perCheckUs"] = {};
  for (const [key, list] of samples) {
    const base = median(parse[key.endsWith("t50") ? "t50" : "t1"]);
    out[key] = Math.max(0, ((median(list) - base) * 1000) / p.n);
  }
  return { perCheckUs: out, n: p.n, reps: p.reps, parseMs: { t1: median(parse.t1), t50: median(parse.t50) } };
}
