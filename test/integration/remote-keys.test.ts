import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { MAX_KEY_VALIDITY_MS } from "../../shared/server-key-document.js";
import { getConfig } from "../../workers/config.js";
import { RemoteKeyStore, clearRemoteKeyMemory, type RemoteKeyStoreOptions } from "../../workers/remote-keys.js";
import { selectKeyDocuments, selectRemoteKey } from "../../workers/storage/remote-keys.js";
import { HOUR, fakeServer, newKey, noWellKnown, serve, serveKeys, stubFetch } from "./fake-remote.js";

afterEach(() => {
  vi.restoreAllMocks();
});

async function store(opts: RemoteKeyStoreOptions = { fetchTimeoutMs: 300, minRefetchIntervalMs: 0 }): Promise<RemoteKeyStore> {
  return new RemoteKeyStore(env.DB, await getConfig(env), opts);
}

const keyFetches = (urls: string[]) => urls.filter((u) => u.endsWith("/_matrix/key/v2/server"));

describe("RemoteKeyStore.getVerifyKey", () => {
  it("fetches a key once and then serves it from memory", async () => {
    const remote = await fakeServer("mem.keys.example");
    const f = stubFetch(noWellKnown, serveKeys(remote, () => remote.keyDocument()));
    const keys = await store();
    expect(await keys.getVerifyKey(remote.name, remote.key.keyId)).toEqual(remote.key.publicKey);
    expect(await keys.getVerifyKey(remote.name, remote.key.keyId)).toEqual(remote.key.publicKey);
    expect(keyFetches(f.urls())).toHaveLength(1);
  });

  it("keeps fetched keys in D1, so another isolate needs no fetch", async () => {
    const remote = await fakeServer("d1.keys.example");
    const f = stubFetch(noWellKnown, serveKeys(remote, () => remote.keyDocument()));
    const keys = await store();
    expect(await keys.getVerifyKey(remote.name, remote.key.keyId)).toBeDefined();
    const row = await selectRemoteKey(env.DB, remote.name, remote.key.keyId);
    expect(row).toMatchObject({ publicKey: remote.key.publicKeyBase64, expiredTs: null });
    clearRemoteKeyMemory();
    const before = f.requests.length;
    expect(await keys.getVerifyKey(remote.name, remote.key.keyId)).toEqual(remote.key.publicKey);
    expect(f.requests.length).toBe(before);
  });

  it("stores the document as received for the notary endpoints", async () => {
    const remote = await fakeServer("doc.keys.example");
    const doc = await remote.keyDocument();
    stubFetch(noWellKnown, serveKeys(remote, () => doc));
    await (await store()).getVerifyKey(remote.name, remote.key.keyId);
    const docs = await selectKeyDocuments(env.DB, remote.name);
    expect(docs).toHaveLength(1);
    expect(JSON.parse(docs[0]?.document ?? "null")).toEqual(doc);
    expect(docs[0]?.keyIds).toBe(remote.key.keyId);
  });

  it("counts valid_until_ts as at most seven days ahead", async () => {
    const remote = await fakeServer("capped.keys.example");
    stubFetch(noWellKnown, serveKeys(remote, () => remote.keyDocument({ validUntilTs: Date.now() + 365 * 24 * HOUR })));
    await (await store()).getVerifyKey(remote.name, remote.key.keyId);
    const row = await selectRemoteKey(env.DB, remote.name, remote.key.keyId);
    expect(row?.validUntilTs).toBeLessThanOrEqual(Date.now() + MAX_KEY_VALIDITY_MS);
    expect(row?.validUntilTs).toBeGreaterThan(Date.now() + MAX_KEY_VALIDITY_MS - HOUR);
  });

  it("refuses a document that names another server, and stores nothing for either", async () => {
    const evil = await fakeServer("evil.keys.example", "evil1");
    const victim = await fakeServer("victim.keys.example");
    stubFetch(noWellKnown, serveKeys(evil, () => evil.keyDocument({ serverName: victim.name })), serveKeys(victim, () => victim.keyDocument()));
    const keys = await store();
    expect(await keys.getVerifyKey(evil.name, evil.key.keyId)).toBeUndefined();
    expect(await selectRemoteKey(env.DB, victim.name, evil.key.keyId)).toBeUndefined();
    expect(await selectRemoteKey(env.DB, evil.name, evil.key.keyId)).toBeUndefined();
    // The victim's own keys are still fetched from the victim.
    expect(await keys.getVerifyKey(victim.name, victim.key.keyId)).toEqual(victim.key.publicKey);
    expect(await keys.getVerifyKey(victim.name, evil.key.keyId)).toBeUndefined();
  });

  it("refuses a document in which a listed key did not sign", async () => {
    const remote = await fakeServer("unsigned.keys.example");
    const lazy = await newKey("k2");
    stubFetch(noWellKnown, serveKeys(remote, () => remote.keyDocument({ unsignedKeys: [lazy] })));
    const keys = await store();
    expect(await keys.getVerifyKey(remote.name, remote.key.keyId)).toBeUndefined();
    expect(await keys.getVerifyKey(remote.name, lazy.keyId)).toBeUndefined();
  });

  it("refuses a document with a tampered field", async () => {
    const remote = await fakeServer("tampered.keys.example");
    stubFetch(noWellKnown, serveKeys(remote, async () => ({ ...(await remote.keyDocument()), valid_until_ts: Date.now() + 48 * HOUR })));
    expect(await (await store()).getVerifyKey(remote.name, remote.key.keyId)).toBeUndefined();
  });

  it("treats non-200 answers, oversized bodies and non-JSON as no key", async () => {
    const a = await fakeServer("status.keys.example");
    const b = await fakeServer("huge.keys.example");
    const c = await fakeServer("floats.keys.example");
    stubFetch(
      noWellKnown,
      serve(`https://${a.name}:8448/_matrix/key/v2/server`, { errcode: "M_UNKNOWN" }, 500),
      serve(`https://${b.name}:8448/_matrix/key/v2/server`, "x".repeat(200_000)),
      serve(`https://${c.name}:8448/_matrix/key/v2/server`, '{"server_name": 1.5}'),
    );
    const keys = await store();
    expect(await keys.getVerifyKey(a.name, a.key.keyId)).toBeUndefined();
    expect(await keys.getVerifyKey(b.name, b.key.keyId)).toBeUndefined();
    expect(await keys.getVerifyKey(c.name, c.key.keyId)).toBeUndefined();
  });

  it("honours an old key for events sent before its expired_ts, never for requests", async () => {
    const remote = await fakeServer("old.keys.example", "k2");
    const retired = await newKey("k1");
    const expiredTs = Date.now() - HOUR;
    stubFetch(noWellKnown, serveKeys(remote, () => remote.keyDocument({ oldKeys: [{ key: retired, expiredTs }] })));
    const keys = await store();
    expect(await keys.getVerifyKey(remote.name, retired.keyId, expiredTs - 1)).toEqual(retired.publicKey);
    expect(await keys.getVerifyKey(remote.name, retired.keyId, expiredTs)).toBeUndefined();
    expect(await keys.getVerifyKey(remote.name, retired.keyId)).toBeUndefined();
  });

  it("honours a lapsed verify key for events from before its valid_until_ts", async () => {
    const remote = await fakeServer("lapsed.keys.example");
    const validUntilTs = Date.now() - HOUR;
    stubFetch(noWellKnown, serveKeys(remote, () => remote.keyDocument({ validUntilTs })));
    const keys = await store();
    expect(await keys.getVerifyKey(remote.name, remote.key.keyId)).toBeUndefined();
    expect(await keys.getVerifyKey(remote.name, remote.key.keyId, validUntilTs - HOUR)).toEqual(remote.key.publicKey);
    expect(await keys.getVerifyKey(remote.name, remote.key.keyId, Date.now())).toBeUndefined();
  });

  it("refetches a key whose cached validity has run out", async () => {
    const remote = await fakeServer("renew.keys.example");
    let validUntilTs = Date.now() - 1;
    const f = stubFetch(noWellKnown, serveKeys(remote, () => remote.keyDocument({ validUntilTs })));
    const keys = await store();
    expect(await keys.getVerifyKey(remote.name, remote.key.keyId)).toBeUndefined();
    validUntilTs = Date.now() + HOUR;
    expect(await keys.getVerifyKey(remote.name, remote.key.keyId)).toEqual(remote.key.publicKey);
    expect(keyFetches(f.urls())).toHaveLength(2);
  });

  it("asks an origin at most once per refetch interval for keys it does not have", async () => {
    const remote = await fakeServer("flood.keys.example");
    const f = stubFetch(noWellKnown, serveKeys(remote, () => remote.keyDocument()));
    const keys = await store({ fetchTimeoutMs: 300, minRefetchIntervalMs: 60_000 });
    for (let i = 0; i < 5; i++) expect(await keys.getVerifyKey(remote.name, `ed25519:nope${i}`)).toBeUndefined();
    expect(keyFetches(f.urls())).toHaveLength(1);
    // The key it does have is served from memory all the same.
    expect(await keys.getVerifyKey(remote.name, remote.key.keyId)).toEqual(remote.key.publicKey);
  });

  it("answers for our own server from our own key without fetching", async () => {
    const f = stubFetch();
    const config = await getConfig(env);
    const keys = await store();
    expect(await keys.getVerifyKey(config.serverName, config.signingKey.keyId)).toEqual(config.signingKey.publicKey);
    expect(await keys.getVerifyKey(config.serverName, "ed25519:other")).toBeUndefined();
    expect(f.requests).toHaveLength(0);
  });
});
