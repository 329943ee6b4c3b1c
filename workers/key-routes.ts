// Notary key queries (draft -04 "GET /_matrix/key/v2/query/:serverName", "POST /_matrix/key/v2/query").
// Our own keys come from our own document; anyone else's from the key store, which refreshes from the
// origin when needed. Every document served carries our signature beside the origin's.

import { MatrixError, badJson, invalidParam } from "../shared/errors.js";
import { isKeyId, isServerName } from "../shared/ids.js";
import { signJson } from "../shared/signed-json.js";
import type { RouteTable, SbRequest } from "./app.js";
import { json, readJsonBody } from "./http.js";
import { ownKeyDocument } from "./keys.js";
import { remoteKeyStore } from "./remote-keys.js";

const MAX_QUERY_BODY_BYTES = 64 * 1024;
/** Bounds the outbound fetches one query can cause. */
const MAX_SERVERS_PER_QUERY = 50;
const MAX_KEYS_PER_SERVER = 50;

type Criteria = Map<string, number>;

function parseMinimum(v: unknown, fallback: number, where: string): number {
  if (v === undefined) return fallback;
  if (typeof v !== "number" || !Number.isSafeInteger(v)) throw badJson(`${where} must be an integer`);
  return v;
}

async function documentsFor(req: SbRequest, env: Env, serverName: string, minimum: number, criteria: Criteria): Promise<Record<string, unknown>[]> {
  const config = req.config;
  if (serverName === config.serverName) {
    const own = await ownKeyDocument(config, Date.now());
    const wanted = criteria.size === 0 ? [minimum] : criteria.has(config.signingKey.keyId) ? [criteria.get(config.signingKey.keyId) as number] : [];
    return wanted.some((min) => (own["valid_until_ts"] as number) >= min) ? [own] : [];
  }
  const docs = await remoteKeyStore(env, config).keyDocuments(serverName, minimum, criteria);
  return Promise.all(docs.map((d) => signJson(d, config.serverName, config.signingKey)));
}

async function getQuery(req: SbRequest, env: Env): Promise<Response> {
  let serverName: string;
  try {
    serverName = decodeURIComponent(String(req.params["serverName"] ?? ""));
  } catch {
    throw invalidParam("Server name is not valid percent-encoding");
  }
  if (!isServerName(serverName)) throw invalidParam(`Not a valid server name: ${serverName}`);
  const raw = new URL(req.url).searchParams.get("minimum_valid_until_ts");
  let minimum = Date.now();
  if (raw !== null) {
    if (!/^\d{1,16}$/.test(raw) || !Number.isSafeInteger(Number(raw))) throw invalidParam("minimum_valid_until_ts must be an integer");
    minimum = Number(raw);
  }
  return json({ server_keys: await documentsFor(req, env, serverName, minimum, new Map()) });
}

async function postQuery(req: SbRequest, env: Env): Promise<Response> {
  const { body } = await readJsonBody(req, { maxBytes: MAX_QUERY_BODY_BYTES });
  const query = body["server_keys"];
  if (typeof query !== "object" || query === null || Array.isArray(query)) throw badJson("server_keys must be an object");
  const servers = Object.entries(query);
  if (servers.length > MAX_SERVERS_PER_QUERY) throw new MatrixError(400, "M_BAD_JSON", `At most ${MAX_SERVERS_PER_QUERY} servers per query`);
  const now = Date.now();
  const plan: Array<{ serverName: string; criteria: Criteria }> = [];
  for (const [serverName, keys] of servers) {
    if (!isServerName(serverName)) throw badJson(`Not a valid server name: ${serverName}`);
    if (typeof keys !== "object" || keys === null || Array.isArray(keys)) throw badJson(`server_keys.${serverName} must be an object`);
    const entries = Object.entries(keys);
    if (entries.length > MAX_KEYS_PER_SERVER) throw badJson(`At most ${MAX_KEYS_PER_SERVER} key IDs per server`);
    const criteria: Criteria = new Map();
    for (const [keyId, c] of entries) {
      if (!isKeyId(keyId)) throw badJson(`Not a valid key ID: ${keyId}`);
      if (typeof c !== "object" || c === null || Array.isArray(c)) throw badJson(`Criteria for ${keyId} must be an object`);
      criteria.set(keyId, parseMinimum((c as Record<string, unknown>)["minimum_valid_until_ts"], now, "minimum_valid_until_ts"));
    }
    plan.push({ serverName, criteria });
  }
  const results = await Promise.all(plan.map((p) => documentsFor(req, env, p.serverName, now, p.criteria)));
  return json({ server_keys: results.flat() });
}

export function mountKeyQueries(t: RouteTable): void {
  t.add("get", "/_matrix/key/v2/query/:serverName", getQuery);
  t.add("post", "/_matrix/key/v2/query", postQuery);
}
