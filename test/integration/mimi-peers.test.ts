// MIMI provider authentication in workerd with the real D1 table: the admin API that manages the
// mimi_peers table, the provider derived from request.cf.tlsClientAuth, and the local stand-in,
// which is refused unless explicitly enabled and never honoured off loopback.

import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { MatrixError } from "../../shared/errors.js";
import { MIMI_STAND_IN_HEADER } from "../../shared/mimi/peer-credential.js";
import { ADMIN_PREFIX } from "../../workers/admin.js";
import worker from "../../workers/index.js";
import { authenticateMimiPeer, mimiFetch, mimiOutboundMode, type MimiPeer } from "../../workers/mimi-peer-auth.js";

const ADMIN = "test-admin-token";
const FP_B = "b".repeat(64);
const FP_C = "c".repeat(64);
const FP_UNKNOWN = "e".repeat(64);

async function admin(method: string, path: string, body?: unknown, token = ADMIN): Promise<{ status: number; json: Record<string, unknown> }> {
  const ctx = createExecutionContext();
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  const req = new Request(`https://hub.test${ADMIN_PREFIX}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const res = await worker.fetch(req as never, { ...env, ADMIN_TOKEN: ADMIN }, ctx);
  await waitOnExecutionContext(ctx);
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

function verifiedCert(fingerprint: string, verified = "SUCCESS") {
  return { tlsClientAuth: { certPresented: "1", certVerified: verified, certFingerprintSHA256: fingerprint } };
}

/** A request as Cloudflare's edge hands it to the Worker, with its cf properties. */
function inbound(url: string, init: { cf?: unknown; headers?: Record<string, string> } = {}): Request {
  return new Request(url, { method: "POST", headers: init.headers ?? {}, cf: init.cf as never });
}

async function authError(req: Request, e: Env = env): Promise<MatrixError> {
  try {
    await authenticateMimiPeer(req, e);
  } catch (err) {
    if (err instanceof MatrixError) return err;
    throw err;
  }
  throw new Error("authenticated");
}

const withStandIn = { ...env, MIMI_LOCAL_STAND_IN_FINGERPRINT: "a".repeat(64) } as Env;

describe("the mimi_peers admin API", () => {
  it("adds, lists, re-points and removes peers by certificate fingerprint", async () => {
    const colons = FP_B.match(/../g)!.join(":").toUpperCase();
    expect(await admin("PUT", `/mimi/peers/${encodeURIComponent(colons)}`, { domain: "B.example" })).toEqual({ status: 200, json: { fingerprint: FP_B, domain: "b.example" } });
    expect((await admin("PUT", `/mimi/peers/${FP_C}`, { domain: "c.example:8448" })).status).toBe(200);
    const listed = await admin("GET", "/mimi/peers");
    const peers = listed.json["peers"] as Array<{ fingerprint: string; domain: string }>;
    expect(peers.filter((p) => p.fingerprint === FP_B || p.fingerprint === FP_C).map((p) => [p.fingerprint, p.domain])).toEqual([
      [FP_B, "b.example"],
      [FP_C, "c.example:8448"],
    ]);
    expect((await admin("PUT", `/mimi/peers/${FP_C}`, { domain: "c2.example" })).status).toBe(200);
    expect(await admin("DELETE", `/mimi/peers/${FP_C}`)).toEqual({ status: 200, json: { removed: FP_C } });
    const after = (await admin("GET", "/mimi/peers")).json["peers"] as Array<{ fingerprint: string }>;
    expect(after.some((p) => p.fingerprint === FP_C)).toBe(false);
  });

  it("refuses bad fingerprints and domains, unknown removals and requests without the admin token", async () => {
    expect((await admin("PUT", "/mimi/peers/abc", { domain: "b.example" })).json["errcode"]).toBe("M_INVALID_PARAM");
    expect((await admin("PUT", `/mimi/peers/${FP_B}`, { domain: "not a domain" })).json["errcode"]).toBe("M_INVALID_PARAM");
    expect((await admin("PUT", `/mimi/peers/${FP_B}`, { domain: 7 })).status).toBe(400);
    expect((await admin("DELETE", `/mimi/peers/${"d".repeat(64)}`)).status).toBe(404);
    expect((await admin("GET", "/mimi/peers", undefined, "wrong")).status).toBe(401);
  });
});

describe("authenticating an inbound MIMI request", () => {
  it("a verified client certificate of a known peer authenticates its provider domain", async () => {
    await admin("PUT", `/mimi/peers/${FP_B}`, { domain: "b.example" });
    const peer: MimiPeer = await authenticateMimiPeer(inbound("https://hub.test/mimi/v1/update/x", { cf: verifiedCert(FP_B.toUpperCase()) }), env);
    expect(peer).toEqual({ domain: "b.example", fingerprint: FP_B, via: "mtls" });
  });

  it("an unverified certificate is 401, an unknown one 403, and a From naming another provider 403", async () => {
    await admin("PUT", `/mimi/peers/${FP_B}`, { domain: "b.example" });
    const failed = await authError(inbound("https://hub.test/x", { cf: verifiedCert(FP_B, "FAILED:self signed certificate") }));
    expect([failed.status, failed.errcode]).toEqual([401, "M_UNAUTHORIZED"]);
    const unknown = await authError(inbound("https://hub.test/x", { cf: verifiedCert(FP_UNKNOWN) }));
    expect([unknown.status, unknown.errcode]).toEqual([403, "M_FORBIDDEN"]);
    const spoofed = await authError(inbound("https://hub.test/x", { cf: verifiedCert(FP_B), headers: { from: "mimi@c.example" } }));
    expect(spoofed.status).toBe(403);
    const honest = await authenticateMimiPeer(inbound("https://hub.test/x", { cf: verifiedCert(FP_B), headers: { from: "mimi@b.example" } }), env);
    expect(honest.domain).toBe("b.example");
  });

  it("no certificate at all is 401", async () => {
    const e = await authError(inbound("https://hub.test/x"));
    expect(e.status).toBe(401);
    expect(e.message).toContain("client certificate");
  });

  it("the stand-in header is refused when MIMI_LOCAL_STAND_IN_FINGERPRINT is not set, even on loopback", async () => {
    await admin("PUT", `/mimi/peers/${FP_B}`, { domain: "b.example" });
    expect((env as Env & { MIMI_LOCAL_STAND_IN_FINGERPRINT?: string }).MIMI_LOCAL_STAND_IN_FINGERPRINT).toBeUndefined();
    const e = await authError(inbound("http://127.0.0.1:8787/mimi/v1/update/x", { headers: { [MIMI_STAND_IN_HEADER]: FP_B } }));
    expect([e.status, e.errcode]).toEqual([401, "M_UNAUTHORIZED"]);
    expect(e.message).toContain("MIMI_LOCAL_STAND_IN_FINGERPRINT");
  });

  it("with the stand-in on, the header is still refused on a public host name: a deployed Worker never honours it", async () => {
    await admin("PUT", `/mimi/peers/${FP_B}`, { domain: "b.example" });
    const e = await authError(inbound("https://hub.example.com/mimi/v1/update/x", { headers: { [MIMI_STAND_IN_HEADER]: FP_B } }), withStandIn);
    expect(e.status).toBe(403);
    expect(e.message).toContain("loopback");
  });

  it("with the stand-in on, a loopback request's header maps through the same peers table", async () => {
    await admin("PUT", `/mimi/peers/${FP_B}`, { domain: "b.example" });
    const peer = await authenticateMimiPeer(inbound("http://hub.localhost:8787/x", { headers: { [MIMI_STAND_IN_HEADER]: FP_B } }), withStandIn);
    expect(peer).toEqual({ domain: "b.example", fingerprint: FP_B, via: "local-stand-in" });
    const unknown = await authError(inbound("http://127.0.0.1:8787/x", { headers: { [MIMI_STAND_IN_HEADER]: FP_UNKNOWN } }), withStandIn);
    expect(unknown.status).toBe(403);
  });

  it("a real certificate wins over a stand-in header sent alongside it", async () => {
    await admin("PUT", `/mimi/peers/${FP_B}`, { domain: "b.example" });
    await admin("PUT", `/mimi/peers/${FP_C}`, { domain: "c.example" });
    const peer = await authenticateMimiPeer(inbound("http://127.0.0.1:8787/x", { cf: verifiedCert(FP_B), headers: { [MIMI_STAND_IN_HEADER]: FP_C } }), withStandIn);
    expect(peer.domain).toBe("b.example");
  });
});

describe("authenticating outbound MIMI requests", () => {
  it("uses the mtls_certificates binding when configured, the stand-in only towards loopback, and otherwise refuses", async () => {
    const seen: Array<{ url: string; from: string | null; standIn: string | null }> = [];
    // Miniflare has no mtls_certificates binding; this records what would go through one.
    const binding = {
      fetch: async (url: string, init?: RequestInit) => {
        const h = new Headers(init?.headers);
        seen.push({ url, from: h.get("from"), standIn: h.get(MIMI_STAND_IN_HEADER) });
        return new Response(null, { status: 201 });
      },
    } as unknown as Fetcher;
    const withCert = { ...env, MIMI_CLIENT_CERT: binding } as Env;
    expect(mimiOutboundMode(withCert, new URL("https://b.example/mimi/v1/notify/x"))).toBe("mtls");
    const res = await mimiFetch(withCert, "hub.test", "https://b.example/mimi/v1/notify/x", { method: "POST", body: new Uint8Array([1]) });
    expect(res.status).toBe(201);
    expect(seen).toEqual([{ url: "https://b.example/mimi/v1/notify/x", from: "mimi@hub.test", standIn: null }]);

    expect(mimiOutboundMode(withStandIn, new URL("http://127.0.0.1:9/x"))).toBe("local-stand-in");
    expect(mimiOutboundMode(withStandIn, new URL("https://b.example/x"))).toBe("none");
    expect(mimiOutboundMode(env, new URL("http://127.0.0.1:9/x"))).toBe("none");
    await expect(mimiFetch(env, "hub.test", "https://b.example/x")).rejects.toThrow(/MIMI_CLIENT_CERT/);
  });
});
