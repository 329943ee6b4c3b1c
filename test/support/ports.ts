import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";

// Loopback ports for servers whose port must be known before they start (host maps name every
// server of a federation) and stay theirs across a restart (tests stop a server and start it again
// on its port, as a crash or deploy would). A port in the kernel's ephemeral range cannot promise
// that: between a probe, or a stop, and the bind, the kernel may hand it out as the local end of
// any outbound connection (other test files' fetches run in parallel): EADDRINUSE. So ports come
// from outside the range this OS actually uses, read from its settings, not assumed.

export interface PortRange {
  low: number;
  high: number;
}

/** Below this, ports are left to well-known services and developers' own servers (8787, 9229, …). */
const LOWEST = 10_000;
const HIGHEST = 65_535;
/** Where the range cannot be read: Linux's default (32768-60999) and IANA's (49152-65535, macOS, Windows) together. */
const ASSUMED_EPHEMERAL: PortRange = { low: 32_768, high: 65_535 };

/** "32768\t60999\n" (/proc/sys/net/ipv4/ip_local_port_range) as a range; undefined if it is not that. */
export function parsePortRange(text: string): PortRange | undefined {
  const m = /^\s*(\d+)\s+(\d+)\s*$/.exec(text);
  if (!m) return undefined;
  const low = Number(m[1]);
  const high = Number(m[2]);
  return low >= 1 && low <= high && high <= HIGHEST ? { low, high } : undefined;
}

/** The range this machine's kernel hands out for outbound connections and port 0. */
export function ephemeralPortRange(platform: NodeJS.Platform = process.platform): PortRange {
  try {
    if (platform === "linux") {
      return parsePortRange(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8")) ?? ASSUMED_EPHEMERAL;
    }
    if (platform === "darwin" || platform === "freebsd") {
      const out = execFileSync("sysctl", ["-n", "net.inet.ip.portrange.first", "net.inet.ip.portrange.last"], { encoding: "utf8" });
      return parsePortRange(out.replace(/\n(?=.)/, " ")) ?? ASSUMED_EPHEMERAL;
    }
    if (platform === "win32") {
      const out = execFileSync("netsh", ["int", "ipv4", "show", "dynamicport", "tcp"], { encoding: "utf8" });
      const start = /Start Port\s*:\s*(\d+)/i.exec(out)?.[1];
      const count = /Number of Ports\s*:\s*(\d+)/i.exec(out)?.[1];
      if (start && count) return parsePortRange(`${start} ${Number(start) + Number(count) - 1}`) ?? ASSUMED_EPHEMERAL;
    }
  } catch {
    // No such file or command (a container without /proc, a restricted sysctl): assume.
  }
  return ASSUMED_EPHEMERAL;
}

/** The ports from LOWEST up that lie outside `ephemeral`, as at most two ranges. */
export function portsOutside(ephemeral: PortRange): PortRange[] {
  const out: PortRange[] = [];
  if (ephemeral.low > LOWEST) out.push({ low: LOWEST, high: Math.min(ephemeral.low - 1, HIGHEST) });
  if (ephemeral.high < HIGHEST) out.push({ low: Math.max(ephemeral.high + 1, LOWEST), high: HIGHEST });
  return out.filter((r) => r.high - r.low >= 100);
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

let ranges: PortRange[] | undefined;
const handedOut = new Set<number>();

/**
 * A loopback port nothing listens on, outside the kernel's ephemeral range; never the same twice per
 * process (random choice keeps parallel test processes apart). `ephemeral` overrides the range read
 * from the OS (for tests of this function).
 */
export async function freePort(opts: { ephemeral?: PortRange } = {}): Promise<number> {
  const usable = opts.ephemeral ? portsOutside(opts.ephemeral) : (ranges ??= portsOutside(ephemeralPortRange()));
  if (usable.length === 0) {
    const e = opts.ephemeral ?? ephemeralPortRange();
    throw new Error(`the kernel's ephemeral port range ${e.low}-${e.high} leaves no ports above ${LOWEST - 1} for test servers; narrow it (Linux: /proc/sys/net/ipv4/ip_local_port_range)`);
  }
  const size = usable.reduce((n, r) => n + r.high - r.low + 1, 0);
  for (let attempt = 0; attempt < 200; attempt++) {
    let i = Math.floor(Math.random() * size);
    let port = 0;
    for (const r of usable) {
      if (i <= r.high - r.low) {
        port = r.low + i;
        break;
      }
      i -= r.high - r.low + 1;
    }
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    if (await canListen(port)) return port;
  }
  throw new Error(`no free loopback port in ${usable.map((r) => `${r.low}-${r.high}`).join(", ")}`);
}
