// GET /.well-known/mimi-protocol-directory from the Worker in workerd: JSON naming every endpoint
// on the origin the request reached, readable by the codec's own directory parser.

import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { MIMI_ENDPOINTS, MIMI_PATH_PREFIX, matchMimiPath, parseMimiDirectory } from "../../shared/mimi/directory.js";

describe("the MIMI directory", () => {
  it("answers JSON templates for every -06 endpoint on the request's origin", async () => {
    const res = await exports.default.fetch(new Request("https://hub.test/.well-known/mimi-protocol-directory"));
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("application/json");
    const text = await res.text();
    const parsed = parseMimiDirectory(text);
    if (!parsed.ok) throw new Error(parsed.reason);
    expect(Object.keys(JSON.parse(text)).sort()).toEqual([...MIMI_ENDPOINTS].sort());
    expect(parsed.directory.update).toBe(`https://hub.test${MIMI_PATH_PREFIX}/update/{roomId}`);
    for (const e of MIMI_ENDPOINTS) {
      const template = parsed.directory[e]!;
      expect(matchMimiPath(new URL(template.replace(/\{\w+\}/, "x")).pathname)).toEqual({ endpoint: e, param: "x" });
    }
  });

  it("follows the origin a local peer used", async () => {
    const res = await exports.default.fetch(new Request("http://127.0.0.1:8787/.well-known/mimi-protocol-directory"));
    const body = (await res.json()) as Record<string, string>;
    expect(body["notify"]).toBe(`http://127.0.0.1:8787${MIMI_PATH_PREFIX}/notify/{roomId}`);
  });

  it("answers other methods with a JSON 405, not HTML", async () => {
    const res = await exports.default.fetch(new Request("https://hub.test/.well-known/mimi-protocol-directory", { method: "POST", body: "{}" }));
    expect(res.status).toBe(405);
    expect(((await res.json()) as { errcode: string }).errcode).toBe("M_UNRECOGNIZED");
  });
});
