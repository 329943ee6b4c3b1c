// MIMI provider authentication at the edge (SECURITY.md "MIMI provider authentication"): inbound,
// the provider a request comes from, from its verified client certificate (or the local stand-in)
// and the mimi_peers table; outbound, requests through the mtls_certificates binding.

import { MatrixError } from "../shared/errors.js";
import {
  fromHeaderMatches,
  isLoopbackHost,
  MIMI_STAND_IN_HEADER,
  normaliseFingerprint,
  peerCredential,
  type TlsClientAuth,
} from "../shared/mimi/peer-credential.js";
import { peerDomainOf } from "./storage/mimi-peers.js";

/** Optional settings, absent from wrangler.toml by default (see its MIMI comment block). */
export interface MimiPeerEnv {
  /** Local runs only: turns the stand-in on and is this server's own stand-in fingerprint. */
  MIMI_LOCAL_STAND_IN_FINGERPRINT?: string;
  /** An `mtls_certificates` binding: fetch() presents this server's client certificate. */
  MIMI_CLIENT_CERT?: Fetcher;
}

export interface MimiPeer {
  /** The provider domain the certificate authenticates (as entered with `switchboard mimi-peer-add`). */
  domain: string;
  fingerprint: string;
  via: "mtls" | "local-stand-in";
}

const standInFingerprint = (env: Env): string | undefined => {
  const raw = (env as Env & MimiPeerEnv).MIMI_LOCAL_STAND_IN_FINGERPRINT;
  return raw ? normaliseFingerprint(raw) : undefined;
};

/** The authenticated provider of an inbound MIMI request, or a MatrixError (401/403) saying why not. */
export async function authenticateMimiPeer(request: Request, env: Env): Promise<MimiPeer> {
  const cf = (request as Request & { cf?: { tlsClientAuth?: TlsClientAuth } }).cf;
  const credential = peerCredential({
    tls: cf?.tlsClientAuth,
    standInHeader: request.headers.get(MIMI_STAND_IN_HEADER),
    standInEnabled: standInFingerprint(env) !== undefined,
    hostname: new URL(request.url).hostname,
  });
  if (!credential.ok) throw new MatrixError(credential.status, credential.status === 401 ? "M_UNAUTHORIZED" : "M_FORBIDDEN", credential.reason);
  const domain = await peerDomainOf(env.DB, credential.fingerprint);
  if (domain === null) {
    throw new MatrixError(403, "M_FORBIDDEN", `certificate ${credential.fingerprint} is not a known MIMI peer (switchboard mimi-peer-add)`);
  }
  if (!fromHeaderMatches(request.headers.get("from"), domain)) {
    throw new MatrixError(403, "M_FORBIDDEN", `From names another provider than the certificate (${domain})`);
  }
  return { domain, fingerprint: credential.fingerprint, via: credential.via };
}

export type MimiOutboundMode = "mtls" | "local-stand-in" | "none";

/** How this server would authenticate an outbound MIMI request to `url`. */
export function mimiOutboundMode(env: Env, url: URL): MimiOutboundMode {
  if ((env as Env & MimiPeerEnv).MIMI_CLIENT_CERT) return "mtls";
  if (standInFingerprint(env) !== undefined && isLoopbackHost(url.hostname)) return "local-stand-in";
  return "none";
}

/**
 * Sends a MIMI request as this provider: through the mtls_certificates binding when configured;
 * to a loopback peer with the stand-in header when the local stand-in is on; otherwise refused,
 * because a MIMI peer would reject a request without a client certificate anyway.
 */
export async function mimiFetch(env: Env, ownDomain: string, url: string, init: RequestInit = {}): Promise<Response> {
  const target = new URL(url);
  const headers = new Headers(init.headers);
  headers.set("from", `mimi@${ownDomain.replace(/:\d+$/, "")}`);
  const mode = mimiOutboundMode(env, target);
  if (mode === "mtls") return (env as Env & MimiPeerEnv).MIMI_CLIENT_CERT!.fetch(url, { ...init, headers });
  if (mode === "local-stand-in") {
    headers.set(MIMI_STAND_IN_HEADER, standInFingerprint(env)!);
    return fetch(url, { ...init, headers });
  }
  throw new MatrixError(
    500,
    "M_UNKNOWN",
    "No MIMI client certificate: add an mtls_certificates binding named MIMI_CLIENT_CERT (wrangler.toml), or for loopback peers set MIMI_LOCAL_STAND_IN_FINGERPRINT",
  );
}
