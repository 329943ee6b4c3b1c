// Which client certificate an inbound MIMI request presents (MIMI -06 §4.1: providers authenticate
// each other with mutual TLS). On Cloudflare the edge verifies the certificate and reports it in
// request.cf.tlsClientAuth; the Worker maps the fingerprint to a provider (the mimi_peers table).
// Miniflare has no mTLS, so a local stand-in header may carry a fingerprint instead: honoured only
// when explicitly enabled AND the request reached a loopback address, so a deployed Worker refuses it.

/** The header the local stand-in uses in place of a client certificate. */
export const MIMI_STAND_IN_HEADER = "x-switchboard-mimi-stand-in-fingerprint";

/** The parts of request.cf.tlsClientAuth this reads. */
export interface TlsClientAuth {
  certPresented?: string;
  certVerified?: string;
  certFingerprintSHA256?: string;
}

export type PeerCredential =
  | { ok: true; fingerprint: string; via: "mtls" | "local-stand-in" }
  | { ok: false; status: 401 | 403; reason: string };

/** A SHA-256 fingerprint as 64 lowercase hex digits; colons, spaces and case are forgiven. */
export function normaliseFingerprint(raw: string): string | undefined {
  const hex = raw.replace(/[:\s]/g, "").toLowerCase();
  return /^[0-9a-f]{64}$/.test(hex) ? hex : undefined;
}

/** localhost, *.localhost, 127.0.0.0/8 and ::1: names a deployed Worker's requests never carry. */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/^\[|\]$/g, "");
  return h === "localhost" || h.endsWith(".localhost") || h === "::1" || /^127(\.\d{1,3}){3}$/.test(h);
}

export function peerCredential(input: {
  tls: TlsClientAuth | undefined;
  standInHeader: string | null;
  /** The local-only switch (MIMI_LOCAL_STAND_IN_FINGERPRINT set). */
  standInEnabled: boolean;
  /** The hostname of the request URL. */
  hostname: string;
}): PeerCredential {
  const { tls } = input;
  if (tls?.certPresented === "1") {
    // A real certificate always wins; a stand-in header next to one is ignored.
    if (tls.certVerified !== "SUCCESS") {
      return { ok: false, status: 401, reason: `the client certificate was not verified (${tls.certVerified ?? "no status"})` };
    }
    const fp = normaliseFingerprint(tls.certFingerprintSHA256 ?? "");
    if (!fp) return { ok: false, status: 401, reason: "the verified client certificate has no SHA-256 fingerprint" };
    return { ok: true, fingerprint: fp, via: "mtls" };
  }
  if (input.standInHeader !== null) {
    if (!input.standInEnabled) {
      return {
        ok: false,
        status: 401,
        reason: `${MIMI_STAND_IN_HEADER} is a local test stand-in for mutual TLS and is off here (MIMI_LOCAL_STAND_IN_FINGERPRINT is not set); present a client certificate`,
      };
    }
    if (!isLoopbackHost(input.hostname)) {
      return {
        ok: false,
        status: 403,
        reason: `${MIMI_STAND_IN_HEADER} is honoured only on loopback addresses, never by a deployed Worker; present a client certificate`,
      };
    }
    const fp = normaliseFingerprint(input.standInHeader);
    if (!fp) return { ok: false, status: 401, reason: `${MIMI_STAND_IN_HEADER} is not a SHA-256 fingerprint` };
    return { ok: true, fingerprint: fp, via: "local-stand-in" };
  }
  return { ok: false, status: 401, reason: "MIMI requests need a client certificate (mutual TLS)" };
}

/**
 * `From: mimi@<domain>` (MIMI -06 §4.1), when sent, must name the authenticated provider; a local
 * peer's domain may carry a port, which From (an addr-spec) cannot.
 */
export function fromHeaderMatches(from: string | null, domain: string): boolean {
  if (from === null) return true;
  const got = from.trim().toLowerCase();
  const d = domain.toLowerCase();
  return got === `mimi@${d}` || got === `mimi@${d.replace(/:\d+$/, "")}`;
}
