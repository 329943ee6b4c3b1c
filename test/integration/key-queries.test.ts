import { env, exports } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { verifyJsonSignature } from "../../shared/signed-json.js";
import { getConfig } from "../../workers/config.js";
import { HOUR, fakeServer, newKey, noWellKnown, serveKeys, stubFetch } from "./fake-remote.js";

afterEach(() => {
  vi.restoreAllMocks();
});

const call = (path: string, init?: RequestInit) => exports.default.fetch(new Request(`https://hub.test${path}`, init));
const post = (body: unknown) => call("/_matrix/key/v2/query", { method: "POST", body: typeof body === "string" ? body : JSON.stringify(body) });

type KeyDoc = Record<string, unknown> & { server_name: string; valid_until_ts: number; verify_keys: Record<string, { key: string }> };

async function serverKeys(res: Response): Promise<KeyDoc[]> {
  expect(res.status).toBe(200);
  return ((await res.json()) as { server_keys: KeyDoc[] }).server_keys;
}

async function signedByUs(doc: object): Promise<boolean> {
  const config = await getConfig(env);
  return verifyJsonSignature(doc, config.serverName, config.signingKey.keyId, config.signingKey.publicKey);
}

describe("GET /_matrix/key/v2/query/:serverName", () => {
  it("answers for our own name with our own document", async () => {
    const f = stubFetch();
    const docs = await serverKeys(await call("/_matrix/key/v2/query/hub.test"));
    expect(docs).toHaveLength(1);
    expect(docs[0]?.server_name).toBe("hub.test");
    expect(await signedByUs(docs[0] as object)).toBe(true);
    expect(f.requests).toHaveLength(0);
  });

  it("fetches a remote server's document and returns it signed by the origin and by us", async () => {
    const remote = await fakeServer("notary.remote.example");
    stubFetch(noWellKnown, serveKeys(remote, () => remote.keyDocument()));
    const docs = await serverKeys(await call(`/_matrix/key/v2/query/${remote.name}`));
    expect(docs).toHaveLength(1);
    const doc = docs[0] as KeyDoc;
    expect(doc.server_name).toBe(remote.name);
    expect(await verifyJsonSignature(doc, remote.name, remote.key.keyId, remote.key.publicKey)).toBe(true);
    expect(await signedByUs(doc)).toBe(true);
  });

  it("serves a cached document without asking the origin again", async () => {
    const remote = await fakeServer("notary-cache.remote.example");
    const f = stubFetch(noWellKnown, serveKeys(remote, () => remote.keyDocument()));
    await serverKeys(await call(`/_matrix/key/v2/query/${remote.name}`));
    const fetchesAfterFirst = f.requests.length;
    expect(await serverKeys(await call(`/_matrix/key/v2/query/${remote.name}`))).toHaveLength(1);
    expect(f.requests.length).toBe(fetchesAfterFirst);
  });

  it("leaves out documents that do not meet minimum_valid_until_ts", async () => {
    const remote = await fakeServer("notary-min.remote.example");
    stubFetch(noWellKnown, serveKeys(remote, () => remote.keyDocument({ validUntilTs: Date.now() + HOUR })));
    const later = Date.now() + 3 * HOUR;
    expect(await serverKeys(await call(`/_matrix/key/v2/query/${remote.name}?minimum_valid_until_ts=${later}`))).toEqual([]);
    expect(await serverKeys(await call(`/_matrix/key/v2/query/${remote.name}?minimum_valid_until_ts=${Date.now()}`))).toHaveLength(1);
  });

  it("answers an empty list when the server cannot be reached", async () => {
    stubFetch();
    expect(await serverKeys(await call("/_matrix/key/v2/query/unreachable.remote.example"))).toEqual([]);
  });

  it("answers an empty list, without any fetch, for an address it refuses to contact", async () => {
    const f = stubFetch();
    expect(await serverKeys(await call("/_matrix/key/v2/query/169.254.169.254"))).toEqual([]);
    expect(f.requests).toHaveLength(0);
  });

  it("rejects an invalid minimum_valid_until_ts with 400 M_INVALID_PARAM", async () => {
    const res = await call("/_matrix/key/v2/query/hub.test?minimum_valid_until_ts=soon");
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ errcode: "M_INVALID_PARAM" });
  });

  it("rejects an invalid server name with 400 M_INVALID_PARAM", async () => {
    const res = await call("/_matrix/key/v2/query/bad%20name");
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ errcode: "M_INVALID_PARAM" });
  });
});

describe("POST /_matrix/key/v2/query", () => {
  it("answers empty criteria with an empty server_keys list", async () => {
    expect(await serverKeys(await post({ server_keys: {} }))).toEqual([]);
  });

  it("returns every known key of a server queried without key IDs", async () => {
    const remote = await fakeServer("bulk-all.remote.example");
    stubFetch(noWellKnown, serveKeys(remote, () => remote.keyDocument()));
    const docs = await serverKeys(await post({ server_keys: { [remote.name]: {}, "hub.test": {} } }));
    expect(docs.map((d) => d.server_name).sort()).toEqual([remote.name, "hub.test"].sort());
    for (const d of docs) expect(await signedByUs(d)).toBe(true);
  });

  it("returns the document holding a requested key ID", async () => {
    const remote = await fakeServer("bulk-key.remote.example");
    stubFetch(noWellKnown, serveKeys(remote, () => remote.keyDocument()));
    const docs = await serverKeys(await post({ server_keys: { [remote.name]: { [remote.key.keyId]: { minimum_valid_until_ts: Date.now() } } } }));
    expect(docs).toHaveLength(1);
    expect(Object.keys(docs[0]?.verify_keys ?? {})).toEqual([remote.key.keyId]);
  });

  it("returns nothing for a key ID the server does not have", async () => {
    const remote = await fakeServer("bulk-missing.remote.example");
    const other = await newKey("zz");
    stubFetch(noWellKnown, serveKeys(remote, () => remote.keyDocument()));
    expect(await serverKeys(await post({ server_keys: { [remote.name]: { [other.keyId]: {} } } }))).toEqual([]);
  });

  it.each([
    ["a body that is not JSON", "{", "M_NOT_JSON"],
    ["a missing server_keys", {}, "M_BAD_JSON"],
    ["server_keys as an array", { server_keys: [] }, "M_BAD_JSON"],
    ["an invalid server name", { server_keys: { "bad name": {} } }, "M_BAD_JSON"],
    ["a non-integer minimum", { server_keys: { "a.example": { "ed25519:0": { minimum_valid_until_ts: "x" } } } }, "M_BAD_JSON"],
  ])("rejects %s with 400", async (_what, body, errcode) => {
    const res = await post(body);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ errcode });
  });
});
