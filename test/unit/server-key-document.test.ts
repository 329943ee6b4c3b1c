import { describe, expect, it } from "vitest";
import { MAX_KEY_VALIDITY_MS, checkKeyDocument, effectiveValidUntil } from "../../shared/server-key-document.js";
import { signJson } from "../../shared/signed-json.js";
import { signingKeyFromSeed, type SigningKey } from "../../shared/signing-key.js";

const NOW = 1_700_000_000_000;
const HOUR = 3_600_000;

const key = (fill: number, version: string): Promise<SigningKey> => signingKeyFromSeed(new Uint8Array(32).fill(fill), version);

async function document(signers: SigningKey[], extra: Record<string, unknown> = {}, listed: SigningKey[] = signers): Promise<Record<string, unknown>> {
  let doc: Record<string, unknown> = {
    server_name: "a.example",
    valid_until_ts: NOW + 12 * HOUR,
    verify_keys: Object.fromEntries(listed.map((k) => [k.keyId, { key: k.publicKeyBase64 }])),
    old_verify_keys: {},
    ...extra,
  };
  for (const k of signers) doc = await signJson(doc, "a.example", k);
  return doc;
}

describe("checkKeyDocument", () => {
  it("accepts a self-signed document and returns its keys", async () => {
    const k = await key(1, "k1");
    const check = await checkKeyDocument(await document([k]), "a.example", NOW);
    expect(check).toEqual({ ok: true, keys: { serverName: "a.example", validUntilTs: NOW + 12 * HOUR, verifyKeys: [{ keyId: "ed25519:k1", publicKey: k.publicKey }], oldVerifyKeys: [] } });
  });

  it("caps valid_until_ts at seven days from now", async () => {
    const k = await key(1, "k1");
    const check = await checkKeyDocument(await document([k], { valid_until_ts: NOW + 365 * 24 * HOUR }), "a.example", NOW);
    expect(check.ok && check.keys.validUntilTs).toBe(NOW + MAX_KEY_VALIDITY_MS);
    expect(effectiveValidUntil(NOW + HOUR, NOW)).toBe(NOW + HOUR);
  });

  it("refuses a document for another server name", async () => {
    const k = await key(1, "k1");
    const check = await checkKeyDocument(await document([k]), "b.example", NOW);
    expect(check.ok).toBe(false);
  });

  it("refuses a document one of whose verify keys did not sign", async () => {
    const [k1, k2] = [await key(1, "k1"), await key(2, "k2")];
    const check = await checkKeyDocument(await document([k1], {}, [k1, k2]), "a.example", NOW);
    expect(check).toMatchObject({ ok: false, reason: expect.stringContaining("ed25519:k2") });
  });

  it("refuses a document without any ed25519 verify key", async () => {
    const check = await checkKeyDocument({ server_name: "a.example", valid_until_ts: NOW, verify_keys: { "other:1": { key: "AAAA" } } }, "a.example", NOW);
    expect(check.ok).toBe(false);
  });

  it.each([
    ["a non-integer valid_until_ts", { valid_until_ts: "soon" }],
    ["verify_keys that is not an object", { verify_keys: [] }],
    ["old_verify_keys that is not an object", { old_verify_keys: 3 }],
  ])("refuses %s", async (_what, extra) => {
    const k = await key(1, "k1");
    expect((await checkKeyDocument(await document([k], extra), "a.example", NOW)).ok).toBe(false);
  });

  it("keeps well-formed old keys and drops malformed ones", async () => {
    const [k1, old] = [await key(1, "k1"), await key(3, "old")];
    const doc = await document([k1], {
      old_verify_keys: {
        [old.keyId]: { key: old.publicKeyBase64, expired_ts: NOW - HOUR },
        "ed25519:noexpiry": { key: old.publicKeyBase64 },
        "ed25519:shortkey": { key: "AAAA", expired_ts: NOW },
        [k1.keyId]: { key: old.publicKeyBase64, expired_ts: NOW },
      },
    });
    const check = await checkKeyDocument(doc, "a.example", NOW);
    expect(check.ok && check.keys.oldVerifyKeys).toEqual([{ keyId: "ed25519:old", publicKey: old.publicKey, expiredTs: NOW - HOUR }]);
  });

  it("refuses anything that is not an object", async () => {
    expect((await checkKeyDocument("doc", "a.example", NOW)).ok).toBe(false);
    expect((await checkKeyDocument(null, "a.example", NOW)).ok).toBe(false);
  });
});
