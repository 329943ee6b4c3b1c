// A deployment without a usable SIGNING_KEY (plain `wrangler dev`, or `wrangler deploy` before
// `wrangler secret put`) must say what is wrong and how to fix it, in every answer as Matrix JSON and
// in the log, instead of a bare "Internal server error".

import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import worker from "../../workers/index.js";

async function fetchWith(overrides: Partial<Env>, path: string, init?: RequestInit): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await worker.fetch(new Request(`https://hub.test${path}`, init) as never, { ...env, ...overrides }, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

interface ErrorBody {
  errcode: string;
  error: string;
}

// The Worker logs the problem (checked below); kept out of the test run's output.
let logged: { mock: { calls: unknown[][] } };
beforeEach(() => {
  logged = vi.spyOn(console, "error").mockImplementation(() => undefined);
});
afterEach(() => vi.restoreAllMocks());

describe("a missing or malformed SIGNING_KEY", () => {
  it("answers 500 M_UNKNOWN naming SIGNING_KEY and how to set it, on key, client and federation paths", async () => {
    for (const path of ["/_matrix/key/v2/server", "/_matrix/client/versions", "/_matrix/federation/v1/version"]) {
      const res = await fetchWith({ SIGNING_KEY: "" }, path);
      expect(res.status, path).toBe(500);
      expect(res.headers.get("content-type")).toBe("application/json");
      const body = (await res.json()) as ErrorBody;
      expect(body.errcode).toBe("M_UNKNOWN");
      expect(body.error).toContain("SIGNING_KEY secret is not set");
      expect(body.error).toContain("wrangler secret put SIGNING_KEY");
      expect(body.error).toContain("npm start");
    }
  });

  it("says the key is malformed and what shape it must have, without quoting the secret", async () => {
    for (const bad of ["ed25519:v1", "ed25519:v1:AAAA", "rsa:v1:nwBTmxKOhSLH3L3HrbFTfsMcdzHbOeDq7Iv8zEUb/0w", "ed25519:v1:nwBTmxKOhSL*3L3HrbFTfsMcdzHbOeDq7Iv8zEUb/0w"]) {
      const res = await fetchWith({ SIGNING_KEY: bad }, "/_matrix/key/v2/server");
      expect(res.status, bad).toBe(500);
      const body = (await res.json()) as ErrorBody;
      expect(body.errcode).toBe("M_UNKNOWN");
      expect(body.error, bad).toContain("SIGNING_KEY secret is malformed");
      expect(body.error).toContain('"ed25519:<key version>:<unpadded base64 of a 32-byte seed>"');
      expect(body.error).toContain("npx switchboard keygen");
      expect(body.error).not.toContain(bad.split(":")[2] ?? bad);
    }
  });

  it("logs the problem once, not once per request", async () => {
    // A key no other test uses, so this isolate has not logged it yet.
    const bad = `ed25519:logged_${Date.now()}`;
    for (let i = 0; i < 3; i++) expect((await fetchWith({ SIGNING_KEY: bad }, "/_matrix/client/versions")).status).toBe(500);
    const lines = logged.mock.calls.map((c) => c.map(String).join(" ")).filter((l) => l.includes("SIGNING_KEY"));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain("SIGNING_KEY secret is malformed");
  });

  it("serves again once the secret is set", async () => {
    expect((await fetchWith({ SIGNING_KEY: "" }, "/_matrix/key/v2/server")).status).toBe(500);
    const res = await fetchWith({}, "/_matrix/key/v2/server");
    expect(res.status).toBe(200);
    expect(((await res.json()) as { server_name: string }).server_name).toBe("hub.test");
  });
});
