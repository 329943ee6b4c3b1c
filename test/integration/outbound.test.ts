import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { getConfig } from "../../workers/config.js";
import { authenticateFederationRequest } from "../../workers/federation-auth.js";
import { federationRequest, sendTransactionPath } from "../../workers/federation-request.js";
import type { VerifyKeyLookup } from "../../workers/remote-keys.js";
import { newKey, noWellKnown, stubFetch } from "./fake-remote.js";

afterEach(() => {
  vi.restoreAllMocks();
});

/** What the stub saw; bodies are read inside the stub, in the context that made the request. */
interface Seen {
  url: string;
  method: string;
  headers: Headers;
  text: string;
}

async function capture(req: Request): Promise<Seen> {
  return { url: req.url, method: req.method, headers: new Headers(req.headers), text: await req.text() };
}

/** Plays the destination: checks our signature the way a receiving server would. */
async function receivedBy(destination: string, req: Seen): Promise<{ origin: string; body: unknown }> {
  const config = await getConfig(env);
  const ourKey: VerifyKeyLookup = {
    getVerifyKey: async (server, keyId) => (server === config.serverName && keyId === config.signingKey.keyId ? config.signingKey.publicKey : undefined),
  };
  const text = req.text;
  const body = text === "" ? undefined : (JSON.parse(text) as unknown);
  const asReceived = new Request(req.url.replace(/^https?:\/\/[^/]+/, `https://${destination}`), { method: req.method, headers: req.headers });
  return { origin: await authenticateFederationRequest(asReceived, body, { serverName: destination as never }, ourKey), body };
}

describe("Outbound over the OUTBOUND service binding", () => {
  it("sends a signed PUT to the LM send path and returns the parsed answer", async () => {
    const seen: Seen[] = [];
    stubFetch(noWellKnown, async (req) => {
      if (!req.url.startsWith("https://txn.out.example:8448/")) return undefined;
      seen.push(await capture(req));
      return Response.json({ pdus: {} });
    });
    const res = await env.OUTBOUND.sendTransaction("txn.out.example", "t/1", { pdus: [], edus: [] });
    expect(res).toEqual({ status: 200, body: { pdus: {} } });
    const req = seen[0] as Seen;
    expect(req.method).toBe("PUT");
    expect(new URL(req.url).pathname).toBe(sendTransactionPath("t/1"));
    expect(req.url).toContain("/send/t%2F1");
    expect(req.headers.get("content-type")).toBe("application/json");
    expect(await receivedBy("txn.out.example", req)).toEqual({ origin: "hub.test", body: { pdus: [], edus: [] } });
  });

  it("signs a GET without a content key and keeps the query string in the signed uri", async () => {
    const seen: Seen[] = [];
    stubFetch(noWellKnown, async (req) => {
      if (!req.url.startsWith("https://get.out.example:8448/")) return undefined;
      seen.push(await capture(req));
      return Response.json({ ok: true });
    });
    const path = "/_matrix/federation/v1/make_join/%21r%3Aget.out.example/%40u%3Ahub.test?ver=org.matrix.i-d.ralston-mimi-linearized-matrix.02";
    const res = await env.OUTBOUND.request("get.out.example", "GET", path);
    expect(res.status).toBe(200);
    expect(await receivedBy("get.out.example", seen[0] as Seen)).toEqual({ origin: "hub.test", body: undefined });
  });

  it("reports an unreachable destination as status 0 instead of throwing", async () => {
    stubFetch(noWellKnown);
    const res = await env.OUTBOUND.request("down.out.example", "GET", "/_matrix/federation/v1/version");
    expect(res.status).toBe(0);
    expect(res.body).toMatchObject({ errcode: "M_UNKNOWN" });
  });

  it("reports a timeout as status 0", async () => {
    stubFetch(noWellKnown, (req) => (req.url.includes("slow.out.example:8448") ? new Promise<Response>(() => undefined) : undefined));
    const res = await env.OUTBOUND.request("slow.out.example", "GET", "/_matrix/federation/v1/version", undefined, 200);
    expect(res.status).toBe(0);
    expect(JSON.stringify(res.body)).toContain("timed out");
  });

  it("refuses a destination on a private address without contacting it", async () => {
    const f = stubFetch();
    const res = await env.OUTBOUND.request("10.0.0.1:8448", "GET", "/_matrix/federation/v1/version");
    expect(res).toMatchObject({ status: 0, body: { errcode: "M_FORBIDDEN" } });
    expect(f.requests).toHaveLength(0);
  });

  it("keeps the remote status and marks a body that is not JSON", async () => {
    stubFetch(noWellKnown, (req) => (req.url.includes("html.out.example:8448") ? new Response("<h1>Bad gateway</h1>", { status: 502 }) : undefined));
    const res = await env.OUTBOUND.request("html.out.example", "GET", "/_matrix/federation/v1/version");
    expect(res).toMatchObject({ status: 502, body: { errcode: "M_NOT_JSON" } });
  });

  it("passes a remote Matrix error through with its status", async () => {
    stubFetch(noWellKnown, (req) => (req.url.includes("err.out.example:8448") ? Response.json({ errcode: "M_FORBIDDEN", error: "no" }, { status: 403 }) : undefined));
    expect(await env.OUTBOUND.request("err.out.example", "GET", "/_matrix/federation/v1/version")).toEqual({
      status: 403,
      body: { errcode: "M_FORBIDDEN", error: "no" },
    });
  });

  it("rejects a bad destination or path as status 0 without a request", async () => {
    const f = stubFetch();
    expect((await env.OUTBOUND.request("not a name", "GET", "/x")).status).toBe(0);
    expect((await env.OUTBOUND.request("ok.out.example", "GET", "no-slash")).status).toBe(0);
    expect((await env.OUTBOUND.request("ok.out.example", "PATCH", "/x")).status).toBe(0);
    expect(f.requests).toHaveLength(0);
  });
});

describe("federationRequest", () => {
  it("sends one X-Matrix credential per signing key", async () => {
    const seen: Request[] = [];
    stubFetch(noWellKnown, (req) => {
      if (!req.url.startsWith("https://multi.out.example:8448/")) return undefined;
      seen.push(req);
      return Response.json({});
    });
    const config = await getConfig(env);
    const second = await newKey("k2");
    await federationRequest(config, [config.signingKey, second], "multi.out.example", "GET", "/_matrix/federation/v1/version");
    const header = seen[0]?.headers.get("authorization") ?? "";
    expect(header.match(/X-Matrix /g)).toHaveLength(2);
    expect(header).toContain(`key="${config.signingKey.keyId}"`);
    expect(header).toContain('key="ed25519:k2"');
  });

  it("answers status 0 for a body that is not canonical JSON", async () => {
    stubFetch(noWellKnown);
    const config = await getConfig(env);
    const res = await federationRequest(config, undefined, "float.out.example", "PUT", "/_matrix/x", { n: 1.5 });
    expect(res).toMatchObject({ status: 0, body: { errcode: "M_BAD_JSON" } });
  });
});
