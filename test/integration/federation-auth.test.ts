import { env, exports } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { MatrixError } from "../../shared/errors.js";
import { LM_PREFIX } from "../../shared/federation-paths.js";
import { getConfig, type Config } from "../../workers/config.js";
import { authenticateFederationRequest, requestTarget } from "../../workers/federation-auth.js";
import { RemoteKeyStore } from "../../workers/remote-keys.js";
import { HOUR, fakeServer, hang, newKey, noWellKnown, serve, serveKeys, stubFetch } from "./fake-remote.js";

const US = "hub.test";

afterEach(() => {
  vi.restoreAllMocks();
});

async function setup(): Promise<{ config: Config; keys: RemoteKeyStore }> {
  const config = await getConfig(env);
  return { config, keys: new RemoteKeyStore(env.DB, config, { fetchTimeoutMs: 300, minRefetchIntervalMs: 0 }) };
}

function request(method: string, target: string, authorization: string | string[] | undefined, body?: unknown): Request {
  const headers = new Headers();
  for (const a of typeof authorization === "string" ? [authorization] : (authorization ?? [])) headers.append("authorization", a);
  return new Request(`https://${US}${target}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

async function expect401(p: Promise<unknown>, message?: RegExp): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(MatrixError);
  expect((err as MatrixError).status).toBe(401);
  expect((err as MatrixError).errcode).toBe("M_UNAUTHORIZED");
  if (message) expect((err as MatrixError).message).toMatch(message);
}

describe("authenticateFederationRequest", () => {
  it("accepts a signed PUT with a body and returns the origin", async () => {
    const remote = await fakeServer("put.remote.example");
    stubFetch(noWellKnown, serveKeys(remote, () => remote.keyDocument()));
    const { config, keys } = await setup();
    const path = `${LM_PREFIX}/send/t1`;
    const body = { pdus: [], edus: [{ edu_type: "m.typing", content: { n: 1 } }] };
    const req = request("PUT", path, await remote.sign(US, "PUT", path, body), body);
    expect(await authenticateFederationRequest(req, body, config, keys)).toBe("put.remote.example");
  });

  it("accepts a GET signed without a content key (Matrix servers, the reference implementation)", async () => {
    const remote = await fakeServer("get-nocontent.remote.example");
    stubFetch(noWellKnown, serveKeys(remote, () => remote.keyDocument()));
    const { config, keys } = await setup();
    const path = "/_matrix/federation/v1/state/%21room%3Aremote.example?event_id=%24abc";
    const req = request("GET", path, await remote.sign(US, "GET", path));
    expect(await authenticateFederationRequest(req, undefined, config, keys)).toBe(remote.name);
  });

  it("accepts a GET signed with content: {} (the draft's form)", async () => {
    const remote = await fakeServer("get-emptycontent.remote.example");
    stubFetch(noWellKnown, serveKeys(remote, () => remote.keyDocument()));
    const { config, keys } = await setup();
    const path = "/_matrix/federation/v1/make_join/%21r%3Ax/%40u%3Ay?ver=org.matrix.i-d.ralston-mimi-linearized-matrix.02";
    const req = request("GET", path, await remote.sign(US, "GET", path, {}));
    expect(await authenticateFederationRequest(req, undefined, config, keys)).toBe(remote.name);
  });

  it("accepts a credential without destination, from servers that predate it", async () => {
    const remote = await fakeServer("nodest.remote.example");
    stubFetch(noWellKnown, serveKeys(remote, () => remote.keyDocument()));
    const { config, keys } = await setup();
    const path = "/_matrix/federation/v1/version";
    // Without a destination parameter the signed object still names us.
    const full = await remote.sign(US, "GET", path);
    const header = full.replace(`destination="${US}",`, "");
    expect(header).not.toContain("destination");
    expect(await authenticateFederationRequest(request("GET", path, header), undefined, config, keys)).toBe(remote.name);
  });

  it("rejects a signature made by another key with 401 M_UNAUTHORIZED", async () => {
    const remote = await fakeServer("forged.remote.example");
    const forger = await newKey("k1");
    stubFetch(noWellKnown, serveKeys(remote, () => remote.keyDocument()));
    const { config, keys } = await setup();
    const path = "/_matrix/federation/v1/version";
    await expect401(authenticateFederationRequest(request("GET", path, await remote.sign(US, "GET", path, undefined, forger)), undefined, config, keys), /Signature error/);
  });

  it("rejects a body that differs from the signed one", async () => {
    const remote = await fakeServer("tampered.remote.example");
    stubFetch(noWellKnown, serveKeys(remote, () => remote.keyDocument()));
    const { config, keys } = await setup();
    const path = "/_matrix/federation/v1/send/t2";
    const header = await remote.sign(US, "PUT", path, { pdus: [] });
    await expect401(authenticateFederationRequest(request("PUT", path, header, { pdus: [1] }), { pdus: [1] }, config, keys));
  });

  it("rejects a request signed for a different path", async () => {
    const remote = await fakeServer("otherpath.remote.example");
    stubFetch(noWellKnown, serveKeys(remote, () => remote.keyDocument()));
    const { config, keys } = await setup();
    const header = await remote.sign(US, "GET", "/_matrix/federation/v1/query/profile");
    await expect401(authenticateFederationRequest(request("GET", "/_matrix/federation/v1/version", header), undefined, config, keys));
  });

  it("rejects a request addressed to another server", async () => {
    const remote = await fakeServer("wrongdest.remote.example");
    stubFetch(noWellKnown, serveKeys(remote, () => remote.keyDocument()));
    const { config, keys } = await setup();
    const path = "/_matrix/federation/v1/version";
    await expect401(authenticateFederationRequest(request("GET", path, await remote.sign("other.example", "GET", path)), undefined, config, keys), /not this server/);
  });

  it("rejects a key the origin does not publish", async () => {
    const remote = await fakeServer("unknownkey.remote.example");
    const unpublished = await newKey("k2");
    stubFetch(noWellKnown, serveKeys(remote, () => remote.keyDocument()));
    const { config, keys } = await setup();
    const path = "/_matrix/federation/v1/version";
    await expect401(authenticateFederationRequest(request("GET", path, await remote.sign(US, "GET", path, undefined, unpublished)), undefined, config, keys), /No current key/);
  });

  it("rejects a request without Authorization", async () => {
    const { config, keys } = await setup();
    await expect401(authenticateFederationRequest(request("GET", "/_matrix/federation/v1/version", undefined), undefined, config, keys), /Missing/);
  });

  it("rejects a request with only a Bearer token", async () => {
    const { config, keys } = await setup();
    await expect401(authenticateFederationRequest(request("GET", "/_matrix/federation/v1/version", "Bearer abc"), undefined, config, keys), /Missing X-Matrix/);
  });

  it("rejects a malformed header", async () => {
    const { config, keys } = await setup();
    await expect401(authenticateFederationRequest(request("GET", "/x", 'X-Matrix origin="a.org'), undefined, config, keys));
  });

  it("rejects a key whose valid_until_ts has passed", async () => {
    const remote = await fakeServer("expired.remote.example");
    stubFetch(noWellKnown, serveKeys(remote, () => remote.keyDocument({ validUntilTs: Date.now() - HOUR })));
    const { config, keys } = await setup();
    const path = "/_matrix/federation/v1/version";
    await expect401(authenticateFederationRequest(request("GET", path, await remote.sign(US, "GET", path)), undefined, config, keys), /No current key/);
  });

  it("rejects a key listed only under old_verify_keys", async () => {
    const remote = await fakeServer("oldkey.remote.example", "k2");
    const retired = await newKey("k1");
    stubFetch(noWellKnown, serveKeys(remote, () => remote.keyDocument({ oldKeys: [{ key: retired, expiredTs: Date.now() + HOUR }] })));
    const { config, keys } = await setup();
    const path = "/_matrix/federation/v1/version";
    await expect401(authenticateFederationRequest(request("GET", path, await remote.sign(US, "GET", path, undefined, retired)), undefined, config, keys));
  });

  it("answers 401, not 500, when the key server returns garbage", async () => {
    const remote = await fakeServer("garbage.remote.example");
    stubFetch(noWellKnown, serve(`https://${remote.name}:8448/_matrix/key/v2/server`, "<html>oops</html>"));
    const { config, keys } = await setup();
    const path = "/_matrix/federation/v1/version";
    await expect401(authenticateFederationRequest(request("GET", path, await remote.sign(US, "GET", path)), undefined, config, keys));
  });

  it("answers 401, not 500, when the key server times out", async () => {
    const remote = await fakeServer("slow.remote.example");
    stubFetch(noWellKnown, hang(`https://${remote.name}:8448/_matrix/key/v2/server`));
    const { config, keys } = await setup();
    const path = "/_matrix/federation/v1/version";
    const started = Date.now();
    await expect401(authenticateFederationRequest(request("GET", path, await remote.sign(US, "GET", path)), undefined, config, keys));
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("answers 401 when the key server is unreachable", async () => {
    const remote = await fakeServer("down.remote.example");
    stubFetch();
    const { config, keys } = await setup();
    const path = "/_matrix/federation/v1/version";
    await expect401(authenticateFederationRequest(request("GET", path, await remote.sign(US, "GET", path)), undefined, config, keys));
  });

  it("accepts several credentials when every one verifies", async () => {
    const remote = await fakeServer("twokeys.remote.example");
    const second = await newKey("k2");
    stubFetch(noWellKnown, serveKeys(remote, () => remote.keyDocument({ extraKeys: [second] })));
    const { config, keys } = await setup();
    const path = "/_matrix/federation/v1/version";
    const headers = [await remote.sign(US, "GET", path), await remote.sign(US, "GET", path, undefined, second)];
    expect(await authenticateFederationRequest(request("GET", path, headers), undefined, config, keys)).toBe(remote.name);
  });

  it("rejects the request when any one of several credentials fails", async () => {
    const remote = await fakeServer("onebad.remote.example");
    const stranger = await newKey("k9");
    stubFetch(noWellKnown, serveKeys(remote, () => remote.keyDocument()));
    const { config, keys } = await setup();
    const path = "/_matrix/federation/v1/version";
    const headers = [await remote.sign(US, "GET", path), await remote.sign(US, "GET", path, undefined, stranger)];
    await expect401(authenticateFederationRequest(request("GET", path, headers), undefined, config, keys));
  });

  it("rejects credentials that claim different origins", async () => {
    const a = await fakeServer("mixa.remote.example");
    const b = await fakeServer("mixb.remote.example");
    stubFetch(noWellKnown, serveKeys(a, () => a.keyDocument()), serveKeys(b, () => b.keyDocument()));
    const { config, keys } = await setup();
    const path = "/_matrix/federation/v1/version";
    await expect401(authenticateFederationRequest(request("GET", path, [await a.sign(US, "GET", path), await b.sign(US, "GET", path)]), undefined, config, keys), /different origins/);
  });
});

describe("federation answers through the worker", () => {
  const makeJoin = `/_matrix/federation/v1/make_join/${encodeURIComponent("!r:hub.test")}/${encodeURIComponent("@someone:elsewhere.example")}?ver=org.matrix.i-d.ralston-mimi-linearized-matrix.02`;
  const fetchWorker = async (path: string, authorization?: string) => {
    const res = await exports.default.fetch(new Request(`https://${US}${path}`, { headers: authorization === undefined ? {} : { authorization } }));
    return [res.status, ((await res.json()) as { errcode?: string }).errcode];
  };

  it("answers a request without an Authorization header, or with a malformed or forged one, with 401 M_UNAUTHORIZED", async () => {
    const remote = await fakeServer("noauth.remote.example");
    stubFetch(noWellKnown, serveKeys(remote, () => remote.keyDocument()));
    expect(await fetchWorker(makeJoin)).toEqual([401, "M_UNAUTHORIZED"]);
    expect(await fetchWorker(makeJoin, "X-Matrix origin")).toEqual([401, "M_UNAUTHORIZED"]);
    expect(await fetchWorker(makeJoin, await remote.sign(US, "GET", makeJoin, undefined, await newKey("k1")))).toEqual([401, "M_UNAUTHORIZED"]);
  });

  it("answers a correctly signed server that may not do the thing with 403 M_FORBIDDEN", async () => {
    const remote = await fakeServer("notallowed.remote.example");
    stubFetch(noWellKnown, serveKeys(remote, () => remote.keyDocument()));
    // make_join for a user of another server: authenticated, but not this origin's to ask.
    expect(await fetchWorker(makeJoin, await remote.sign(US, "GET", makeJoin))).toEqual([403, "M_FORBIDDEN"]);
  });
});

describe("requestTarget", () => {
  it("keeps the path and query exactly as received, percent-encoding included", () => {
    expect(requestTarget("https://hub.test/_matrix/federation/v1/state/%21r%3Ax?event_id=%24e&x=a%2Fb")).toBe(
      "/_matrix/federation/v1/state/%21r%3Ax?event_id=%24e&x=a%2Fb",
    );
    expect(requestTarget("https://hub.test:8448/p#frag")).toBe("/p");
  });
});
