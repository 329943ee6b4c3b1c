import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { decodeBase64 } from "../../shared/base64.js";
import { verifyJsonSignature } from "../../shared/signed-json.js";

const get = (path: string, init?: RequestInit) => exports.default.fetch(new Request(`https://hub.test${path}`, init));

describe("GET /_matrix/key/v2/server", () => {
  it("publishes a self-signed LM key document valid for hours", async () => {
    const before = Date.now();
    const res = await get("/_matrix/key/v2/server");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json");
    const doc = (await res.json()) as {
      server_name: string;
      valid_until_ts: number;
      "m.linearized": boolean;
      verify_keys: Record<string, { key: string }>;
    };
    expect(doc.server_name).toBe("hub.test");
    expect(doc["m.linearized"]).toBe(true);
    expect(doc.valid_until_ts).toBeGreaterThan(before + 60 * 60 * 1000);
    const [keyId, { key }] = Object.entries(doc.verify_keys)[0]!;
    expect(keyId).toBe("ed25519:test");
    expect(await verifyJsonSignature(doc, "hub.test", keyId, decodeBase64(key))).toBe(true);
  });
});

describe("errors are Matrix JSON", () => {
  it("answers an unknown endpoint with 404 M_UNRECOGNIZED", async () => {
    const res = await get("/_matrix/federation/v1/nonsense");
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ errcode: "M_UNRECOGNIZED" });
  });

  it("answers a known endpoint with the wrong method with 405 M_UNRECOGNIZED", async () => {
    const res = await get("/_matrix/key/v2/server", { method: "DELETE" });
    expect(res.status).toBe(405);
    expect(await res.json()).toMatchObject({ errcode: "M_UNRECOGNIZED" });
  });

  it("treats a trailing slash on a federation or key path as unknown", async () => {
    const res = await get("/_matrix/key/v2/server/");
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ errcode: "M_UNRECOGNIZED" });
  });

  it("treats a doubled leading slash as unknown", async () => {
    const res = await get("//_matrix/key/v2/server");
    expect(res.status).toBe(404);
    expect(res.headers.get("content-type")).toBe("application/json");
  });
});

describe("discovery", () => {
  it("delegates a server name without a port to port 443 in /.well-known/matrix/server", async () => {
    const res = await get("/.well-known/matrix/server");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ "m.server": "hub.test:443" });
  });

  it("names itself on /_matrix/federation/v1/version", async () => {
    const res = await get("/_matrix/federation/v1/version");
    expect(await res.json()).toMatchObject({ server: { name: "Switchboard" } });
  });
});
