import { describe, expect, it } from "vitest";
import {
  WELL_KNOWN_DEFAULT_TTL_MS,
  WELL_KNOWN_MAX_TTL_MS,
  WELL_KNOWN_MIN_TTL_MS,
  canonicalHost,
  isIpLiteral,
  parseIpv6,
  parseWellKnown,
  refusedHostReason,
  targetFromDelegation,
  targetFromName,
  wellKnownTtlMs,
} from "../../shared/server-name-resolution.js";

describe("refusedHostReason", () => {
  it.each([
    ["127.0.0.1", "loopback"],
    ["127.255.0.9", "loopback"],
    ["10.1.2.3", "private"],
    ["172.16.0.1", "private"],
    ["172.31.255.255", "private"],
    ["192.168.1.1", "private"],
    ["169.254.169.254", "link-local"],
    ["0.0.0.0", "unspecified"],
    ["0.1.2.3", "unspecified"],
    ["100.64.0.1", "CGNAT"],
    ["100.100.100.200", "CGNAT"],
    ["255.255.255.255", "broadcast"],
    ["224.0.0.1", "multicast"],
    ["[::1]", "loopback"],
    ["[::]", "unspecified"],
    ["[fc00::1]", "unique-local"],
    ["[fd00:ec2::254]", "unique-local"],
    ["[fe80::1]", "link-local"],
    ["[::ffff:127.0.0.1]", "loopback"],
    ["[::ffff:a9fe:a9fe]", "link-local"],
    ["[64:ff9b::10.0.0.1]", "private"],
    ["[2002:c0a8:0101::1]", "private"],
    ["localhost", "local-only"],
    ["hub.localhost", "local-only"],
    ["metadata.google.internal", "local-only"],
    ["metadata", "single-label"],
  ])("refuses %s (%s)", (host, reason) => {
    expect(refusedHostReason(host)).toContain(reason);
  });

  it.each([
    ["2130706433", "decimal"],
    ["0x7f.1", "hex and short form"],
    ["0177.0.0.1", "octal"],
  ])("sees through the alternative IPv4 spelling %s (%s)", (host) => {
    expect(canonicalHost(host)).toBe("127.0.0.1");
    expect(refusedHostReason(host)).toContain("loopback");
  });

  it.each(["example.org", "matrix.example.org", "8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "[2606:4700::1111]", "[::ffff:8.8.8.8]"])(
    "allows the public host %s",
    (host) => {
      expect(refusedHostReason(host)).toBeUndefined();
    },
  );

  it("refuses what is not a host at all", () => {
    expect(refusedHostReason("a/b")).toBeDefined();
    expect(refusedHostReason("")).toBeDefined();
    expect(refusedHostReason("[zz::1]")).toBeDefined();
  });
});

describe("parseIpv6", () => {
  it("expands :: and trailing dotted IPv4", () => {
    expect(parseIpv6("[::1]")).toEqual([0, 0, 0, 0, 0, 0, 0, 1]);
    expect(parseIpv6("2001:db8::8:800:200c:417a")).toEqual([0x2001, 0xdb8, 0, 0, 8, 0x800, 0x200c, 0x417a]);
    expect(parseIpv6("::ffff:1.2.3.4")).toEqual([0, 0, 0, 0, 0, 0xffff, 0x102, 0x304]);
  });

  it("rejects malformed addresses", () => {
    expect(parseIpv6("1::2::3")).toBeUndefined();
    expect(parseIpv6("1:2:3:4:5:6:7")).toBeUndefined();
    expect(parseIpv6("fe80::1%eth0")).toBeUndefined();
    expect(parseIpv6("::1.2.3.999")).toBeUndefined();
  });
});

describe("isIpLiteral", () => {
  it("tells IP literals from DNS names", () => {
    expect(isIpLiteral("1.2.3.4")).toBe(true);
    expect(isIpLiteral("[2001:db8::1]")).toBe(true);
    expect(isIpLiteral("example.org")).toBe(false);
  });
});

describe("targets", () => {
  it("goes straight to an explicit port, Host with the port", () => {
    expect(targetFromName("example.org:8449")).toEqual({ baseUrl: "https://example.org:8449", hostHeader: "example.org:8449" });
  });

  it("sends an IP literal without port to 8448", () => {
    expect(targetFromName("1.2.3.4")).toEqual({ baseUrl: "https://1.2.3.4:8448", hostHeader: "1.2.3.4" });
    expect(targetFromName("[2001:db8::1]")).toEqual({ baseUrl: "https://[2001:db8::1]:8448", hostHeader: "[2001:db8::1]" });
  });

  it("needs a well-known lookup for a bare DNS name", () => {
    expect(targetFromName("example.org")).toBeUndefined();
  });

  it("uses a delegated port when given, else 8448 with Host without port", () => {
    expect(targetFromDelegation("matrix.example.org:443")).toEqual({ baseUrl: "https://matrix.example.org:443", hostHeader: "matrix.example.org:443" });
    expect(targetFromDelegation("matrix.example.org")).toEqual({ baseUrl: "https://matrix.example.org:8448", hostHeader: "matrix.example.org" });
    expect(targetFromDelegation("not a name")).toBeUndefined();
  });
});

describe("parseWellKnown", () => {
  it("returns m.server", () => {
    expect(parseWellKnown('{"m.server": "delegated.example.org:8448"}')).toBe("delegated.example.org:8448");
  });

  it.each([
    ["not JSON", "<html>"],
    ["an array", "[]"],
    ["no m.server", "{}"],
    ["a non-string m.server", '{"m.server": 1}'],
    ["an invalid server name", '{"m.server": "https://x.org/"}'],
    ["an empty m.server", '{"m.server": ""}'],
  ])("falls through on %s", (_what, body) => {
    expect(parseWellKnown(body)).toBeUndefined();
  });
});

describe("wellKnownTtlMs", () => {
  it("defaults to 24 hours without Cache-Control", () => {
    expect(wellKnownTtlMs(null)).toBe(WELL_KNOWN_DEFAULT_TTL_MS);
    expect(wellKnownTtlMs("public")).toBe(WELL_KNOWN_DEFAULT_TTL_MS);
  });

  it("honours max-age within [5 minutes, 48 hours]", () => {
    expect(wellKnownTtlMs("max-age=3600")).toBe(3_600_000);
    expect(wellKnownTtlMs("public, max-age=999999999")).toBe(WELL_KNOWN_MAX_TTL_MS);
    expect(wellKnownTtlMs("max-age=1")).toBe(WELL_KNOWN_MIN_TTL_MS);
  });

  it("keeps no-store answers only briefly", () => {
    expect(wellKnownTtlMs("no-store")).toBe(WELL_KNOWN_MIN_TTL_MS);
  });
});
