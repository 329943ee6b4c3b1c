// Which certificate an inbound MIMI request presents (shared/mimi/peer-credential.ts): the decision
// before the peers table is consulted.

import { describe, expect, it } from "vitest";
import { fromHeaderMatches, isLoopbackHost, normaliseFingerprint, peerCredential } from "../../shared/mimi/peer-credential.js";

const FP = "0f".repeat(32);
const cert = (verified: string, fp = FP) => ({ certPresented: "1", certVerified: verified, certFingerprintSHA256: fp });

describe("MIMI peer credentials", () => {
  it("normalises fingerprints written with colons or in upper case, and refuses anything else", () => {
    expect(normaliseFingerprint(FP.match(/../g)!.join(":").toUpperCase())).toBe(FP);
    expect(normaliseFingerprint("0f".repeat(31))).toBeUndefined();
    expect(normaliseFingerprint("zz".repeat(32))).toBeUndefined();
  });

  it("knows loopback names and addresses, and nothing else, as loopback", () => {
    for (const h of ["localhost", "hub.localhost", "127.0.0.1", "127.1.2.3", "[::1]", "::1"]) expect(isLoopbackHost(h), h).toBe(true);
    for (const h of ["hub.example", "localhost.example.com", "10.0.0.1", "128.0.0.1", "127.0.0.1.nip.io"]) expect(isLoopbackHost(h), h).toBe(false);
  });

  it("a verified certificate gives its fingerprint; any other verification status is 401", () => {
    expect(peerCredential({ tls: cert("SUCCESS"), standInHeader: null, standInEnabled: false, hostname: "hub.example" })).toEqual({ ok: true, fingerprint: FP, via: "mtls" });
    const failed = peerCredential({ tls: cert("FAILED:certificate has expired"), standInHeader: null, standInEnabled: false, hostname: "hub.example" });
    expect(failed).toMatchObject({ ok: false, status: 401 });
  });

  it("the stand-in needs both the switch and a loopback host", () => {
    const base = { tls: { certPresented: "0", certVerified: "NONE" }, standInHeader: FP };
    expect(peerCredential({ ...base, standInEnabled: false, hostname: "127.0.0.1" })).toMatchObject({ ok: false, status: 401 });
    expect(peerCredential({ ...base, standInEnabled: true, hostname: "hub.example" })).toMatchObject({ ok: false, status: 403 });
    expect(peerCredential({ ...base, standInEnabled: true, hostname: "127.0.0.1" })).toEqual({ ok: true, fingerprint: FP, via: "local-stand-in" });
    expect(peerCredential({ ...base, standInHeader: "nope", standInEnabled: true, hostname: "127.0.0.1" })).toMatchObject({ ok: false, status: 401 });
  });

  it("From must name the provider when sent, with or without the local port", () => {
    expect(fromHeaderMatches(null, "b.example")).toBe(true);
    expect(fromHeaderMatches("mimi@B.example", "b.example")).toBe(true);
    expect(fromHeaderMatches("mimi@b.localhost", "b.localhost:8788")).toBe(true);
    expect(fromHeaderMatches("mimi@c.example", "b.example")).toBe(false);
    expect(fromHeaderMatches("alice@b.example", "b.example")).toBe(false);
  });
});
