import { describe, expect, it } from "vitest";
import { decodeBase64 } from "../../shared/base64.js";
import { canonicalJsonBytes } from "../../shared/canonical-json.js";
import { MatrixError } from "../../shared/errors.js";
import type { ServerName } from "../../shared/ids.js";
import { signingKeyFromSeed, verifyEd25519 } from "../../shared/signing-key.js";
import {
  formatXMatrixHeader,
  parseAuthorization,
  parseXMatrixHeader,
  signRequest,
  signRequestCanonicalBody,
  signedRequestObject,
  tryParseXMatrix,
} from "../../shared/x-matrix.js";

function expectUnauthorized401(f: () => unknown): void {
  let thrown: unknown;
  try {
    f();
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(MatrixError);
  expect((thrown as MatrixError).status).toBe(401);
  expect((thrown as MatrixError).errcode).toBe("M_UNAUTHORIZED");
}

describe("parseXMatrixHeader", () => {
  it("reads the draft's example with quoted values", () => {
    const [c, ...rest] = parseXMatrixHeader('X-Matrix origin="a.example.org",destination="b.example.org",key="ed25519:0",sig="c2ln"');
    expect(rest).toEqual([]);
    expect(c).toEqual({ origin: "a.example.org", destination: "b.example.org", key: "ed25519:0", sig: "c2ln" });
  });

  it("accepts token values, any scheme case, any parameter-name case and blanks around separators", () => {
    const [c] = parseXMatrixHeader("x-matrix   ORIGIN = a.example.org , Destination=b.example.org,Key=ed25519:k_1 ,SIG=c2ln");
    expect(c).toEqual({ origin: "a.example.org", destination: "b.example.org", key: "ed25519:k_1", sig: "c2ln" });
  });

  it("tolerates unquoted values that are not RFC tokens, such as ports, key IDs and padded signatures", () => {
    const [c] = parseXMatrixHeader("X-Matrix origin=a.org:8448,key=ed25519:0,sig=c2ln==");
    expect(c).toEqual({ origin: "a.org:8448", key: "ed25519:0", sig: "c2ln==" });
  });

  it("unescapes backslash escapes inside quoted values", () => {
    const [c] = parseXMatrixHeader('X-Matrix origin="a.exam\\ple.org",key="ed25519:0",sig="c2\\"ln"');
    expect(c?.origin).toBe("a.example.org");
    expect(c?.sig).toBe('c2"ln');
  });

  it("ignores unknown parameters", () => {
    const [c] = parseXMatrixHeader('X-Matrix origin=a.org,colour="blue, with comma",key="ed25519:0",sig=c2ln');
    expect(c).toEqual({ origin: "a.org", key: "ed25519:0", sig: "c2ln" });
  });

  it("treats destination as optional, for servers that predate it", () => {
    const [c] = parseXMatrixHeader('X-Matrix origin=a.org,key="ed25519:0",sig=c2ln');
    expect(c?.destination).toBeUndefined();
  });

  it("accepts the draft's parameter name `signature` as well as `sig`", () => {
    const [c] = parseXMatrixHeader('X-Matrix origin=a.org,key="ed25519:0",signature="c2ln"');
    expect(c?.sig).toBe("c2ln");
  });

  it("reads several credentials joined with commas, as Fetch joins repeated headers", () => {
    const creds = parseXMatrixHeader(
      'X-Matrix origin="a.org",key="ed25519:0",sig="AAAA", X-Matrix origin="a.org",key="ed25519:1",sig="BBBB"',
    );
    expect(creds.map((c) => c.key)).toEqual(["ed25519:0", "ed25519:1"]);
  });

  it("skips credentials of other schemes", () => {
    const creds = parseXMatrixHeader('Bearer abc.def==, X-Matrix origin="a.org",key="ed25519:0",sig="AAAA"');
    expect(creds).toHaveLength(1);
    expect(creds[0]?.origin).toBe("a.org");
  });

  it("returns nothing for a header with no X-Matrix credential", () => {
    expect(parseXMatrixHeader("Bearer syt_token")).toEqual([]);
  });

  it.each([
    ["an unterminated quoted string", 'X-Matrix origin="a.org,key="ed25519:0",sig="AAAA'],
    ["a missing sig", 'X-Matrix origin="a.org",key="ed25519:0"'],
    ["a missing origin", 'X-Matrix key="ed25519:0",sig="AAAA"'],
    ["a repeated parameter", 'X-Matrix origin="a.org",origin="b.org",key="ed25519:0",sig="AAAA"'],
    ["an invalid origin", 'X-Matrix origin="a org",key="ed25519:0",sig="AAAA"'],
    ["an invalid destination", 'X-Matrix origin="a.org",destination="b/c",key="ed25519:0",sig="AAAA"'],
    ["an invalid key ID", 'X-Matrix origin="a.org",key="0",sig="AAAA"'],
    ["an empty sig", 'X-Matrix origin="a.org",key="ed25519:0",sig=""'],
    ["garbage between parameters", 'X-Matrix origin="a.org" key="ed25519:0",sig="AAAA"'],
    ["a token68 instead of parameters", "X-Matrix abcdef=="],
    ["a scheme glued to a quote", 'X-Matrix"origin"'],
  ])("rejects %s with 401 M_UNAUTHORIZED", (_what, header) => {
    expectUnauthorized401(() => parseXMatrixHeader(header));
  });

  it("tryParseXMatrix answers undefined instead of throwing", () => {
    expect(tryParseXMatrix('X-Matrix origin="a.org"')).toBeUndefined();
    expect(tryParseXMatrix('X-Matrix origin=a.org,key="ed25519:0",sig=AAAA')?.origin).toBe("a.org");
  });
});

describe("parseAuthorization", () => {
  it("keeps a token68 credential such as Bearer", () => {
    expect(parseAuthorization("Bearer abc-def.ghi==")).toEqual([{ scheme: "Bearer", params: new Map(), token68: "abc-def.ghi==" }]);
  });
});

describe("formatXMatrixHeader", () => {
  it("round-trips through the parser, escaping quotes and backslashes", () => {
    const creds = { origin: "a.org:8448" as ServerName, destination: "b.org" as ServerName, key: "ed25519:0", sig: 'x"y\\z' };
    const header = formatXMatrixHeader(creds);
    expect(header.startsWith("X-Matrix ")).toBe(true);
    expect(parseAuthorization(header)[0]?.params.get("sig")).toBe('x"y\\z');
  });

  it("writes quoted values without blanks after commas", () => {
    expect(formatXMatrixHeader({ origin: "a.org" as ServerName, key: "ed25519:0", sig: "AAAA" })).toBe(
      'X-Matrix origin="a.org",key="ed25519:0",sig="AAAA"',
    );
  });
});

describe("signedRequestObject and signRequest", () => {
  it("leaves content out when the request has no body", () => {
    expect(signedRequestObject("get", "/x?y=1", "a.org", "b.org")).toEqual({ method: "GET", uri: "/x?y=1", origin: "a.org", destination: "b.org" });
    expect(signedRequestObject("PUT", "/x", "a.org", "b.org", { k: 1 })).toHaveProperty("content", { k: 1 });
  });

  it("produces a header whose signature verifies over the canonical request object", async () => {
    const key = await signingKeyFromSeed(new Uint8Array(32).fill(7), "k1");
    const header = await signRequest(key, "a.org" as ServerName, "b.org" as ServerName, "PUT", "/_matrix/x/%21room", { b: 1, a: [2] });
    const [c] = parseXMatrixHeader(header);
    expect(c).toMatchObject({ origin: "a.org", destination: "b.org", key: "ed25519:k1" });
    const bytes = canonicalJsonBytes({ method: "PUT", uri: "/_matrix/x/%21room", origin: "a.org", destination: "b.org", content: { a: [2], b: 1 } });
    expect(await verifyEd25519(key.publicKey, decodeBase64(c?.sig ?? ""), bytes)).toBe(true);
  });
});

describe("signRequestCanonicalBody", () => {
  it("signs exactly what signRequest signs for the same body, so receivers verify either the same way", async () => {
    const key = await signingKeyFromSeed(new Uint8Array(32).fill(9), "k1");
    const body = { pdus: [{ "\u{1F600}": 1, a: "x\u2028y", b: [true, null] }], edus: [], origin: "a.test", origin_server_ts: 5 };
    const canonical = new TextDecoder().decode(canonicalJsonBytes(body));
    const a = await signRequest(key, "a.test" as ServerName, "b.test" as ServerName, "put", "/p?q=1", body);
    const b = await signRequestCanonicalBody(key, "a.test" as ServerName, "b.test" as ServerName, "put", "/p?q=1", canonical);
    expect(b).toBe(a);
  });
});
