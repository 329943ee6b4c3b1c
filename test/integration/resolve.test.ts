import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { MatrixError } from "../../shared/errors.js";
import { getConfig } from "../../workers/config.js";
import { RemoteKeyStore } from "../../workers/remote-keys.js";
import { resolveServerName } from "../../workers/resolve.js";
import { fakeServer, noWellKnown, serve, stubFetch, type Route } from "./fake-remote.js";

afterEach(() => {
  vi.restoreAllMocks();
});

const NO_MAP = new Map<string, string>();

const wellKnown = (host: string, body: unknown, headers: Record<string, string> = {}): Route =>
  serve(`https://${host}/.well-known/matrix/server`, body, 200, headers);

async function refusal(p: Promise<unknown>): Promise<MatrixError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(MatrixError);
  return err as MatrixError;
}

describe("resolveServerName", () => {
  it("uses the host map first, plain HTTP and loopback included", async () => {
    const f = stubFetch();
    const map = new Map([["p1.localhost:8788", "http://127.0.0.1:8788"]]);
    expect(await resolveServerName("p1.localhost:8788", map)).toEqual({ baseUrl: "http://127.0.0.1:8788", hostHeader: "127.0.0.1:8788" });
    expect(f.requests).toHaveLength(0);
  });

  it("goes straight to an explicit port over HTTPS, without a well-known lookup", async () => {
    const f = stubFetch();
    expect(await resolveServerName("port.resolve.example:8449", NO_MAP)).toEqual({ baseUrl: "https://port.resolve.example:8449", hostHeader: "port.resolve.example:8449" });
    expect(f.requests).toHaveLength(0);
  });

  it("sends a public IP literal to port 8448 without a lookup", async () => {
    const f = stubFetch();
    expect(await resolveServerName("8.8.8.8", NO_MAP)).toEqual({ baseUrl: "https://8.8.8.8:8448", hostHeader: "8.8.8.8" });
    expect(f.requests).toHaveLength(0);
  });

  it("follows a well-known delegation with a port", async () => {
    stubFetch(wellKnown("wk.resolve.example", { "m.server": "matrix.wk.resolve.example:443" }));
    expect(await resolveServerName("wk.resolve.example", NO_MAP)).toEqual({ baseUrl: "https://matrix.wk.resolve.example:443", hostHeader: "matrix.wk.resolve.example:443" });
  });

  it("sends a delegation without port to 8448 with a Host header without port", async () => {
    stubFetch(wellKnown("wk2.resolve.example", { "m.server": "m.wk2.resolve.example" }));
    expect(await resolveServerName("wk2.resolve.example", NO_MAP)).toEqual({ baseUrl: "https://m.wk2.resolve.example:8448", hostHeader: "m.wk2.resolve.example" });
  });

  it("falls back to port 8448 on the name itself when the well-known is invalid or missing", async () => {
    stubFetch(wellKnown("bad.resolve.example", "not json"), noWellKnown);
    expect(await resolveServerName("bad.resolve.example", NO_MAP)).toEqual({ baseUrl: "https://bad.resolve.example:8448", hostHeader: "bad.resolve.example" });
    expect(await resolveServerName("missing.resolve.example", NO_MAP)).toEqual({ baseUrl: "https://missing.resolve.example:8448", hostHeader: "missing.resolve.example" });
  });

  it("caches a well-known answer", async () => {
    const f = stubFetch(wellKnown("cached.resolve.example", { "m.server": "m.cached.resolve.example:443" }, { "cache-control": "max-age=3600" }));
    await resolveServerName("cached.resolve.example", NO_MAP);
    await resolveServerName("cached.resolve.example", NO_MAP);
    expect(f.requests).toHaveLength(1);
  });

  it("caches a failed well-known lookup too", async () => {
    const f = stubFetch(noWellKnown);
    await resolveServerName("failcache.resolve.example", NO_MAP);
    await resolveServerName("failcache.resolve.example", NO_MAP);
    expect(f.requests).toHaveLength(1);
  });

  it("follows an HTTPS redirect of the well-known document", async () => {
    stubFetch(
      (req) => (req.url === "https://redir.resolve.example/.well-known/matrix/server" ? new Response(null, { status: 302, headers: { location: "https://static.resolve.example/wk.json" } }) : undefined),
      serve("https://static.resolve.example/wk.json", { "m.server": "m.redir.resolve.example:443" }),
    );
    expect((await resolveServerName("redir.resolve.example", NO_MAP)).baseUrl).toBe("https://m.redir.resolve.example:443");
  });

  it.each([
    ["to plain HTTP", "http://plain.resolve.example/wk.json"],
    ["to a loopback address", "https://127.0.0.1/wk.json"],
    ["to the metadata service", "https://169.254.169.254/latest/meta-data"],
  ])("does not follow a redirect %s", async (_what, location) => {
    const name = `redir-${location.length}.resolve.example`;
    const f = stubFetch((req) => (req.url === `https://${name}/.well-known/matrix/server` ? new Response(null, { status: 301, headers: { location } }) : undefined));
    expect(await resolveServerName(name, NO_MAP)).toEqual({ baseUrl: `https://${name}:8448`, hostHeader: name });
    expect(f.urls()).toEqual([`https://${name}/.well-known/matrix/server`]);
  });

  it.each(["127.0.0.1", "127.0.0.1:8448", "169.254.169.254", "10.0.0.7:443", "[::1]:8448", "[fd00:ec2::254]", "localhost:8448", "2130706433"])(
    "refuses the name %s without contacting it",
    async (name) => {
      const f = stubFetch();
      const err = await refusal(resolveServerName(name, NO_MAP));
      expect(err.errcode).toBe("M_FORBIDDEN");
      expect(f.requests).toHaveLength(0);
    },
  );

  it.each([
    ["loopback", "127.0.0.1:8448"],
    ["the metadata service", "169.254.169.254"],
    ["a private address", "192.168.0.10:8008"],
    ["IPv6 loopback", "[::1]:8448"],
    ["localhost", "localhost:8008"],
  ])("refuses a name whose well-known delegates to %s", async (_what, target) => {
    const name = `ssrf-${target.replace(/[^a-z0-9]/gi, "")}.resolve.example`;
    const f = stubFetch(wellKnown(name, { "m.server": target }));
    const err = await refusal(resolveServerName(name, NO_MAP));
    expect(err.message).toContain("delegates");
    expect(f.urls()).toEqual([`https://${name}/.well-known/matrix/server`]);
  });
});

describe("key fetches and SSRF", () => {
  it("never contacts 127.0.0.1 when a well-known points there", async () => {
    const remote = await fakeServer("wk-loopback.ssrf.example");
    const f = stubFetch(wellKnown(remote.name, { "m.server": "127.0.0.1:8448" }), serve("https://127.0.0.1:8448/_matrix/key/v2/server", () => remote.keyDocument()));
    const keys = new RemoteKeyStore(env.DB, await getConfig(env), { fetchTimeoutMs: 300, minRefetchIntervalMs: 0 });
    expect(await keys.getVerifyKey(remote.name, remote.key.keyId)).toBeUndefined();
    expect(f.urls().some((u) => u.includes("127.0.0.1"))).toBe(false);
  });

  it("never contacts the metadata service when a well-known points there", async () => {
    const remote = await fakeServer("wk-metadata.ssrf.example");
    const f = stubFetch(wellKnown(remote.name, { "m.server": "169.254.169.254" }));
    const keys = new RemoteKeyStore(env.DB, await getConfig(env), { fetchTimeoutMs: 300, minRefetchIntervalMs: 0 });
    expect(await keys.getVerifyKey(remote.name, remote.key.keyId)).toBeUndefined();
    expect(f.urls().some((u) => u.includes("169.254"))).toBe(false);
  });

  it("reaches a loopback server over plain HTTP when the host map names it", async () => {
    const remote = await fakeServer("mapped.ssrf.example:8788");
    const f = stubFetch(serve("http://127.0.0.1:8788/_matrix/key/v2/server", () => remote.keyDocument()));
    const config = { ...(await getConfig(env)), hostMap: new Map([[remote.name as string, "http://127.0.0.1:8788"]]) };
    const keys = new RemoteKeyStore(env.DB, config, { fetchTimeoutMs: 300, minRefetchIntervalMs: 0 });
    expect(await keys.getVerifyKey(remote.name, remote.key.keyId)).toEqual(remote.key.publicKey);
    expect(f.urls()).toEqual(["http://127.0.0.1:8788/_matrix/key/v2/server"]);
  });

  it("uses HTTPS for every request about a name outside the host map", async () => {
    const remote = await fakeServer("https-only.ssrf.example");
    const f = stubFetch(wellKnown(remote.name, { "m.server": "keys.https-only.ssrf.example:8443" }), serve("https://keys.https-only.ssrf.example:8443/_matrix/key/v2/server", () => remote.keyDocument()));
    const keys = new RemoteKeyStore(env.DB, await getConfig(env), { fetchTimeoutMs: 300, minRefetchIntervalMs: 0 });
    expect(await keys.getVerifyKey(remote.name, remote.key.keyId)).toEqual(remote.key.publicKey);
    expect(f.urls().length).toBe(2);
    expect(f.urls().every((u) => u.startsWith("https://"))).toBe(true);
  });
});
