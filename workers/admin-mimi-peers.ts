// Admin API for the MIMI peers table (switchboard mimi-peers / mimi-peer-add / mimi-peer-remove):
// which client-certificate fingerprint authenticates which provider domain.

import { MatrixError, notFound } from "../shared/errors.js";
import { isServerName } from "../shared/ids.js";
import { normaliseFingerprint } from "../shared/mimi/peer-credential.js";
import { ADMIN_PREFIX, requireAdmin } from "./admin.js";
import type { RouteTable, SbRequest } from "./app.js";
import { json, pathParam, readJsonBody } from "./http.js";
import { deletePeer, listPeers, putPeer } from "./storage/mimi-peers.js";

function fingerprintParam(req: SbRequest): string {
  const fp = normaliseFingerprint(pathParam(req, "fingerprint"));
  if (!fp) throw new MatrixError(400, "M_INVALID_PARAM", "fingerprint must be a SHA-256 fingerprint: 64 hex digits (colons allowed)");
  return fp;
}

export function mountAdminMimiPeers(t: RouteTable): void {
  t.add("get", `${ADMIN_PREFIX}/mimi/peers`, async (req, env) => {
    requireAdmin(req, env);
    return json({ peers: await listPeers(env.DB) });
  });

  t.add("put", `${ADMIN_PREFIX}/mimi/peers/:fingerprint`, async (req, env) => {
    requireAdmin(req, env);
    const fingerprint = fingerprintParam(req);
    const { body } = await readJsonBody(req, { maxBytes: 4096 });
    const domain = typeof body["domain"] === "string" ? body["domain"].toLowerCase() : undefined;
    if (domain === undefined || !isServerName(domain)) throw new MatrixError(400, "M_INVALID_PARAM", "domain must be a provider domain (a DNS name, optionally with a port)");
    await putPeer(env.DB, fingerprint, domain, Date.now());
    return json({ fingerprint, domain });
  });

  t.add("delete", `${ADMIN_PREFIX}/mimi/peers/:fingerprint`, async (req, env) => {
    requireAdmin(req, env);
    const fingerprint = fingerprintParam(req);
    if (!(await deletePeer(env.DB, fingerprint))) throw notFound(`No MIMI peer with fingerprint ${fingerprint}`);
    return json({ removed: fingerprint });
  });
}
