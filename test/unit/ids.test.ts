import { describe, expect, it } from "vitest";
import { encodeBase64Url } from "../../shared/base64.js";
import { MatrixError } from "../../shared/errors.js";
import {
  asDeviceId,
  asEventId,
  asRoomAlias,
  asRoomId,
  asServerName,
  asUserId,
  isDeviceId,
  isEventId,
  isKeyId,
  isRoomAlias,
  isRoomId,
  isServerName,
  isStrictLocalpart,
  isUserId,
  parseServerName,
  serverNameOf,
} from "../../shared/ids.js";

/** A 43-character URL-safe reference hash like the ones room v4+ event IDs and v12 room IDs use. */
const HASH = encodeBase64Url(Uint8Array.from({ length: 32 }, (_, i) => (i * 37 + 251) & 0xff));

function describeValue(v: unknown): string {
  if (typeof v !== "string") return `the ${v === null ? "null" : typeof v} ${String(v)}`;
  return v.length > 60 ? `${JSON.stringify(v.slice(0, 40))}… (${v.length} chars)` : JSON.stringify(v);
}

function table(name: string, test: (s: unknown) => boolean, valid: string[], invalid: unknown[]): void {
  describe(name, () => {
    for (const v of valid) {
      it(`accepts ${describeValue(v)}`, () => expect(test(v)).toBe(true));
    }
    for (const v of invalid) {
      it(`rejects ${describeValue(v)}`, () => expect(test(v)).toBe(false));
    }
  });
}

describe("identifier grammar", () => {
  it("the test hash looks like a real reference hash", () => {
    expect(HASH).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(HASH).toMatch(/[-_]/);
  });

  table(
    "isServerName",
    isServerName,
    [
      "example.com",
      "localhost",
      "EXAMPLE.org",
      "a-b.c-d.example",
      "hub.localhost:8787",
      "example.com:1",
      "example.com:65535",
      "1.2.3.4",
      "255.255.255.255:8448",
      "[::1]",
      "[::1]:8448",
      "[2001:db8::ff00:42:8329]",
      "[::ffff:192.0.2.1]:443",
      "a".repeat(255),
      "a".repeat(250) + ":8448",
    ],
    [
      "",
      "a".repeat(256),
      "a".repeat(251) + ":8448",
      ".example.com",
      "example.com.",
      "exa..mple.com",
      ".",
      "256.1.1.1",
      "1.2.3.256",
      "999.999.999.999",
      "example.com:0",
      "example.com:65536",
      "example.com:123456",
      "example.com:",
      "example.com:http",
      "example.com:-1",
      "example.com:80:80",
      "[::1]:0",
      "[::1]:65536",
      "[::1",
      "[::1]x",
      "[::1]:",
      "[]",
      "[:]",
      "[::g]",
      "::1",
      "exa mple.com",
      "under_score.com",
      "bücher.example",
      "example.com/path",
      "@example.com",
      42,
      null,
      undefined,
    ],
  );

  describe("parseServerName", () => {
    it("splits a DNS name and port", () => {
      expect(parseServerName("hub.localhost:8787")).toEqual({ host: "hub.localhost", port: 8787, kind: "dns" });
    });
    it("reports an IPv4 literal without a port", () => {
      expect(parseServerName("10.0.0.1")).toEqual({ host: "10.0.0.1", kind: "ipv4" });
    });
    it("keeps the brackets of an IPv6 literal and reads its port", () => {
      expect(parseServerName("[fe80::1]:8448")).toEqual({ host: "[fe80::1]", port: 8448, kind: "ipv6" });
    });
    it("returns undefined for an invalid name", () => {
      expect(parseServerName("example.com:65536")).toBeUndefined();
    });
  });

  table(
    "isUserId",
    isUserId,
    [
      "@alice:example.com",
      "@a.b_c=d-e/f+g0:hub.localhost:8787",
      "@alice:[::1]:8448",
      "@alice:1.2.3.4",
      "@Alice:example.com", // historical grammar: uppercase from other servers
      "@!weird~chars#:example.com",
      "@" + "a".repeat(242) + ":example.com", // exactly 255
    ],
    [
      "alice:example.com",
      "@alice",
      "@:example.com",
      "@alice:",
      "@alice:bad..name",
      "@alice:example.com:0",
      "@al ice:example.com",
      "@alicé:example.com",
      "@ali\u0000ce:example.com",
      "@" + "a".repeat(243) + ":example.com", // 256
      "#alice:example.com",
      42,
      null,
    ],
  );

  table(
    "isStrictLocalpart",
    (s) => typeof s === "string" && isStrictLocalpart(s),
    ["alice", "a.b_c=d-e/f+g0", "0", "bot-1"],
    ["", "Alice", "aLICE", "al ice", "alicé", "a:b", "a!b", "a#b", "a@b", "a~b"],
  );

  table(
    "isRoomId",
    isRoomId,
    [
      "!abc:example.com",
      "!OpaqueID123:hub.localhost:8787",
      "!abc:[::1]",
      `!${HASH}`, // room v12: "!" + reference hash, no server name
      "!a",
    ],
    [
      "!",
      "!:example.com",
      "abc:example.com",
      "$abc:example.com",
      "!abc:bad..server",
      "!abc:example.com:99999",
      "!ab+c",
      "!ab/c",
      "!abc=",
      "!ab c",
      `!${HASH}`.padEnd(256, "a"),
      "!a b:example.com",
      42,
      undefined,
    ],
  );

  table(
    "isEventId",
    isEventId,
    [`$${HASH}`, "$abc123", "$legacy:example.com", "$0:domain", "$a:[::1]:8448"],
    ["$", "abc", HASH, "$a+b", "$a/b", "$abc=", "$:example.com", "$a b:example.com", "$abc:", "$abc:bad..server", "$" + "a".repeat(255), null],
  );

  table(
    "isRoomAlias",
    isRoomAlias,
    ["#room:example.com", "#r:hub.localhost:8787", "#café:example.com", "#a.b-c_d:[::1]"],
    ["#:example.com", "#ro om:example.com", "#room\t:example.com", "room:example.com", "#room", "#room:", "#room:bad server", "!room:example.com", "#" + "r".repeat(243) + ":example.com", 7],
  );

  table(
    "isKeyId",
    isKeyId,
    ["ed25519:1", "ed25519:a_b1", "ed25519:ABC_def", "ed25519:0"],
    ["ed25519", ":1", "ed25519:", "ed25519:a-b", "ed25519:a:b", "ed25519:a b", "ed25519:a.b", "", 25519, null],
  );

  table("isDeviceId", isDeviceId, ["ABCDEFGHIJ", "device_1", "x"], ["", "a b", "dev\u00e9", "a".repeat(256), null]);
});

describe("serverNameOf", () => {
  it("returns everything after the first colon, port included", () => {
    expect(serverNameOf("@alice:example.com:8448")).toBe("example.com:8448");
    expect(serverNameOf("#room:[::1]:80")).toBe("[::1]:80");
    expect(serverNameOf("!abc:example.com")).toBe("example.com");
  });

  it("throws 400 M_INVALID_PARAM for an identifier without a server name (a v12 room ID)", () => {
    const f = (): unknown => serverNameOf(`!${HASH}`);
    expect(f).toThrow(MatrixError);
    expect(f).toThrow(expect.objectContaining({ status: 400, errcode: "M_INVALID_PARAM" }));
  });
});

describe("as* helpers", () => {
  const helpers: Array<[string, (s: unknown, errcode?: "M_INVALID_PARAM" | "M_BAD_JSON") => string, string, unknown, string]> = [
    ["asUserId", asUserId, "@alice:example.com", "alice", "user ID"],
    ["asRoomId", asRoomId, "!abc:example.com", "!", "room ID"],
    ["asEventId", asEventId, `$${HASH}`, "$a+b", "event ID"],
    ["asServerName", asServerName, "example.com:8448", "example.com:0", "server name"],
    ["asRoomAlias", asRoomAlias, "#room:example.com", "#:example.com", "room alias"],
    ["asDeviceId", asDeviceId, "ABCDEF", "", "device ID"],
  ];

  for (const [name, as, valid, invalid, what] of helpers) {
    it(`${name} returns a valid identifier unchanged`, () => {
      expect(as(valid)).toBe(valid);
    });

    it(`${name} throws 400 M_INVALID_PARAM naming the ${what} and the bad value`, () => {
      let thrown: unknown;
      try {
        as(invalid);
      } catch (e) {
        thrown = e;
      }
      expect(thrown).toBeInstanceOf(MatrixError);
      const e = thrown as MatrixError;
      expect(e.status).toBe(400);
      expect(e.errcode).toBe("M_INVALID_PARAM");
      expect(e.message).toContain(what);
      expect(e.message).toContain(JSON.stringify(invalid).slice(1, -1));
      expect(e.toJSON()).toEqual({ errcode: "M_INVALID_PARAM", error: e.message });
    });

    it(`${name} rejects non-string input with a MatrixError`, () => {
      for (const bad of [42, null, undefined, {}, ["x"]]) {
        expect(() => as(bad)).toThrow(expect.objectContaining({ status: 400, errcode: "M_INVALID_PARAM" }));
      }
    });
  }

  it("uses the errcode the caller asks for, e.g. M_BAD_JSON for a field of a JSON body", () => {
    expect(() => asUserId("nope", "M_BAD_JSON")).toThrow(expect.objectContaining({ status: 400, errcode: "M_BAD_JSON" }));
  });

  it("bounds the length of the message for huge input", () => {
    let message = "";
    try {
      asUserId("x".repeat(100_000));
    } catch (e) {
      message = (e as MatrixError).message;
    }
    expect(message.length).toBeGreaterThan(0);
    expect(message.length).toBeLessThan(400);
  });
});
