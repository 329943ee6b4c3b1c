// The MIMI directory: what this server serves, and tolerant reading of -06's directory example.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  expandMimiTemplate,
  matchMimiPath,
  mimiDirectory,
  parseMimiDirectory,
  MIMI_ENDPOINTS,
  MIMI_PATH_PREFIX,
} from "../../shared/mimi/index.js";

/** -06 §5.1's example, verbatim in its defects: "update{roomId}" and no colon after proxyDownload. */
const DRAFT_EXAMPLE = `{
  "keyMaterial":
     "https://mimi.example.com/v1/keyMaterial/{targetUser}",
  "update": "https://mimi.example.com/v1/update{roomId}",
  "notify": "https://mimi.example.com/v1/notify/{roomId}",
  "submitMessage":
     "https://mimi.example.com/v1/submitMessage/{roomId}",
  "groupInfo":
     "https://mimi.example.com/v1/groupInfo/{roomId}",
  "requestConsent":
     "https://mimi.example.com/v1/requestConsent/{targetUser}",
  "updateConsent":
     "https://mimi.example.com/v1/updateConsent/{requesterUser}",
  "identifierQuery":
     "https://mimi.example.com/v1/identifierQuery/{domain}",
  "reportAbuse":
     "https://mimi.example.com/v1/reportAbuse/{roomId}",
  "proxyDownload"
     "https://mimi.example.com/v1/proxyDownload/{downloadUrl}"
}`;

describe("MIMI directory", () => {
  it("this server's directory names every -06 endpoint under its prefix and parses back unchanged", () => {
    const dir = mimiDirectory("https://hub.example");
    expect(Object.keys(dir).sort()).toEqual([...MIMI_ENDPOINTS].sort());
    expect(dir.update).toBe(`https://hub.example${MIMI_PATH_PREFIX}/update/{roomId}`);
    expect(dir.requestConsent).toBe(`https://hub.example${MIMI_PATH_PREFIX}/requestConsent/{targetDomain}`);
    expect(parseMimiDirectory(JSON.stringify(dir))).toEqual({ ok: true, directory: dir });
  });

  it("reads the draft's own example despite its missing slash and missing colon", () => {
    const parsed = parseMimiDirectory(DRAFT_EXAMPLE);
    if (!parsed.ok) throw new Error(parsed.reason);
    expect(parsed.directory.update).toBe("https://mimi.example.com/v1/update/{roomId}");
    expect(parsed.directory.proxyDownload).toBe("https://mimi.example.com/v1/proxyDownload/{downloadUrl}");
  });

  it("consent templates keyed by user or by domain both expand when the caller gives both", () => {
    const parsed = parseMimiDirectory(DRAFT_EXAMPLE);
    if (!parsed.ok) throw new Error(parsed.reason);
    const vars = { targetUser: "mimi://b.example/u/bob", targetDomain: "b.example" };
    expect(expandMimiTemplate(parsed.directory.requestConsent!, vars)).toBe(
      "https://mimi.example.com/v1/requestConsent/mimi%3A%2F%2Fb.example%2Fu%2Fbob",
    );
    expect(expandMimiTemplate(mimiDirectory("https://hub.example").requestConsent!, vars)).toBe(
      `https://hub.example${MIMI_PATH_PREFIX}/requestConsent/b.example`,
    );
    expect(expandMimiTemplate(parsed.directory.update, {})).toBeUndefined();
  });

  it("refuses directories that are not JSON objects, lack a hub endpoint, or hold non-URLs", () => {
    expect(parseMimiDirectory("[]").ok).toBe(false);
    expect(parseMimiDirectory("nope").ok).toBe(false);
    const dir: Record<string, string> = { ...mimiDirectory("https://hub.example") };
    delete dir.notify;
    expect(parseMimiDirectory(JSON.stringify(dir))).toEqual({ ok: false, reason: "missing notify" });
    expect(parseMimiDirectory(JSON.stringify({ ...mimiDirectory("https://h.example"), update: "ftp://h/{roomId}" })).ok).toBe(false);
    expect(parseMimiDirectory(JSON.stringify({ ...mimiDirectory("https://h.example"), update: 7 })).ok).toBe(false);
  });

  it("any room ID or user URI expanded into our own template routes back to its endpoint and value", () => {
    const dir = mimiDirectory("https://hub.example");
    fc.assert(
      fc.property(fc.constantFrom(...MIMI_ENDPOINTS), fc.string({ minLength: 1, maxLength: 40, unit: "grapheme" }), (endpoint, value) => {
        const url = expandMimiTemplate(dir[endpoint]!, { roomId: value, targetUser: value, targetDomain: value, requesterDomain: value, domain: value, downloadUrl: value });
        expect(matchMimiPath(new URL(url!).pathname)).toEqual({ endpoint, param: value });
      }),
    );
  });

  it("paths outside the prefix, unknown endpoints and empty parameters do not route", () => {
    expect(matchMimiPath("/_matrix/federation/v1/send/x")).toBeUndefined();
    expect(matchMimiPath(`${MIMI_PATH_PREFIX}/nothing/x`)).toBeUndefined();
    expect(matchMimiPath(`${MIMI_PATH_PREFIX}/update/`)).toBeUndefined();
    expect(matchMimiPath(`${MIMI_PATH_PREFIX}/update/a/b`)).toBeUndefined();
    expect(matchMimiPath(`${MIMI_PATH_PREFIX}/update/%E0%A4%A`)).toBeUndefined();
  });
});
