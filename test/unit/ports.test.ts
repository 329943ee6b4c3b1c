// Test servers' ports come from outside the kernel's ephemeral range, whatever this OS sets it to
// (test/support/ports.ts): inside it, the kernel may give a probed port to an outbound connection
// before the server binds it.

import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ephemeralPortRange, freePort, parsePortRange, portsOutside, type PortRange } from "../support/ports.js";

const inside = (port: number, r: PortRange) => port >= r.low && port <= r.high;

describe("test server ports", () => {
  it("are never inside an ephemeral range that covers most ports (some Linux configurations)", async () => {
    const ephemeral = { low: 15_000, high: 65_000 };
    for (let i = 0; i < 50; i++) {
      const port = await freePort({ ephemeral });
      expect(inside(port, ephemeral), `${port}`).toBe(false);
      expect(port).toBeGreaterThanOrEqual(10_000);
    }
  });

  it("are never inside the IANA range macOS and Windows use (49152-65535), nor Linux's default", async () => {
    for (const ephemeral of [{ low: 49_152, high: 65_535 }, { low: 32_768, high: 60_999 }]) {
      for (let i = 0; i < 20; i++) expect(inside(await freePort({ ephemeral }), ephemeral)).toBe(false);
    }
  });

  it("stay outside the range this machine's kernel reports", async () => {
    const range = ephemeralPortRange();
    if (process.platform === "linux" && existsSync("/proc/sys/net/ipv4/ip_local_port_range")) {
      expect(range).toEqual(parsePortRange(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8")));
    }
    for (let i = 0; i < 20; i++) expect(inside(await freePort(), range)).toBe(false);
  });

  it("are handed out once per process, and only while nothing listens there", async () => {
    const seen = new Set<number>();
    for (let i = 0; i < 30; i++) seen.add(await freePort());
    expect(seen.size).toBe(30);
  });

  it("reads the kernel's range as written in /proc, and refuses anything else", () => {
    expect(parsePortRange("32768\t60999\n")).toEqual({ low: 32_768, high: 60_999 });
    expect(parsePortRange("49152 65535")).toEqual({ low: 49_152, high: 65_535 });
    for (const bad of ["", "32768", "60999 32768", "0 100", "1024 70000", "a b"]) expect(parsePortRange(bad), bad).toBeUndefined();
  });

  it("says so when the ephemeral range leaves no room, instead of handing out a port inside it", async () => {
    expect(portsOutside({ low: 1024, high: 65_535 })).toEqual([]);
    await expect(freePort({ ephemeral: { low: 1024, high: 65_535 } })).rejects.toThrow(/leaves no ports/);
  });
});
